--
-- Changing the embedding model in the embedded mode (DESIGN.md section 10):
-- osv.start_reembedding(), summaries.embedding_next, osv.reembedding_progress,
-- osv.finish_reembedding().  Search serves the old embeddings until the
-- switch, the new ones after it.  Everything runs in one transaction that is
-- rolled back, so that the suites after this one keep osv.vector_dimensions.
--
\set SHOW_CONTEXT never
\set VERBOSITY default
\set ON_ERROR_ROLLBACK on
SHOW osv.qdrant_url;
SHOW osv.vector_dimensions;
BEGIN;
SET LOCAL client_min_messages = warning;
TRUNCATE osv.users RESTART IDENTITY CASCADE;
SET LOCAL client_min_messages = notice;
INSERT INTO osv.users (auth0_id, email, name)
VALUES ('auth0|ada', 'ada@example.org', 'ada'), ('auth0|bob', 'bob@example.org', 'bob');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT 1 + g % 2, 'text', 'doc ' || g, 'osv-docs', 'k/' || g FROM generate_series(1, 6) g;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'misc', 'summary of ' || d.title, CASE WHEN d.id <> 6 THEN osv.embed_text('summary of ' || d.title) END
FROM osv.documents d;
-- the new model: 4 dimensions, one axis per summary (summary 5 between 1 and 2)
CREATE FUNCTION pg_temp.emb4(id bigint) RETURNS real[] LANGUAGE sql IMMUTABLE
	AS $$ SELECT CASE id WHEN 5 THEN '{1,1,0,0}'::real[]
		ELSE ARRAY(SELECT CASE WHEN i = 1 + (id - 1) % 4 THEN 1 ELSE 0.01 END::real FROM generate_series(1, 4) i) END $$;

-- no run yet: nothing to show, nothing to finish, no new embedding accepted
SELECT osv.embedding_dimensions();
SELECT * FROM osv.reembedding_progress;
SELECT osv.finish_reembedding();
UPDATE osv.summaries SET embedding_next = pg_temp.emb4(id) WHERE id = 1;
-- the switch of Qdrant's alias is only for the finished current version
SELECT osv.qdrant_switch_alias(1);
-- bad arguments
SELECT osv.start_reembedding(NULL);
SELECT osv.start_reembedding(0);
SELECT osv.start_reembedding(65537);

-- a run: version 2, 4 dimensions; a second start is refused
SELECT osv.start_reembedding(4);
SELECT osv.start_reembedding(8);
SELECT version, dimensions, finished_at IS NULL AS running FROM osv.reembeddings;
-- new embeddings are checked against the run's dimensions
UPDATE osv.summaries SET embedding_next = osv.embed_text(content) WHERE id = 1;
UPDATE osv.summaries SET embedding_next = '{0,0,0,0}' WHERE id = 1;
UPDATE osv.summaries SET embedding_next = pg_temp.emb4(id) WHERE id IN (1, 2);
-- old embeddings still have the old size
UPDATE osv.summaries SET embedding = pg_temp.emb4(id) WHERE id = 3;
SELECT osv.embedding_dimensions();
SELECT version, dimensions, total, embedded, synced, percent, expected_end IS NOT NULL AS has_end
FROM osv.reembedding_progress;

-- search still serves the old model
SELECT summary_id FROM osv.search_summaries(osv.embed_text('summary of doc 3'), 1);
SELECT osv.search_summaries(pg_temp.emb4(1), 1);

-- finishing needs a new embedding for every live summary that has one
SELECT osv.finish_reembedding();
-- a trashed summary does not count (it loses its old embedding at the switch)
UPDATE osv.summaries SET deleted_at = now() WHERE id = 4;
UPDATE osv.summaries SET embedding_next = pg_temp.emb4(id) WHERE id IN (3, 5);
-- summary 6 had no embedding; a new one is welcome
UPDATE osv.summaries SET embedding_next = pg_temp.emb4(id) WHERE id = 6;
SELECT version, total, embedded, percent, expected_end FROM osv.reembedding_progress;
SELECT osv.finish_reembedding();

-- switched: new embeddings in embedding, none left in embedding_next
SELECT id, embedding = pg_temp.emb4(id) AS new_embedding, embedding_next IS NULL AS next_cleared
FROM osv.summaries ORDER BY id;
SELECT version, dimensions, finished_at IS NOT NULL AS finished FROM osv.reembeddings;
SELECT * FROM osv.reembedding_progress;
SELECT osv.embedding_dimensions(), array_length(osv.embed_text('any text'), 1) AS embed_text_dims;
-- search uses the new vectors; an old-size query is refused
SELECT summary_id FROM osv.search_summaries('{1,0.9,0,0}', 3);
SELECT summary_id FROM osv.similar_summaries(5, 2);
SELECT osv.search_summaries(array_fill(0.5::real, ARRAY[384]), 1);
-- new writes take the new size (as osv.embed_text() does now)
UPDATE osv.summaries SET embedding = array_fill(0.5::real, ARRAY[384]) WHERE id = 1;
UPDATE osv.summaries SET embedding = '{0,0,1,1}' WHERE id = 1;
-- recommendations work on the new model
SELECT osv.refresh_recommendations(1, 5) > 0 AS recommended;
-- a run can follow, with the next version
SELECT osv.start_reembedding(3);
ROLLBACK;
SELECT osv.embedding_dimensions();
