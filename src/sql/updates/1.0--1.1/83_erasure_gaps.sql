
/* ------------------------------------------------------------------------
 * Erasure sweeps and claims (src/sync_engine.c, src/sync_worker.c): the
 * claim keeps the user of the point it may upsert, so that a claim
 * released in doubt (after an ERROR or a crash) postpones that user's
 * sweep, and no sweep of the user is claimed while the claim holds
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.vector_outbox ADD COLUMN claimed_user_id bigint;
COMMENT ON COLUMN osv.vector_outbox.claimed_user_id IS 'owner of the summary when the row was last claimed (the user of the point the claim may upsert): while the claim holds, that user''s erasure sweep is not claimed, and a released claim puts it in in_doubt_user_id';
