-- The dashboard's payment figures (GetPaymentStats): refunds that succeeded and authorizations
-- declined, found by when they settled. Both states are final, so updated_at is that time.
CREATE INDEX refunds_succeeded_by_time ON refunds (updated_at) INCLUDE (currency, amount_minor) WHERE status = 'SUCCEEDED';
CREATE INDEX payments_declined_by_time ON payments (updated_at) WHERE status = 'DECLINED';
