/*-------------------------------------------------------------------------
 *
 * sync_worker.c
 *		The "osv vector sync" background worker.
 *
 * A static background worker of the database osv.database (registered by
 * osv.c, run in the skeleton of worker.c).  Each round claims a batch in
 * a transaction of its own (row locks on the claimed outbox entries until
 * it commits), sends it to Qdrant with no transaction open, and records
 * the outcome in a second transaction (sync_engine.c).  It sleeps on its
 * latch, which backends set when a transaction that enqueued entries
 * commits (outbox.c), until the next entry is due or osv.vector_sync_naptime
 * passes.  It idles where the extension is absent and where
 * osv.qdrant_url is empty.
 *
 * Each round then drains the storage queues (object deletions, erasure
 * ledger copies, Qdrant sweeps of erasures; src/storage_sync.c) the same
 * way, whether Qdrant is configured or not, and sleeps no longer than
 * their next due entry.
 *
 * An ERROR in a round is logged and its transaction aborted (worker.c);
 * the worker then waits OSV_WORKER_RESTART_TIME, releases the claims left
 * behind and starts the scan of due entries over, as it does after a
 * restart.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/sync_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "osv.h"
#include "outbox.h"
#include "qdrant.h"
#include "settings.h"
#include "spi_plan.h"
#include "storage_sync.h"
#include "sync_engine.h"
#include "worker.h"

/* The state of the worker across rounds. */
typedef struct SyncWorkerState
{
	MemoryContext loop_cxt;		/* reset at every round */
	VsClaimCursor cursor;
	bool		leases_released;	/* claims of a previous life released */
	long		wait_ms;		/* result of the last round */
} SyncWorkerState;

/* Commit the worker's transaction; back in the loop's memory context. */
static void
worker_end(MemoryContext loop_cxt)
{
	osv_worker_transaction_end();
	MemoryContextSwitchTo(loop_cxt);
}

/*
 * How long to sleep after a claim found nothing (SPI connected): until the
 * next pending entry is due, but at most 1 s while due entries exist that
 * could not be claimed (row-locked by a writer, whose commit wakes the
 * worker anyway, or claimed by another drainer), and at most the naptime.
 */
static long
next_due_ms(void)
{
	bool		isnull;
	Datum		d;
	int64		wait_ms = osv_vector_sync_naptime;

	/* Due as the claim saw it: at now(), the claim's transaction time. */
	spi_execute(SPI_OK_SELECT, "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', (SELECT pg_catalog.min(o.next_attempt_at)"
				"   FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
				"   AND o.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now())"
				"   OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::bigint,"
				" EXISTS (SELECT FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
				"   AND o.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())",
				0, NULL, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		wait_ms = Min(wait_ms, DatumGetInt64(d));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (DatumGetBool(d))
		wait_ms = Min(wait_ms, 1000);
	return (long) Max(wait_ms, 1);
}

/*
 * One round of the worker: claim (transaction 1, committed), send (no
 * transaction), record (transaction 2).  Returns how long to sleep, 0 to
 * go on at once.
 */
static long
worker_round(MemoryContext loop_cxt, VsClaimCursor *cursor, bool *leases_released)
{
	VsBatch		batch;
	long		wait_ms;
	int			n;
	bool		idle = false;
	TimestampTz t_claim = GetCurrentTimestamp();
	TimestampTz t_send;
	TimestampTz t_record;

	osv_worker_transaction_begin("osv vector sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) || !qdrant_configured())
	{
		/*
		 * Nothing to do here; the latch or the naptime brings us back.  In
		 * embedded mode (no URL) changes are not queued, so whatever target
		 * comes next must be filled from scratch: forget which one was
		 * synced.  (Each reload sets the latch, so a URL emptied and set
		 * again is seen; a change of both within one round is not, and needs
		 * osv.vector_resync().)
		 */
		if (OidIsValid(get_extension_oid("osv", true)))
		{
			spi_execute(SPI_OK_UPDATE,
						"UPDATE osv.vector_sync_targets SET synced_url = NULL"
						" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND synced_url IS NOT NULL",
						0, NULL, NULL, false, 0);
		}
		worker_end(loop_cxt);
		*leases_released = false;
		return osv_vector_sync_naptime;
	}

	if (!*leases_released)
	{
		/* Claims committed by a worker that died are ours to retry now. */
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox SET claim_id = NULL, claimed_version = NULL, lease_until = NULL"
					" WHERE claim_id IS NOT NULL", 0, NULL, NULL, false, 0);
		if (SPI_processed > 0)
			elog(LOG, "osv vector sync released %llu outbox entries claimed before a restart",
				 (unsigned long long) SPI_processed);
		*leases_released = true;
	}

	/* A new target: backfill it once. */
	{
		Oid			argtype = TEXTOID;
		Datum		arg = CStringGetTextDatum(sync_target_url());

		spi_execute(SPI_OK_SELECT, "SELECT FROM osv.vector_sync_targets"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND (synced_url IS NULL OR synced_url OPERATOR(pg_catalog.<>) $1)",
					1, &argtype, &arg, true, 1);
		if (SPI_processed > 0)
		{
			uint64		count = outbox_enqueue_all_live();

			sync_set_synced_url();
			elog(LOG, "osv vector sync enqueued %llu summaries for the new target \"%s\"",
				 (unsigned long long) count, osv_qdrant_url);
		}
	}

	if (sync_target_backing_off(&wait_ms))
	{
		worker_end(loop_cxt);
		return Min(wait_ms, (long) osv_vector_sync_naptime);
	}

	n = sync_claim(osv_vector_sync_batch_size, cursor, &batch, loop_cxt);

	/*
	 * Short of a full batch, the scan has reached the end of what is due: the
	 * next one starts from the beginning again, and so picks up the entries
	 * this pass went by (locked by a writer, released, or enqueued by a
	 * transaction that began before the last claimed key); so it does after
	 * VS_CLAIMS_PER_PASS full ones.  Nothing found past the middle is no
	 * reason to sleep: start over at once.
	 */
	if (n == 0 && cursor->claims > 0)
	{
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		wait_ms = 0;
		idle = true;
	}
	else if (n == 0)
	{
		wait_ms = next_due_ms();
		idle = true;
	}
	else if (n < osv_vector_sync_batch_size || ++cursor->claims >= VS_CLAIMS_PER_PASS)
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
	worker_end(loop_cxt);
	if (idle)
		return wait_ms;

	pgstat_report_activity(STATE_RUNNING, "osv vector sync: sending");
	t_send = GetCurrentTimestamp();
	sync_send(&batch);

	t_record = GetCurrentTimestamp();
	osv_worker_transaction_begin("osv vector sync: recording");
	{
		uint64		completed = sync_record(&batch);

		elog(DEBUG1, "osv vector sync: batch %lld of %d entries, %llu completed (claim %ld ms, send %ld ms, record %ld ms)",
			 (long long) batch.claim_id, n, (unsigned long long) completed,
			 (long) TimestampDifferenceMilliseconds(t_claim, t_send),
			 (long) TimestampDifferenceMilliseconds(t_send, t_record),
			 (long) TimestampDifferenceMilliseconds(t_record, GetCurrentTimestamp()));
	}
	worker_end(loop_cxt);

	if (batch.target_failed)
	{
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		qdrant_raise(LOG, &batch.target_error);
		return 1;				/* the target's retry_at sets the pace */
	}
	return 0;
}

/* A round as a step of the worker skeleton. */
static void
sync_round_step(void *arg)
{
	SyncWorkerState *state = (SyncWorkerState *) arg;

	long		storage_wait_ms;

	state->wait_ms = worker_round(state->loop_cxt, &state->cursor,
								  &state->leases_released);

	/* The storage queues (src/storage_sync.c) share the worker. */
	MemoryContextReset(state->loop_cxt);
	MemoryContextSwitchTo(state->loop_cxt);
	storage_wait_ms = storage_sync_worker_round(state->loop_cxt);
	state->wait_ms = Min(state->wait_ms, storage_wait_ms);
}

/*
 * Main of the vector sync worker.
 */
void
osv_vector_sync_main(Datum main_arg)
{
	MemoryContext worker_cxt;
	SyncWorkerState state;

	worker_cxt = osv_worker_start("osv vector sync");
	osv_shmem_publish_sync_worker();
	elog(LOG, "osv vector sync worker started in database \"%s\"", osv_database);

	state.loop_cxt = AllocSetContextCreate(worker_cxt, "osv vector sync batch",
										   ALLOCSET_DEFAULT_SIZES);
	state.cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
	state.leases_released = false;
	state.wait_ms = 0;

	for (;;)
	{
		(void) osv_worker_wait(state.wait_ms);
		if (!osv_worker_run(state.loop_cxt, sync_round_step, &state))
		{
			/* As after a restart, without the process's exit. */
			state.cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
			state.leases_released = false;
			state.wait_ms = OSV_WORKER_RESTART_TIME * 1000L;
		}
	}
}
