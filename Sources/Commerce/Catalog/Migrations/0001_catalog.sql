-- Schema `catalog`: categories, sellers' public profiles, products, the stock and rating
-- signals other services send, and the search index built from all of them.

-- Text search: English stemming over unaccented words, so "Café" finds "cafe". pg_trgm finds the
-- catalog's own words that are closest to a misspelled query word. Both are trusted extensions
-- of PostgreSQL's contrib set; they live in `public`, where every schema's queries find them.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE TEXT SEARCH CONFIGURATION search (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION search
  ALTER MAPPING FOR hword, hword_part, word WITH public.unaccent, english_stem;

-- Categories form a tree of at most 6 levels.
CREATE TABLE categories (
  id uuid PRIMARY KEY,
  parent_id uuid REFERENCES categories (id),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{1,100}$'),
  depth int4 NOT NULL CHECK (depth BETWEEN 0 AND 5),
  -- The ancestors from the root down to the parent.
  ancestors uuid[] NOT NULL,
  -- Depth-first order, siblings by name: each level's lower-cased name and id.
  sort_path text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((parent_id IS NULL) = (depth = 0)),
  CHECK (cardinality(ancestors) = depth AND cardinality(sort_path) = depth + 1)
);
CREATE INDEX categories_sort_path ON categories (sort_path);
CREATE INDEX categories_parent ON categories (parent_id);

-- Sellers' public profiles, copied from their accounts (AuthService.GetUser) when the catalog
-- first needs them.
CREATE TABLE sellers (
  id uuid PRIMARY KEY,
  display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
  -- When the catalog first saw the seller approved.
  join_time timestamptz NOT NULL,
  refreshed_at timestamptz NOT NULL
);

CREATE TABLE products (
  id uuid PRIMARY KEY,
  seller_id uuid NOT NULL REFERENCES sellers (id),
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  details text NOT NULL DEFAULT '' CHECK (char_length(details) <= 20000),
  category_id uuid NOT NULL REFERENCES categories (id),
  price_minor int8 NOT NULL CHECK (price_minor >= 1),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  compare_at_minor int8 CHECK (compare_at_minor > price_minor),
  image_urls text[] NOT NULL DEFAULT '{}' CHECK (cardinality(image_urls) <= 20),
  -- Attributes as two parallel arrays (names may repeat with different values).
  attribute_names text[] NOT NULL DEFAULT '{}',
  attribute_values text[] NOT NULL DEFAULT '{}',
  sku text NOT NULL DEFAULT '' CHECK (char_length(sku) <= 64),
  status text NOT NULL CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
  version int8 NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL CHECK (updated_at >= created_at),
  archived_at timestamptz,
  CHECK ((status = 'ARCHIVED') = (archived_at IS NOT NULL)),
  CHECK (cardinality(attribute_names) = cardinality(attribute_values) AND cardinality(attribute_names) <= 50)
);
CREATE UNIQUE INDEX products_seller_sku ON products (seller_id, sku) WHERE sku <> '';
CREATE INDEX products_seller_newest ON products (seller_id, created_at DESC, id DESC);
CREATE INDEX products_category ON products (category_id);

-- Units available per product, as InventoryService last reported (RecordStockLevels). No row:
-- not known, shown as in stock (catalog.proto: Availability).
CREATE TABLE stock_levels (
  product_id uuid PRIMARY KEY,
  available int8 NOT NULL CHECK (available >= 0),
  version int8 NOT NULL CHECK (version >= 1),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Published rating summaries, as ReviewService last reported (RecordRatingSummaries).
CREATE TABLE rating_summaries (
  product_id uuid PRIMARY KEY,
  average float8 NOT NULL CHECK (average = 0 OR average BETWEEN 1 AND 5),
  count int8 NOT NULL CHECK (count >= 0),
  histogram int8[] NOT NULL CHECK (cardinality(histogram) = 5),
  version int8 NOT NULL CHECK (version >= 1),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- What a product's search document is made of, computed from the tables above. Search reads
-- search_documents, never this view; writes and reindex jobs fill search_documents from it.
-- Weights: A the title, B the brand attribute, C category names and other attribute values,
-- D the details.
CREATE VIEW search_document_source AS
SELECT
  p.id AS product_id,
  p.seller_id,
  s.display_name AS seller_name,
  p.title,
  coalesce(p.image_urls[1], '') AS image_url,
  p.price_minor,
  p.currency,
  p.category_id,
  c.ancestors || c.id AS category_path,
  coalesce((SELECT array_agg(lower(n) || '=' || lower(v)) FROM unnest(p.attribute_names, p.attribute_values) a (n, v)), '{}') AS attributes,
  coalesce((SELECT array_agg(lower(n) || '=' || v) FROM unnest(p.attribute_names, p.attribute_values) a (n, v)), '{}') AS attribute_labels,
  coalesce(r.average, 0) AS rating_average,
  coalesce(r.count, 0) AS rating_count,
  coalesce(st.available > 0, true) AS in_stock,
  p.created_at,
  setweight(to_tsvector('catalog.search', p.title), 'A')
    || setweight(to_tsvector('catalog.search', coalesce(
      (SELECT string_agg(v, ' ') FROM unnest(p.attribute_names, p.attribute_values) a (n, v) WHERE lower(n) = 'brand'), '')), 'B')
    || setweight(to_tsvector('catalog.search',
      coalesce((SELECT string_agg(k.name, ' ') FROM categories k WHERE k.id = ANY (c.ancestors || c.id)), '') || ' '
      || coalesce((SELECT string_agg(v, ' ') FROM unnest(p.attribute_names, p.attribute_values) a (n, v) WHERE lower(n) <> 'brand'), '')), 'C')
    || setweight(to_tsvector('catalog.search', p.details), 'D') AS document
FROM products p
JOIN sellers s ON s.id = p.seller_id
JOIN categories c ON c.id = p.category_id
LEFT JOIN rating_summaries r ON r.product_id = p.id
LEFT JOIN stock_levels st ON st.product_id = p.id
WHERE p.status = 'ACTIVE';

-- The search index: one row per ACTIVE product, denormalised so that a search reads nothing
-- else. Kept current in the transaction of every change; rebuilt whole by a reindex job.
CREATE TABLE search_documents (
  product_id uuid PRIMARY KEY,
  seller_id uuid NOT NULL,
  seller_name text NOT NULL,
  title text NOT NULL,
  image_url text NOT NULL,
  price_minor int8 NOT NULL,
  currency text NOT NULL,
  category_id uuid NOT NULL,
  category_path uuid[] NOT NULL,
  attributes text[] NOT NULL,
  attribute_labels text[] NOT NULL,
  rating_average float8 NOT NULL,
  rating_count int8 NOT NULL,
  in_stock bool NOT NULL,
  created_at timestamptz NOT NULL,
  document tsvector NOT NULL,
  -- When the row last changed, so a reindex job can catch up with changes made while it ran.
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX search_documents_document ON search_documents USING gin (document);
CREATE INDEX search_documents_category_path ON search_documents USING gin (category_path);
CREATE INDEX search_documents_attributes ON search_documents USING gin (attributes);
CREATE INDEX search_documents_price ON search_documents (price_minor, product_id);
CREATE INDEX search_documents_newest ON search_documents (created_at DESC, product_id DESC);
CREATE INDEX search_documents_rating ON search_documents (rating_average DESC, rating_count DESC, product_id);
CREATE INDEX search_documents_seller ON search_documents (seller_id);
CREATE INDEX search_documents_changed ON search_documents (changed_at);

-- The catalog's vocabulary: the unaccented, lower-cased words of its products, for "did you
-- mean" and to tell a misspelled word from one that matches. Words are added as products are
-- written and never removed except by a reindex job.
CREATE TABLE search_words (
  word text PRIMARY KEY,
  -- The word as the search configuration indexes it (unaccented, stemmed; '' for a stop
  -- word), so that whether a query word matches anything is one index lookup.
  lexeme text NOT NULL,
  -- How many products used the word at the last reindex (1 for words added since).
  documents int8 NOT NULL DEFAULT 1
);
CREATE INDEX search_words_trigrams ON search_words USING gin (word public.gin_trgm_ops);
CREATE INDEX search_words_lexeme ON search_words (lexeme text_pattern_ops);

-- Reindex jobs (StartSearchReindex). At most one runs at a time.
CREATE TABLE reindex_jobs (
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 128),
  state text NOT NULL CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
  processed_count int8 NOT NULL DEFAULT 0,
  total_count int8 NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  error_message text NOT NULL DEFAULT '',
  -- The server running it renews its lease; a job whose server died is failed by the next start.
  lease_expires_at timestamptz NOT NULL,
  CHECK ((state = 'RUNNING') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX reindex_jobs_one_running ON reindex_jobs ((true)) WHERE state = 'RUNNING';
