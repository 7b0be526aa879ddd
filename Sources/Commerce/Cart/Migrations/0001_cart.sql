-- Schema `cart`: carts (persistent per user, or guest carts reached through a bearer secret),
-- their lines, and wishlists. Product and user ids come from other services and are kept as
-- the opaque text they travel as; prices are copies taken when a line was added (the catalog
-- owns current prices).

CREATE TABLE carts (
  id uuid PRIMARY KEY,
  -- The owner of a persistent cart; NULL for a guest cart.
  user_id text UNIQUE CHECK (char_length(user_id) BETWEEN 1 AND 64),
  -- SHA-256 of a guest cart's secret id; the secret itself is never stored.
  guest_token_hash bytea UNIQUE CHECK (octet_length(guest_token_hash) = 32),
  -- A guest cart merged into a user's cart (MergeCarts): the user, and when.
  merged_into text CHECK (char_length(merged_into) BETWEEN 1 AND 64),
  merged_at timestamptz,
  version int8 NOT NULL CHECK (version >= 1),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL CHECK (updated_at >= created_at),
  CHECK ((user_id IS NULL) <> (guest_token_hash IS NULL)),
  CHECK (merged_into IS NULL OR user_id IS NULL),
  CHECK ((merged_into IS NULL) = (merged_at IS NULL))
);
-- The sweeper deletes guest carts left unchanged for 30 days.
CREATE INDEX carts_guest_updated ON carts (updated_at) WHERE user_id IS NULL;

-- One line per product; at most 100 lines per cart (checked under the cart's row lock).
CREATE TABLE cart_lines (
  cart_id uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
  product_id text NOT NULL CHECK (char_length(product_id) BETWEEN 1 AND 64),
  quantity int4 NOT NULL CHECK (quantity BETWEEN 1 AND 99),
  -- The unit price when the line was first added.
  price_at_add_minor int8 NOT NULL CHECK (price_at_add_minor >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  added_at timestamptz NOT NULL,
  -- Breaks ties between lines added at the same instant.
  seq int8 GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (cart_id, product_id)
);

-- One row per user with a wishlist: the lock that serialises changes and the count the
-- 500-product limit is checked against, held by the schema too.
CREATE TABLE wishlists (
  user_id text PRIMARY KEY CHECK (char_length(user_id) BETWEEN 1 AND 64),
  item_count int4 NOT NULL CHECK (item_count BETWEEN 0 AND 500)
);

CREATE TABLE wishlist_items (
  user_id text NOT NULL REFERENCES wishlists (user_id) ON DELETE CASCADE,
  product_id text NOT NULL CHECK (char_length(product_id) BETWEEN 1 AND 64),
  price_at_add_minor int8 NOT NULL CHECK (price_at_add_minor >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  added_at timestamptz NOT NULL,
  -- Newest first is seq descending; also the keyset position of GetWishlist's pages.
  seq int8 GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (user_id, product_id)
);
CREATE INDEX wishlist_items_newest ON wishlist_items (user_id, seq DESC);
