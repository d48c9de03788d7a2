
/*
 * 72_reembedding: model changes without downtime (src/sql/reembedding.sql,
 * whose objects follow in 73_reembedding.sql).  The new embeddings live in
 * a column at the end of osv.summaries while a re-embedding runs, and the
 * outbox triggers fire for them too.
 */
ALTER TABLE osv.summaries ADD COLUMN embedding_next real[];
COMMENT ON COLUMN osv.summaries.embedding_next IS 'embedding of the summary by the new model while a re-embedding runs (osv.start_reembedding()); becomes embedding when it finishes';

DROP TRIGGER vector_enqueue_insert ON osv.summaries;
CREATE TRIGGER vector_enqueue_insert AFTER INSERT ON osv.summaries
	FOR EACH ROW WHEN ((NEW.embedding IS NOT NULL OR NEW.embedding_next IS NOT NULL) AND NEW.deleted_at IS NULL AND NOT osv.restoring())
	EXECUTE FUNCTION osv.vector_enqueue();
DROP TRIGGER vector_enqueue_update ON osv.summaries;
CREATE TRIGGER vector_enqueue_update AFTER UPDATE ON osv.summaries
	FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding
					   OR OLD.embedding_next IS DISTINCT FROM NEW.embedding_next
					   OR (OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.deleted_at IS NULL)
					   OR OLD.id IS DISTINCT FROM NEW.id
					   OR OLD.user_id IS DISTINCT FROM NEW.user_id
					   OR OLD.topic IS DISTINCT FROM NEW.topic
					   OR OLD.created_at IS DISTINCT FROM NEW.created_at)
	EXECUTE FUNCTION osv.vector_enqueue();
DROP TRIGGER vector_enqueue_delete ON osv.summaries;
CREATE TRIGGER vector_enqueue_delete AFTER DELETE ON osv.summaries
	FOR EACH ROW WHEN ((OLD.embedding IS NOT NULL OR OLD.embedding_next IS NOT NULL) AND OLD.deleted_at IS NULL)
	EXECUTE FUNCTION osv.vector_enqueue();
