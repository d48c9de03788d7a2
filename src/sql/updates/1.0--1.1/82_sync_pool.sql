/* ------------------------------------------------------------------------
 * A pool of vector sync workers (osv.vector_sync_workers, src/sync_worker.c):
 * each worker claims every batch of a life under a claim id of its own, so
 * that its restart releases its claims and never those of a live worker
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.vector_sync_targets ADD COLUMN pool_claim_ids bigint[];
COMMENT ON COLUMN osv.vector_sync_targets.pool_claim_ids IS 'claim id of the current life of each further vector sync worker (osv.vector_sync_workers), element i for worker i: the claim that worker''s restart releases; worker 0''s is worker_claim_id';
