--
-- osv.embed_text() and the validation of summaries.embedding
-- (DESIGN.md section 5): a deterministic, model-free embedding, and
-- embeddings that could not be searched are refused when written.
--
SET client_min_messages = warning;
TRUNCATE osv.users CASCADE;
RESET client_min_messages;

-- osv.embed_text: osv.vector_dimensions dimensions, unit norm, deterministic
SHOW osv.vector_dimensions;
SELECT array_length(e, 1) AS dims, array_ndims(e) AS ndims,
       round((SELECT sum(x::float8 * x) FROM unnest(e) x)::numeric, 5) AS squared_norm
FROM (SELECT osv.embed_text('The mitochondria is the powerhouse of the cell') AS e) t;
SELECT osv.embed_text('Photosynthesis in plants') = osv.embed_text('Photosynthesis in plants') AS same_text_same_vector;
-- ASCII case, punctuation and spacing do not matter; words and their order do
SELECT osv.embed_text('Hello, World!') = osv.embed_text('  hello   world ') AS case_and_punctuation_ignored,
       osv.embed_text('hello world') = osv.embed_text('world hello') AS order_ignored,
       osv.embed_text('hello world') = osv.embed_text('hello there') AS words_ignored;
-- one word is one feature: a single +1 or -1 in a bucket fixed by FNV-1a
SELECT array_agg(i ORDER BY i) AS buckets, array_agg(e[i] ORDER BY i) AS weights
FROM (SELECT osv.embed_text('hello') AS e) t, generate_series(1, 384) i WHERE e[i] <> 0;
SELECT array_agg(i ORDER BY i) AS buckets, array_agg(round(e[i]::numeric, 4) ORDER BY i) AS weights
FROM (SELECT osv.embed_text('hello world') AS e) t, generate_series(1, 384) i WHERE e[i] <> 0;
-- non-ASCII letters belong to words and are kept as written
SELECT osv.embed_text('école') = osv.embed_text('ecole') AS accent_ignored,
       osv.embed_text('Straße, straße') = osv.embed_text('straße straße') AS punctuation_ignored;
-- similar texts are closer than unrelated ones
WITH v AS (SELECT osv.embed_text('cell biology and the structure of the cell membrane') AS a,
                  osv.embed_text('the cell membrane controls what enters the cell') AS b,
                  osv.embed_text('the french revolution began in 1789') AS c)
SELECT (SELECT sum(x * y) FROM unnest(a, b) t(x, y)) > (SELECT sum(x * y) FROM unnest(a, c) t(x, y)) AS related_closer
FROM v;
-- NULL in, NULL out (no embedding); no words: refused
SELECT osv.embed_text(NULL) IS NULL AS null_text_null_embedding;
SELECT osv.embed_text('');
SELECT osv.embed_text(' ... --- !!! ');

-- validation of summaries.embedding
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|ada', 'ada@example.org');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'text', 'doc ' || g, 'osv-docs', 'ada/' || g FROM osv.users, generate_series(1, 3) g;
CREATE TEMP TABLE d AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM osv.documents;

-- accepted: an embedding of the right dimension, any norm; NULL (not indexed)
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT id, 'cells and membranes', osv.embed_text('cells and membranes') FROM d WHERE n = 1;
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT id, 'scaled', array_fill(3.5::real, ARRAY[384]) FROM d WHERE n = 2;
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT id, 'not embedded yet', NULL FROM d WHERE n = 3;
SELECT d.n, s.embedding IS NOT NULL AS embedded FROM osv.summaries s JOIN d ON d.id = s.document_id ORDER BY d.n;

-- refused, on insert and on update, each with its reason
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT id, 'x', array_fill(0.1::real, ARRAY[383]) FROM d WHERE n = 3;
UPDATE osv.summaries SET embedding = array_fill(0.1::real, ARRAY[385]) WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = '{}' WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = array_fill(0.1::real, ARRAY[2, 192]) WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN i = 7 THEN NULL ELSE 0.1 END::real) FROM generate_series(1, 384) i)
WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN i = 2 THEN 'NaN' ELSE 0.1 END::real) FROM generate_series(1, 384) i)
WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN i = 384 THEN 'Infinity' ELSE 0.1 END::real) FROM generate_series(1, 384) i)
WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN i = 1 THEN '-Infinity' ELSE 0.1 END::real) FROM generate_series(1, 384) i)
WHERE content = 'not embedded yet';
-- elements near FLT_MAX (3e38) are refused: above 1e15, sums of squares
-- could overflow single precision; 1e15 itself is accepted
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN i = 5 THEN 3e38 ELSE 0.1 END::real) FROM generate_series(1, 384) i)
WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = array_fill(-1.01e15::real, ARRAY[384]) WHERE content = 'not embedded yet';
BEGIN;
UPDATE osv.summaries SET embedding = array_fill(1e15::real, ARRAY[384]) WHERE content = 'not embedded yet';
ROLLBACK;
UPDATE osv.summaries SET embedding = array_fill(0::real, ARRAY[384]) WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = array_fill('-0'::real, ARRAY[384]) WHERE content = 'not embedded yet';
-- the error names the table and column
DO $$
DECLARE
	state text;
	tbl text;
	col text;
BEGIN
	UPDATE osv.summaries SET embedding = array_fill(0::real, ARRAY[384]) WHERE content = 'not embedded yet';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, tbl = TABLE_NAME, col = COLUMN_NAME;
	RAISE NOTICE 'sqlstate %, table %, column %', state, tbl, col;
END
$$;
-- a row without embedding is checked only when its embedding is written
UPDATE osv.summaries SET topic = 'biology' WHERE content = 'not embedded yet';
UPDATE osv.summaries SET embedding = NULL WHERE content = 'cells and membranes';
UPDATE osv.summaries SET embedding = osv.embed_text(content) WHERE embedding IS NULL;
-- bad input lost nothing: the accepted rows are as they were written
SELECT d.n, s.topic, array_length(s.embedding, 1) AS dims,
       s.embedding = osv.embed_text(s.content) AS embedded_from_content
FROM osv.summaries s JOIN d ON d.id = s.document_id ORDER BY d.n;

-- embeddings are stored inline and uncompressed, for the embedded search
SELECT attstorage FROM pg_attribute WHERE attrelid = 'osv.summaries'::regclass AND attname = 'embedding';
SELECT bool_and(pg_column_size(embedding) = 24 + 4 * 384) AS stored_uncompressed FROM osv.summaries;

-- the trigger protocol
SELECT osv.check_embedding();
