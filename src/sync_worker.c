/*-------------------------------------------------------------------------
 *
 * sync_worker.c
 *		The "osv vector sync" background worker.
 *
 * A static background worker of the database osv.database (registered by
 * osv.c, run in the skeleton of worker.c).  Each round claims a batch in
 * a transaction of its own (row locks on the claimed outbox entries until
 * it commits), sends it to Qdrant with no transaction open, and records
 * the outcome in a second transaction (sync_engine.c; entries that an
 * application's transaction holds meanwhile are kept and recorded in a
 * later round, so the worker never waits for an application's lock).  It sleeps on its
 * latch, which backends set when a transaction that enqueued entries
 * commits (outbox.c), until the next entry is due or osv.vector_sync_naptime
 * passes.  It idles where the extension is absent and where
 * osv.qdrant_url is empty.  Before each claim it claims, commits, sends
 * and records the erasure sweeps that are due (osv.vector_erasure_sweeps)
 * and, while a new target (or
 * one that comes back after an embedded window) is being reconciled, one
 * page of that reconcile (reconcile.c: the page's orphaned and stale
 * points and the missing summaries of its id range are enqueued), so the
 * target converges with the database in both directions.  A reload ends a
 * back-off of the target and makes the next send check the collection
 * again; the worker records what the check found different from the
 * cluster settings in osv.vector_sync_targets.collection_mismatch.  At start and after an ERROR it releases its own
 * last claim (osv.vector_sync_targets.worker_claim_id) and expired leases,
 * never the live claims of an external drainer; the released entries are
 * in doubt (their request may have been sent).  Every batch of a life
 * (from that release to the next ERROR or restart) is claimed under one
 * claim id, recorded once in osv.vector_sync_targets.worker_claim_id, so
 * that the release finds all of them.
 *
 * Batches of upserts are pipelined: a round claims and writes the next
 * batch while the previous one's request is in flight, sends it as soon as
 * that answer is in, and records the previous outcome while the new one
 * is in flight.  One request at a time, so Qdrant applies the batches in
 * order; a batch in flight is finished before anything else is sent
 * (sweeps, reconcile pages, batches with deletes or a TRUNCATE), and
 * given up after an ERROR (its entries are then released in doubt).
 *
 * Each round then drains the storage queues (object deletions, erasure
 * ledger copies; src/storage_sync.c) the same
 * way, whether Qdrant is configured or not, and sleeps no longer than
 * their next due entry.
 *
 * A pool (osv.vector_sync_workers, registered by osv.c with their number
 * as main argument): worker 0 does all of the above; workers 1 and up only
 * claim, send and record batches of the outbox (pool_round()), each in
 * its own process with its own pipeline.  Each life of each worker claims
 * under a claim id of its own (worker 0's in
 * osv.vector_sync_targets.worker_claim_id, worker i's in
 * pool_claim_ids[i]), so that a restart or an ERROR of one releases only
 * its own claims.  Between workers, the claim keeps what it keeps between
 * any two drainers: an entry is claimed by one batch at a time (its
 * claim_id stays until the record), so two versions of a summary are
 * never in flight at once and a delete never overtakes an upsert of the
 * same point; a TRUNCATE keeps entries in flight as changes (outbox.c),
 * so an upsert that lands after the marker's drop is followed by the
 * delete.  Every worker honours the target's back-off (retry_at).  A
 * commit wakes worker 0 (every worker while worker 0 does not run); a
 * worker that claimed a full batch wakes the others, so that a burst is
 * drained by the whole pool and a trickle by one worker.
 *
 * Health (health.c, progress.c): worker 0 publishes its state ("idle",
 * "draining", "backing off", ...) and a heartbeat at every round, and the
 * progress of the backfill and of the reconcile of a new target.  When the
 * mode changes (the URL is emptied, or a new one is set) it clears the
 * target's error and back-off, which belonged to the old target.
 *
 * The other workers of the pool publish neither (their liveness is in
 * pg_stat_activity, application_name "osv vector sync <i>"); the backfill
 * progress, begun by worker 0, counts the batches of the whole pool.
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

#include "health.h"
#include "osv.h"
#include "outbox.h"
#include "progress.h"
#include "qdrant.h"
#include "reconcile.h"
#include "settings.h"
#include "spi_plan.h"
#include "storage_sync.h"
#include "sync_engine.h"
#include "worker.h"

/* Rounds with a batch in flight per round of the storage queues. */
#define STORAGE_ROUND_EVERY 8

/* Erasure sweeps sent per round at most. */
#define SWEEPS_PER_ROUND 16

/* The state of the worker across rounds. */
typedef struct SyncWorkerState
{
	int			index;			/* number in the pool: 0 does every duty */
	MemoryContext worker_cxt;	/* lives as long as the worker */
	MemoryContext loop_cxt;		/* reset at every round */
	VsClaimCursor cursor;
	bool		leases_released;	/* claims of a previous life released */
	int64		claim_id;		/* the claim id of this life's batches */
	bool		reloaded;		/* configuration reloaded since last round */
	long		wait_ms;		/* result of the last round */
	char	   *reconcile_url;	/* target being reconciled (worker_cxt), or
								 * NULL */
	VsReconcile reconcile;		/* its progress */
	uint64		mismatch_checks;	/* collection checks recorded */
	bool		collection_checked; /* since the start or the last reload */
	/* The pipeline: batches alternate between two slots. */
	MemoryContext batch_cxt[2];	/* a batch's memory, reset when recorded */
	int			slot;			/* slot of the next batch */
	bool		in_flight;		/* inflight was sent, its answer not read */
	VsBatch		inflight;
	int			storage_skipped;	/* storage rounds skipped in a row */
	/* Entries of recorded batches that other transactions held. */
	VsBatch		held;
	MemoryContext held_cxt[2];	/* held's memory, alternating */
	int			held_slot;		/* the context held is in */
} SyncWorkerState;

static long drain_batch(SyncWorkerState *st, bool busy, TimestampTz t_claim);

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
				"   AND o.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()),"
				/* An erasure sweep waiting for its fence, backoff or lease. */
				" pg_catalog.ceil(pg_catalog.date_part('epoch', (SELECT pg_catalog.min(GREATEST(w.due_at, w.lease_until))"
				"   FROM osv.vector_erasure_sweeps w)"
				"   OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::bigint",
				0, NULL, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		wait_ms = Min(wait_ms, DatumGetInt64(d));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (DatumGetBool(d))
		wait_ms = Min(wait_ms, 1000);
	/* At least 100 ms: a due sweep may be locked by a session's claim. */
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (!isnull)
		wait_ms = Min(wait_ms, Max(DatumGetInt64(d), 100));
	return (long) Max(wait_ms, 1);
}

/*
 * Keep for a later round the entries of a recorded batch that other
 * transactions held (sync_record() set them aside in *held): copied into
 * the worker's held context, the error text with them; the point's data
 * are not needed to record an outcome, its user is.
 */
static void
keep_held(SyncWorkerState *st, const VsBatch *held)
{
	MemoryContext cxt = st->held_cxt[st->held_slot];

	if (held->n == 0)
		return;
	if (st->held.n == 0)
	{
		memset(&st->held, 0, sizeof(VsBatch));
		st->held.claim_id = held->claim_id;
		st->held.entries = MemoryContextAlloc(cxt, sizeof(VsEntry) * held->n);
	}
	else
	{
		/* Every batch of a life is claimed under the life's claim id. */
		Assert(st->held.claim_id == held->claim_id);
		st->held.entries = repalloc(st->held.entries, sizeof(VsEntry) * (st->held.n + held->n));
	}
	for (int i = 0; i < held->n; i++)
	{
		VsEntry    *e = &st->held.entries[st->held.n++];
		int64		user_id = held->entries[i].point.user_id;

		*e = held->entries[i];
		memset(&e->point, 0, sizeof(e->point));
		memset(&e->point_next, 0, sizeof(e->point_next));
		e->point.user_id = user_id;
		e->error = e->error ? MemoryContextStrdup(cxt, e->error) : NULL;
	}
}

/*
 * Record the outcome of a batch in a transaction of its own; the entries
 * that other transactions hold meanwhile (an application that changed a
 * summary while its batch was in flight, in a transaction still open) are
 * kept for a later round (record_held()), so that the worker never waits
 * for an application's lock.  Returns the number of entries completed.
 * No transaction open.
 */
static uint64
record_one_batch(SyncWorkerState *st, VsBatch *batch)
{
	VsBatch		held;
	uint64		completed;

	osv_worker_transaction_begin("osv vector sync: recording");
	completed = sync_record(batch, &held);
	osv_progress_advance_shared("backfill", (int64) completed);
	worker_end(st->loop_cxt);
	keep_held(st, &held);
	return completed;
}

/*
 * Record the entries kept by record_one_batch() whose rows are free now;
 * the others stay kept (in the other held context, so that the memory of
 * the kept entries does not grow while an application holds a row).  No
 * transaction open.
 */
static void
record_held(SyncWorkerState *st)
{
	VsBatch		kept = st->held;
	VsBatch		still;
	int			old_slot = st->held_slot;

	if (kept.n == 0)
		return;
	osv_worker_transaction_begin("osv vector sync: recording");
	osv_progress_advance_shared("backfill", (int64) sync_record(&kept, &still));
	worker_end(st->loop_cxt);
	elog(DEBUG1, "osv vector sync: %d entries of claim %lld recorded after other transactions held them, %d still held",
		 kept.n, (long long) kept.claim_id, still.n);
	st->held.n = 0;
	st->held_slot = 1 - old_slot;
	keep_held(st, &still);
	MemoryContextReset(st->held_cxt[old_slot]);
}

/*
 * Record the outcome of a sent batch (and of "unsent", a batch claimed but
 * not sent because the target failed meanwhile, if not NULL).  Returns
 * false after a failure of the target (logged).
 */
static bool
record_batches(SyncWorkerState *st, VsBatch *batch, VsBatch *unsent)
{
	uint64		completed;
	int			n = batch->n;

	completed = record_one_batch(st, batch);
	if (unsent != NULL)
		(void) record_one_batch(st, unsent);
	elog(DEBUG1, "osv vector sync: batch of %d entries, %llu completed",
		 n, (unsigned long long) completed);
	if (batch->target_failed)
	{
		st->cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		qdrant_raise(LOG, &batch->target_error);
		return false;
	}
	return true;
}

/*
 * Wait for the batch in flight, if any, and record it.  Returns false
 * after a failure of the target.  No transaction open.
 */
static bool
finish_in_flight(SyncWorkerState *st)
{
	bool		ok;

	if (!st->in_flight)
		return true;
	pgstat_report_activity(STATE_RUNNING, "osv vector sync: sending");
	sync_send_finish(&st->inflight);
	st->in_flight = false;
	ok = record_batches(st, &st->inflight, NULL);
	MemoryContextReset(st->batch_cxt[1 - st->slot]);
	return ok;
}

/*
 * Release the claim of erasure sweeps claimed but not sent this round, so
 * that the next round (or a session's osv.vector_sync()) sends them at
 * once rather than after their lease.  No transaction open.
 */
static void
release_sweeps(SyncWorkerState *st, VsSweep *sweeps, int n)
{
	if (n == 0)
		return;
	osv_worker_transaction_begin("osv vector sync: releasing sweeps");
	sync_record_sweeps(sweeps, n);	/* none done, none failed: released */
	worker_end(st->loop_cxt);
}

/* Forget a reconcile in progress. */
static void
reconcile_forget(SyncWorkerState *st)
{
	if (st->reconcile_url != NULL)
		pfree(st->reconcile_url);
	st->reconcile_url = NULL;
	reconcile_start(&st->reconcile);
}

/*
 * Record what the last check of the collection (by this process) found
 * different from the cluster settings, once per check.  SPI connected.
 */
static void
record_collection_mismatch(SyncWorkerState *st)
{
	uint64		checks;
	const char *mismatch = qdrant_collection_mismatch(&checks);
	Oid			argtype = TEXTOID;
	Datum		arg;

	if (checks == st->mismatch_checks)
		return;
	st->mismatch_checks = checks;
	if (mismatch == NULL)
	{
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET collection_mismatch = NULL"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND collection_mismatch IS NOT NULL",
					0, NULL, NULL, false, 0);
		return;
	}
	arg = CStringGetTextDatum(mismatch);
	spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET collection_mismatch = $1"
				" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND collection_mismatch IS DISTINCT FROM $1",
				1, &argtype, &arg, false, 0);
	if (SPI_processed > 0)
		ereport(WARNING,
				(errmsg("Qdrant collection \"%s\" does not match osv's cluster settings", osv_qdrant_collection),
				 errdetail("%s.", mismatch),
				 errhint("Change the collection's parameters in Qdrant, or the settings to what the collection has.")));
}

/*
 * Record a failure of the whole target outside a batch (a sweep, a page of
 * the reconcile) and log it.  Returns how long to wait: the target's
 * retry_at sets the pace.
 */
static long
target_failed(SyncWorkerState *st, const QdrantError *err)
{
	osv_worker_transaction_begin("osv vector sync: recording");
	sync_record_target(err, false);
	worker_end(st->loop_cxt);
	st->cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
	health_set_state("backing off");
	qdrant_raise(LOG, err);
	return 1;
}

/*
 * Release the claims a previous life of worker "index" left behind (its
 * last claim: osv.vector_sync_targets.worker_claim_id for worker 0,
 * pool_claim_ids[index] for the others; worker 0 also those of the
 * workers past osv.vector_sync_workers, which a restart with a smaller
 * pool left) and every claim whose lease expired; the live claims of
 * the other workers and of an external drainer (osv.vector_sync_claim())
 * stay.  A released claim's request may have
 * been sent, and Qdrant may still apply it: its entries are in doubt for
 * the fence from now, with the user each claim read (claimed_user_id, which
 * outlives the user's rows), so the erasure sweep of a user erased
 * meanwhile waits for the fence and is repeated after it.  SPI connected.
 */
static void
release_dead_claims(int index)
{
	Oid			argtypes[3] = {INT4OID, INT4OID, INT4OID};
	Datum		args[3];

	args[0] = Int32GetDatum(osv_vector_sync_in_doubt_fence);
	args[1] = Int32GetDatum(index);
	args[2] = Int32GetDatum(osv_vector_sync_workers);
	spi_execute(SPI_OK_UPDATE_RETURNING, "UPDATE osv.vector_outbox o SET claim_id = NULL, claimed_version = NULL, lease_until = NULL,"
				" in_doubt_until = GREATEST(o.in_doubt_until, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
				"   pg_catalog.make_interval(secs => $1 OPERATOR(pg_catalog./) 1000.0)),"
				" in_doubt_user_id = COALESCE(o.claimed_user_id, o.in_doubt_user_id)"
				" WHERE o.claim_id IS NOT NULL"
				"   AND (o.claim_id OPERATOR(pg_catalog.=) ANY ((SELECT CASE WHEN $2 OPERATOR(pg_catalog.=) 0"
				"          THEN ARRAY[t.worker_claim_id] OPERATOR(pg_catalog.||) t.pool_claim_ids[$3:]"
				"          ELSE ARRAY[t.pool_claim_ids[$2]] END"
				"        FROM osv.vector_sync_targets t WHERE t.target OPERATOR(pg_catalog.=) 'qdrant')::bigint[])"
				"        OR o.lease_until OPERATOR(pg_catalog.<) pg_catalog.now())"
				" RETURNING o.claimed_user_id",
				3, argtypes, args, false, 0);
	if (SPI_processed > 0)
	{
		Datum	   *users = palloc(sizeof(Datum) * SPI_processed);
		int			nusers = 0;

		if (index == 0)
			elog(LOG, "osv vector sync released %llu outbox entries claimed before a restart",
				 (unsigned long long) SPI_processed);
		else
			elog(LOG, "osv vector sync %d released %llu outbox entries claimed before a restart",
				 index, (unsigned long long) SPI_processed);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				users[nusers++] = d;
		}
		/* The erasure of a user gone meanwhile is swept again after the fence. */
		if (nusers > 0)
			sync_requeue_sweeps(sync_int8_array(users, nusers));
	}
	/* The erasure sweeps the last life claimed (worker 0 alone claims them). */
	if (index == 0)
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_erasure_sweeps w SET claim_id = NULL, lease_until = NULL"
					" WHERE w.claim_id OPERATOR(pg_catalog.=) (SELECT t.worker_claim_id FROM osv.vector_sync_targets t"
					"   WHERE t.target OPERATOR(pg_catalog.=) 'qdrant')",
					0, NULL, NULL, false, 0);
}

/*
 * A new life of the worker: release what the last one left claimed, and
 * take the claim id of every batch of this one, recorded as the claim the
 * next life releases (one update per life, not per batch): worker 0's in
 * worker_claim_id (which also forgets the slots of workers past the
 * pool's size, released above), the others' in their element of
 * pool_claim_ids.  SPI connected.
 */
static void
begin_life(SyncWorkerState *st)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2];

	release_dead_claims(st->index);

	/*
	 * The entries kept for a later record (keep_held()) were claimed under
	 * the last life's claim, released just now (in doubt): no row is left
	 * to record them, and looking for them would go on for ever.
	 */
	st->held.n = 0;
	MemoryContextReset(st->held_cxt[0]);
	MemoryContextReset(st->held_cxt[1]);
	st->claim_id = sync_new_claim_id();
	args[0] = Int64GetDatum(st->claim_id);
	if (st->index == 0)
	{
		/*
		 * Element by element, not as the slice pool_claim_ids[1:$2]: a
		 * slice is renumbered from 1, and the array starts at a later
		 * element when a worker past 1 began its life first (an assignment
		 * to element i of a NULL array makes an array of that element
		 * alone), so the slice moved worker 2's claim to worker 1's slot.
		 */
		args[1] = Int32GetDatum(osv_vector_sync_workers - 1);
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets t SET worker_claim_id = $1,"
					" pool_claim_ids = CASE WHEN $2 OPERATOR(pg_catalog.>) 0 THEN"
					"   (SELECT pg_catalog.array_agg(t.pool_claim_ids[g.i] ORDER BY g.i)"
					"      FROM pg_catalog.generate_series(1, $2) AS g(i)) END"
					" WHERE t.target OPERATOR(pg_catalog.=) 'qdrant'",
					2, argtypes, args, false, 0);
	}
	else
	{
		args[1] = Int32GetDatum(st->index);
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET pool_claim_ids[$2] = $1"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant'",
					2, argtypes, args, false, 0);
	}
	st->leases_released = true;
}

/*
 * About how many summaries a new target should hold (SPI connected): the
 * undeleted ones with an embedding, the total of its progress rows.
 */
static int64
spi_count_live_embeddings(void)
{
	bool		isnull;
	Datum		d;

	spi_execute(SPI_OK_SELECT, "SELECT pg_catalog.count(*) FROM osv.summaries s"
				" WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL",
				0, NULL, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : DatumGetInt64(d);
}

/*
 * One page of the reconcile of a new target (no transaction open while
 * Qdrant is read): reconcile.c reads the next page (checking, and if
 * needed creating, the collection first) and, in a transaction, enqueues
 * its orphaned and stale points and the missing summaries of its id range.
 * When the last page is done the target is marked synced.  Memory: one
 * page.  Returns false after a failure of the target (recorded).
 */
static bool
reconcile_step(SyncWorkerState *st, long *wait_ms)
{
	QdrantError err;
	QdrantScrollPage page;
	uint64		enqueued;
	VsReconcile *rc = &st->reconcile;

	pgstat_report_activity(STATE_RUNNING, "osv vector sync: reconciling");
	health_set_state("reconciling");
	if (!reconcile_fetch(rc, &page, &err))
	{
		*wait_ms = target_failed(st, &err);
		return false;
	}

	osv_worker_transaction_begin("osv vector sync: reconciling");
	enqueued = reconcile_apply(rc, &page);
	if (rc->done)
		sync_set_synced_url(st->reconcile_url);
	worker_end(st->loop_cxt);

	if (enqueued > 0)
		elog(DEBUG1, "osv vector sync: reconcile enqueued %llu entries", (unsigned long long) enqueued);
	if (rc->done)
	{
		ereport(LOG,
				(errmsg("osv vector sync reconciled the target \"%s\"", osv_qdrant_url),
				 errdetail("%lld points were read; %lld orphaned, %lld stale and %lld missing points were enqueued.",
						   (long long) rc->scrolled, (long long) rc->orphaned,
						   (long long) rc->stale, (long long) rc->missing)));
		osv_progress_end("reconcile");
		reconcile_forget(st);
	}
	return true;
}

/*
 * One round of the worker: claim (transaction 1, committed), send (no
 * transaction), record (transaction 2).  Before the claim, due erasure
 * sweeps are sent, and a page of the reconcile of a new target is done.
 * Returns how long to sleep, 0 to go on at once.
 */
static long
worker_round(SyncWorkerState *st)
{
	MemoryContext loop_cxt = st->loop_cxt;
	VsClaimCursor *cursor = &st->cursor;
	VsSweep    *sweeps = NULL;
	int			nsweeps;
	long		wait_ms;
	bool		back_off_ended = false;
	TimestampTz t_claim = GetCurrentTimestamp();

	osv_worker_transaction_begin("osv vector sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) || !qdrant_configured())
	{
		/*
		 * Nothing to do here; the latch or the naptime brings us back.  In
		 * embedded mode (no URL) changes are not queued, so whatever target
		 * comes next must be reconciled: forget which one was synced.  (The
		 * outbox trigger forgets it too when it skips a change for want of a
		 * URL, so a URL emptied and set again between two rounds is seen.)
		 * The target's error and back-off belonged to the Qdrant that is no
		 * longer configured: clear them too, so that the status does not
		 * show them as current.
		 */
		if (OidIsValid(get_extension_oid("osv", true)))
		{
			spi_execute(SPI_OK_UPDATE,
						"UPDATE osv.vector_sync_targets SET synced_url = NULL, last_error = NULL,"
						" last_error_at = NULL, retry_at = NULL, consecutive_failures = 0"
						" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND (synced_url IS NOT NULL"
						"   OR last_error IS NOT NULL OR retry_at IS NOT NULL OR consecutive_failures OPERATOR(pg_catalog.<>) 0)",
						0, NULL, NULL, false, 0);
			health_set_state("idle");
		}
		else
			health_set_state("waiting for extension");
		worker_end(loop_cxt);
		(void) finish_in_flight(st);
		osv_progress_end("backfill");
		osv_progress_end("reconcile");
		st->leases_released = false;
		reconcile_forget(st);
		return osv_vector_sync_naptime;
	}

	/*
	 * A reload ends a back-off: the operator may have fixed the cause.  (The
	 * read-only check of the back-off below would not see this update, made
	 * after the transaction's snapshot: it is skipped then.)
	 */
	if (st->reloaded)
	{
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET retry_at = NULL"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND retry_at IS NOT NULL",
					0, NULL, NULL, false, 0);
		if (SPI_processed > 0)
			elog(LOG, "osv vector sync ended the back-off of the target after a configuration reload");
		st->reloaded = false;
		back_off_ended = true;
		/* Check the collection (and its cluster parameters) again. */
		qdrant_forget_collection();
		st->collection_checked = false;
	}
	record_collection_mismatch(st);

	/*
	 * A new life: release what the last one left claimed, and take the
	 * claim id of every batch of this one, recorded as the claim the next
	 * life releases (one update per life, not per batch).
	 */
	if (!st->leases_released)
		begin_life(st);

	/*
	 * A new target (or one that comes back after an embedded window):
	 * reconcile it, page by page, so that the summaries changed meanwhile
	 * are sent and the points of summaries deleted meanwhile go.
	 */
	{
		char	   *target = sync_target_url();
		Oid			argtype = TEXTOID;
		Datum		arg = CStringGetTextDatum(target);

		spi_execute(SPI_OK_SELECT, "SELECT FROM osv.vector_sync_targets"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND (synced_url IS NULL OR synced_url OPERATOR(pg_catalog.<>) $1)",
					1, &argtype, &arg, true, 1);
		if (SPI_processed == 0)
			reconcile_forget(st);
		else if (st->reconcile_url == NULL || strcmp(st->reconcile_url, target) != 0)
		{
			int64		live;

			reconcile_forget(st);
			st->reconcile_url = MemoryContextStrdup(st->worker_cxt, target);

			/* The error and back-off of the old target are not this one's. */
			spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET last_error = NULL, last_error_at = NULL,"
						" retry_at = NULL, consecutive_failures = 0 WHERE target OPERATOR(pg_catalog.=) 'qdrant'",
						0, NULL, NULL, false, 0);

			/*
			 * Progress: the reconcile scans about one point per live summary
			 * and enqueues what the collection lacks; the backfill is the
			 * drain of what it enqueues (at most every live summary).
			 */
			live = spi_count_live_embeddings();
			osv_progress_begin_shared("backfill", osv_qdrant_url, live, true);
			osv_progress_begin("reconcile", osv_qdrant_url, live, true);
			elog(LOG, "osv vector sync reconciles the new target \"%s\"", osv_qdrant_url);
		}
	}

	if (!back_off_ended && sync_target_backing_off(&wait_ms))
	{
		worker_end(loop_cxt);
		(void) finish_in_flight(st);
		health_set_state("backing off");
		return Min(wait_ms, (long) osv_vector_sync_naptime);
	}

	nsweeps = sync_claim_sweeps(SWEEPS_PER_ROUND, st->claim_id, &sweeps, loop_cxt);
	worker_end(loop_cxt);

	/* Sweeps and reconcile calls never overtake a batch in flight. */
	if ((nsweeps > 0 || st->reconcile_url != NULL) && !finish_in_flight(st))
	{
		release_sweeps(st, sweeps, nsweeps);
		return 1;
	}

	/*
	 * Check the collection once after the start and after each reload, even
	 * with nothing to send, so that a mismatch with the cluster settings is
	 * shown (recorded at the next round).  Creating it here sends everything
	 * again, as the sync does when it creates it.
	 */
	if (!st->collection_checked)
	{
		QdrantError err;
		bool		created;

		/*
		 * The sweeps claimed above are sent at the next round: release them
		 * now, or their lease would hold them back for minutes.
		 */
		release_sweeps(st, sweeps, nsweeps);
		if (!finish_in_flight(st))
			return 1;
		if (!qdrant_ensure_collection(&created, &err))
			return target_failed(st, &err);
		st->collection_checked = true;
		if (created)
		{
			uint64		count;

			osv_worker_transaction_begin("osv vector sync: backfilling");
			count = outbox_enqueue_all_live();
			worker_end(loop_cxt);
			/* Every live summary is enqueued: the backfill's total is exact. */
			osv_progress_begin_shared("backfill", osv_qdrant_url, (int64) count, false);
		}
		return 0;
	}

	/* Erasure sweeps that are due. */
	if (nsweeps > 0)
	{
		QdrantError err;
		bool		ok;
		bool		any_done = false;

		pgstat_report_activity(STATE_RUNNING, "osv vector sync: sweeping");
		health_set_state("sweeping");
		ok = sync_send_sweeps(sweeps, nsweeps, &err);
		for (int i = 0; i < nsweeps; i++)
			any_done |= sweeps[i].done;
		osv_worker_transaction_begin("osv vector sync: recording sweeps");
		sync_record_sweeps(sweeps, nsweeps);
		sync_record_target(ok ? NULL : &err, any_done);
		worker_end(loop_cxt);
		if (!ok)
		{
			*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
			health_set_state("backing off");
			qdrant_raise(LOG, &err);
			return 1;
		}
		elog(DEBUG1, "osv vector sync: %d erasure sweeps sent", nsweeps);
	}

	/* A page of the reconcile of a new target. */
	if (st->reconcile_url != NULL && !reconcile_step(st, &wait_ms))
		return wait_ms;

	return drain_batch(st, nsweeps > 0 || st->reconcile_url != NULL, t_claim);
}

/*
 * The claim, send and record of a batch of the outbox, the part of a round
 * that every worker of the pool runs (no transaction open).  "busy": the
 * round did other work (sweeps, a page of a reconcile), so it goes on at
 * once even when nothing is due.  A claim of a full batch wakes the other
 * workers of the pool, so that a burst is drained by all of them.  Returns
 * how long to sleep, 0 to go on at once.
 */
static long
drain_batch(SyncWorkerState *st, bool busy, TimestampTz t_claim)
{
	MemoryContext loop_cxt = st->loop_cxt;
	VsClaimCursor *cursor = &st->cursor;
	VsBatch		batch;
	long		wait_ms = 0;
	int			n;
	bool		idle = false;
	TimestampTz t_send;
	TimestampTz t_record;

	osv_worker_transaction_begin("osv vector sync: claiming");
	n = sync_claim(osv_vector_sync_batch_size, st->claim_id, cursor, &batch,
				   st->batch_cxt[st->slot]);

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

	/* A backfill is over once nothing is pending any more. */
	if (idle && osv_progress_active("backfill") && !osv_progress_active("reconcile"))
	{
		spi_execute(SPI_OK_SELECT, "SELECT FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending'",
					0, NULL, NULL, true, 1);
		if (SPI_processed == 0)
			osv_progress_end("backfill");
	}
	worker_end(loop_cxt);
	if (n == osv_vector_sync_batch_size && osv_vector_sync_workers > 1)
		osv_shmem_wake_sync_pool(st->index);
	if (idle)
	{
		/*
		 * A batch in flight held due entries when the wait was computed:
		 * once it is recorded, look again at once.
		 */
		if (st->in_flight)
			return finish_in_flight(st) ? 0 : 1;
		if (busy)
			return 0;
		if (wait_ms > 0)
			health_set_state("idle");
		return wait_ms;
	}

	/*
	 * The pipeline: a batch of upserts is written while the previous one is
	 * in flight (its claim and read above ran meanwhile too), sent as soon
	 * as the previous answer is in, and the previous outcome is recorded
	 * while it is in flight.  One request at a time, so the order of
	 * Qdrant's writes is the order of the batches; the batches are disjoint
	 * (the one in flight holds its claim).  A failure of the target sends
	 * nothing more: the new batch is released unsent.
	 */
	if (sync_send_prepare(&batch, st->slot + 1))
	{
		bool		target_failed = false;

		health_set_state("draining");

		if (st->in_flight)
		{
			pgstat_report_activity(STATE_RUNNING, "osv vector sync: sending");
			sync_send_finish(&st->inflight);
			st->in_flight = false;
			target_failed = st->inflight.target_failed;
			if (!target_failed)
				sync_send_start(&batch);
			if (!record_batches(st, &st->inflight, target_failed ? &batch : NULL))
			{
				MemoryContextReset(st->batch_cxt[0]);
				MemoryContextReset(st->batch_cxt[1]);
				return 1;		/* the target's retry_at sets the pace */
			}
			MemoryContextReset(st->batch_cxt[1 - st->slot]);
		}
		else
			sync_send_start(&batch);
		st->inflight = batch;
		st->in_flight = true;
		st->slot = 1 - st->slot;
		return 0;
	}

	/* Any other batch is sent on its own, after the one in flight. */
	if (!finish_in_flight(st))
	{
		(void) record_one_batch(st, &batch);
		MemoryContextReset(st->batch_cxt[st->slot]);
		return 1;
	}
	pgstat_report_activity(STATE_RUNNING, "osv vector sync: sending");
	health_set_state("draining");
	t_send = GetCurrentTimestamp();
	sync_send(&batch);

	t_record = GetCurrentTimestamp();
	{
		uint64		completed = record_one_batch(st, &batch);

		elog(DEBUG1, "osv vector sync: batch %lld of %d entries, %llu completed (claim %ld ms, send %ld ms, record %ld ms)",
			 (long long) batch.claim_id, n, (unsigned long long) completed,
			 (long) TimestampDifferenceMilliseconds(t_claim, t_send),
			 (long) TimestampDifferenceMilliseconds(t_send, t_record),
			 (long) TimestampDifferenceMilliseconds(t_record, GetCurrentTimestamp()));
	}
	MemoryContextReset(st->batch_cxt[st->slot]);

	if (batch.target_failed)
	{
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		health_set_state("backing off");
		qdrant_raise(LOG, &batch.target_error);
		return 1;				/* the target's retry_at sets the pace */
	}
	return 0;
}

/*
 * One round of a further worker of the pool (number 1 and up): claim, send
 * and record a batch of the outbox, as worker 0 does, and nothing else:
 * no sweeps, no reconcile, no collection check of its own (the first send
 * checks it, and creates it if need be), no storage queues, no health or
 * progress.  It honours the target's back-off like worker 0, forgets the
 * collection it checked at a reload, and starts a life of its own claims
 * as worker 0 does.  Returns how long to sleep, 0 to go on at once.
 */
static long
pool_round(SyncWorkerState *st)
{
	long		wait_ms;
	TimestampTz t_claim = GetCurrentTimestamp();

	osv_worker_transaction_begin("osv vector sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) || !qdrant_configured())
	{
		worker_end(st->loop_cxt);
		(void) finish_in_flight(st);
		st->leases_released = false;
		return osv_vector_sync_naptime;
	}
	if (st->reloaded)
	{
		qdrant_forget_collection();
		st->reloaded = false;
	}
	if (!st->leases_released)
		begin_life(st);
	if (sync_target_backing_off(&wait_ms))
	{
		worker_end(st->loop_cxt);
		(void) finish_in_flight(st);
		return Min(wait_ms, (long) osv_vector_sync_naptime);
	}
	worker_end(st->loop_cxt);
	return drain_batch(st, false, t_claim);
}

/* A round as a step of the worker skeleton. */
static void
sync_round_step(void *arg)
{
	SyncWorkerState *state = (SyncWorkerState *) arg;
	long		storage_wait_ms;

	/*
	 * Entries that applications held when their batch was recorded, first:
	 * their commits wake the worker (they changed the entries), and a
	 * round a second looks again for any other lock.  Every worker of the
	 * pool keeps its own.
	 */
	record_held(state);
	if (state->index > 0)
		state->wait_ms = pool_round(state);
	else
		state->wait_ms = worker_round(state);
	if (state->held.n > 0)
		state->wait_ms = Min(state->wait_ms, 1000);
	if (state->index > 0)
		return;				/* worker 0 alone drains the storage queues */

	/*
	 * The storage queues (src/storage_sync.c) share the worker; while a
	 * batch is in flight (a backfill: the worker goes on at once) they get
	 * every STORAGE_ROUND_EVERY-th round, which spares a transaction per
	 * batch.
	 */
	if (state->in_flight && ++state->storage_skipped < STORAGE_ROUND_EVERY)
		return;
	state->storage_skipped = 0;
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
	SyncWorkerState state;

	memset(&state, 0, sizeof(state));
	state.index = DatumGetInt32(main_arg);
	if (state.index == 0)
	{
		state.worker_cxt = osv_worker_start("osv vector sync");
		osv_shmem_publish_sync_worker(0);
		health_worker_start(OSV_WORKER_VECTOR_SYNC);
		elog(LOG, "osv vector sync worker started in database \"%s\"", osv_database);
	}
	else
	{
		/* A further worker of the pool: no health slot (worker 0 has it). */
		state.worker_cxt = osv_worker_start(psprintf("osv vector sync %d", state.index));
		osv_shmem_publish_sync_worker(state.index);
		elog(LOG, "osv vector sync worker %d started in database \"%s\"", state.index, osv_database);
	}

	state.loop_cxt = AllocSetContextCreate(state.worker_cxt, "osv vector sync batch",
										   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < 2; i++)
	{
		state.batch_cxt[i] = AllocSetContextCreate(state.worker_cxt, "osv vector sync claimed batch",
												   ALLOCSET_DEFAULT_SIZES);
		state.held_cxt[i] = AllocSetContextCreate(state.worker_cxt, "osv vector sync held entries",
												  ALLOCSET_SMALL_SIZES);
	}
	state.cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
	state.leases_released = false;
	state.wait_ms = 0;

	for (;;)
	{
		if (osv_worker_wait(state.wait_ms))
			state.reloaded = true;
		if (!osv_worker_run(state.loop_cxt, sync_round_step, &state))
		{
			/*
			 * As after a restart, without the process's exit.  A batch in
			 * flight is given up: the release of this life's claims makes
			 * its entries in doubt.
			 */
			qdrant_upsert_abort();
			state.in_flight = false;

			/*
			 * A reconcile starts over (the page the ERROR interrupted may
			 * have moved its cursor without its enqueues), and its progress
			 * row goes until then.
			 */
			reconcile_forget(&state);
			osv_progress_end("reconcile");
			MemoryContextReset(state.batch_cxt[0]);
			MemoryContextReset(state.batch_cxt[1]);
			/* Held entries are this life's claims too. */
			state.held.n = 0;
			MemoryContextReset(state.held_cxt[0]);
			MemoryContextReset(state.held_cxt[1]);
			state.cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
			state.leases_released = false;
			state.wait_ms = OSV_WORKER_RESTART_TIME * 1000L;
		}
	}
}
