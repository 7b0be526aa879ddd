-- Reconciliation's queue of refunds the provider never answered (PENDING without the
-- provider's refund id), oldest first.
CREATE INDEX refunds_unanswered ON refunds (updated_at) WHERE status = 'PENDING' AND provider_refund_id IS NULL;
