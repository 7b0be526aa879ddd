-- The dashboard's account figures (GetUserStats): refresh tokens by issue time (every login and
-- every refresh issues one), accounts by registration time, and pending seller applications.
CREATE INDEX refresh_tokens_by_issue_time ON refresh_tokens (issued_at) INCLUDE (session_id);
CREATE INDEX accounts_by_creation ON accounts (created_at);
CREATE INDEX accounts_pending_sellers ON accounts (id) WHERE seller_status = 'PENDING';
