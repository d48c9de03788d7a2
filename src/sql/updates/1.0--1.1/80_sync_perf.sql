
/* ------------------------------------------------------------------------
 * The sync worker's pipeline (src/sync_worker.c): every batch of a life of
 * the worker is claimed under one claim id, recorded once
 * ------------------------------------------------------------------------
 */
COMMENT ON COLUMN osv.vector_outbox.claim_id IS 'claim that holds the row while it is in flight (a batch, or every batch of a life of the vector sync worker); NULL otherwise';
COMMENT ON COLUMN osv.vector_sync_targets.worker_claim_id IS 'claim id of the batches of the vector sync worker''s current life (since its start or its last error): the claim its restart releases (claims of external drainers are left to their lease)';
