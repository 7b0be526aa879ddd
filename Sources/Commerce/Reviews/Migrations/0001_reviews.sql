-- ReviewService (reviews.proto): reviews, one per author and product, and the published
-- rating summary of every reviewed product, kept exact in the transaction of each change.

CREATE TABLE reviews (
  id uuid PRIMARY KEY,
  -- Creation order: the lists' keyset position (newest first is seq descending).
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  product_id text NOT NULL,
  author_id text NOT NULL,
  -- The delivered order that verified the purchase.
  order_id text NOT NULL,
  rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 120),
  body text NOT NULL CHECK (char_length(body) <= 5000),
  -- 'published' or 'hidden'.
  status text NOT NULL CHECK (status IN ('published', 'hidden')),
  moderation_note text NOT NULL DEFAULT '',
  reply_body text CHECK (char_length(reply_body) BETWEEN 1 AND 2000),
  reply_author_id text,
  reply_created_at timestamptz,
  reply_updated_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  version bigint NOT NULL CHECK (version >= 1),
  UNIQUE (author_id, product_id)
);

-- ListProductReviews: published reviews of a product, newest first or by rating.
CREATE INDEX reviews_newest ON reviews (product_id, seq DESC) WHERE status = 'published';
CREATE INDEX reviews_by_rating ON reviews (product_id, rating, seq DESC) WHERE status = 'published';

-- The published reviews of a product, counted per rating. Every change of a review updates its
-- product's row in the same transaction (under that row's lock), so the counts are exact under
-- concurrent writes; version goes up by one per change, for CatalogService.RecordRatingSummaries.
CREATE TABLE rating_summaries (
  product_id text PRIMARY KEY,
  ones bigint NOT NULL DEFAULT 0 CHECK (ones >= 0),
  twos bigint NOT NULL DEFAULT 0 CHECK (twos >= 0),
  threes bigint NOT NULL DEFAULT 0 CHECK (threes >= 0),
  fours bigint NOT NULL DEFAULT 0 CHECK (fours >= 0),
  fives bigint NOT NULL DEFAULT 0 CHECK (fives >= 0),
  version bigint NOT NULL CHECK (version >= 1)
);
