-- Accounts: login email, password hash, roles, status and seller application.
-- Every rule the code enforces on an account is held here as well.
CREATE TABLE accounts (
  id uuid PRIMARY KEY,
  -- Insertion order, for keyset pages "newest first" (ListAccounts).
  seq int8 GENERATED ALWAYS AS IDENTITY UNIQUE,
  email text NOT NULL UNIQUE
    CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
  -- libsodium's Argon2id string; never the password.
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
  -- Role names as access rules spell them; every account is a customer.
  roles text[] NOT NULL
    CHECK ('CUSTOMER' = ANY (roles)
      AND roles <@ ARRAY['CUSTOMER', 'SELLER', 'ADMIN', 'DELIVERY_PARTNER']::text[]),
  status text NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
  -- Required while suspended, empty otherwise.
  suspension_reason text NOT NULL DEFAULT ''
    CHECK (char_length(suspension_reason) <= 1000),
  seller_status text NOT NULL DEFAULT 'NONE'
    CHECK (seller_status IN ('NONE', 'PENDING', 'APPROVED', 'REJECTED')),
  business_name text NOT NULL DEFAULT '' CHECK (char_length(business_name) <= 200),
  seller_region_code text NOT NULL DEFAULT '' CHECK (seller_region_code ~ '^([A-Z]{2})?$'),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL CHECK (updated_at >= created_at),
  last_login_at timestamptz,
  version int8 NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT accounts_suspension_reason CHECK ((status = 'SUSPENDED') = (suspension_reason <> '')),
  CONSTRAINT accounts_seller_application CHECK ((seller_status = 'NONE') = (business_name = '')),
  CONSTRAINT accounts_seller_region CHECK ((seller_status = 'NONE') = (seller_region_code = ''))
);

CREATE INDEX accounts_admins ON accounts (id) WHERE 'ADMIN' = ANY (roles) AND status = 'ACTIVE';

-- Sessions: one per login, the family of every refresh token descending from it.
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  account_id uuid NOT NULL REFERENCES accounts (id),
  label text NOT NULL DEFAULT '' CHECK (char_length(label) <= 100),
  created_at timestamptz NOT NULL,
  -- The session's end: at most 90 days after login, whatever the refreshes.
  expires_at timestamptz NOT NULL CHECK (expires_at > created_at AND expires_at <= created_at + interval '90 days'),
  revoked_at timestamptz,
  revoked_reason text CHECK (revoked_reason IN ('LOGOUT', 'SUSPENSION', 'REUSE')),
  CONSTRAINT sessions_revocation CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX sessions_live_by_account ON sessions (account_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored only as SHA-256 hashes of their 32 random bytes.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
  session_id uuid NOT NULL REFERENCES sessions (id),
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL CHECK (expires_at > issued_at AND expires_at <= issued_at + interval '30 days'),
  -- Set when the token is consumed by a rotation; replaced_by is the token it was exchanged for.
  rotated_at timestamptz,
  replaced_by bytea REFERENCES refresh_tokens (token_hash) DEFERRABLE INITIALLY DEFERRED,
  -- The pair the rotation returned, sealed (AES-GCM) with a key derived from this token and the
  -- rotation's idempotency key, neither of which the server keeps; only the caller who holds
  -- both can open it. Readable for 60 seconds after the rotation, erased later.
  retry_sealed bytea,
  CONSTRAINT refresh_tokens_rotation CHECK ((rotated_at IS NULL) = (replaced_by IS NULL)),
  CONSTRAINT refresh_tokens_retry CHECK (retry_sealed IS NULL OR rotated_at IS NOT NULL)
);

-- A family has at most one unused token: rotation consumes the old one as it adds the new one.
CREATE UNIQUE INDEX refresh_tokens_one_live_per_session ON refresh_tokens (session_id) WHERE rotated_at IS NULL;
CREATE UNIQUE INDEX refresh_tokens_one_successor ON refresh_tokens (replaced_by);

-- Service identities and their client secrets (Argon2id), provisioned by operators.
CREATE TABLE service_identities (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
  secret_hash text NOT NULL CHECK (secret_hash LIKE '$argon2id$%'),
  enabled boolean NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
