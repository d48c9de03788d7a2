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
 * osv.qdrant_url is empty.  Before each claim it sends the erasure sweeps
 * that are due (osv.vector_erasure_sweeps) and, while a new target (or
 * one that comes back after an embedded window) is being reconciled, one
 * page of that reconcile: every live summary was enqueued when it started,
 * and each page's points without a live summary are enqueued, so the
 * target converges with the database in both directions.  A reload ends a
 * back-off of the target.  At start and after an ERROR it releases its own
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

/* Points per page of the worker's reconcile of a new target. */
#define RECONCILE_PAGE 1000

/* Rounds with a batch in flight per round of the storage queues. */
#define STORAGE_ROUND_EVERY 8

/* Erasure sweeps sent per round at most. */
#define SWEEPS_PER_ROUND 16

/* The state of the worker across rounds. */
typedef struct SyncWorkerState
{
	MemoryContext worker_cxt;	/* lives as long as the worker */
	MemoryContext loop_cxt;		/* reset at every round */
	VsClaimCursor cursor;
	bool		leases_released;	/* claims of a previous life released */
	int64		claim_id;		/* the claim id of this life's batches */
	bool		reloaded;		/* configuration reloaded since last round */
	long		wait_ms;		/* result of the last round */
	char	   *reconcile_url;	/* target being reconciled (worker_cxt), or
								 * NULL */
	bool		reconcile_has_offset;
	int64		reconcile_offset;	/* next page of the reconcile's scroll */
	/* The pipeline: batches alternate between two slots. */
	MemoryContext batch_cxt[2];	/* a batch's memory, reset when recorded */
	int			slot;			/* slot of the next batch */
	bool		in_flight;		/* inflight was sent, its answer not read */
	VsBatch		inflight;
	int			storage_skipped;	/* storage rounds skipped in a row */
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
 * Record the outcome of a sent batch (and of "unsent", a batch claimed but
 * not sent because the target failed meanwhile, if not NULL) in one
 * transaction.  Returns false after a failure of the target (logged).
 */
static bool
record_batches(SyncWorkerState *st, VsBatch *batch, VsBatch *unsent)
{
	uint64		completed;

	osv_worker_transaction_begin("osv vector sync: recording");
	completed = sync_record(batch);
	if (unsent != NULL)
		(void) sync_record(unsent);
	elog(DEBUG1, "osv vector sync: batch of %d entries, %llu completed",
		 batch->n, (unsigned long long) completed);
	worker_end(st->loop_cxt);
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

/* Forget a reconcile in progress. */
static void
reconcile_forget(SyncWorkerState *st)
{
	if (st->reconcile_url != NULL)
		pfree(st->reconcile_url);
	st->reconcile_url = NULL;
	st->reconcile_has_offset = false;
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
	qdrant_raise(LOG, err);
	return 1;
}

/*
 * Release the claims a previous life of the worker left behind (its last
 * claim, recorded in osv.vector_sync_targets.worker_claim_id) and every
 * claim whose lease expired; the live claims of an external drainer
 * (osv.vector_sync_claim()) stay.  A released claim's request may have
 * been sent, and Qdrant may still apply it: its entries are in doubt for
 * the fence from now.  SPI connected.
 */
static void
release_dead_claims(void)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(osv_vector_sync_in_doubt_fence);

	spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o SET claim_id = NULL, claimed_version = NULL, lease_until = NULL,"
				" in_doubt_until = GREATEST(o.in_doubt_until, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
				"   pg_catalog.make_interval(secs => $1 OPERATOR(pg_catalog./) 1000.0))"
				" WHERE o.claim_id IS NOT NULL"
				"   AND (o.claim_id OPERATOR(pg_catalog.=) (SELECT t.worker_claim_id FROM osv.vector_sync_targets t WHERE t.target OPERATOR(pg_catalog.=) 'qdrant')"
				"        OR o.lease_until OPERATOR(pg_catalog.<) pg_catalog.now())",
				1, &argtype, &arg, false, 0);
	if (SPI_processed > 0)
		elog(LOG, "osv vector sync released %llu outbox entries claimed before a restart",
			 (unsigned long long) SPI_processed);
}

/*
 * One page of the reconcile of a new target (no transaction open): make
 * sure the collection exists, scroll one page of it and enqueue the points
 * that have no live summary (every live summary was enqueued when the
 * reconcile started, which covers the missing and the stale ones).  When
 * the last page is done the target is marked synced.  Memory: one page.
 * Returns false after a failure of the target (recorded).
 */
static bool
reconcile_step(SyncWorkerState *st, long *wait_ms)
{
	QdrantError err;
	QdrantScrollPage page;
	bool		created;
	bool		done = false;
	uint64		enqueued = 0;

	pgstat_report_activity(STATE_RUNNING, "osv vector sync: reconciling");
	memset(&page, 0, sizeof(page));
	if (!qdrant_ensure_collection(&created, &err))
	{
		*wait_ms = target_failed(st, &err);
		return false;
	}
	if (created)
		done = true;			/* a new collection holds no orphan */
	else if (!qdrant_scroll(st->reconcile_has_offset ? &st->reconcile_offset : NULL,
							RECONCILE_PAGE, &page, &err))
	{
		if (err.kind != QDRANT_GONE)
		{
			*wait_ms = target_failed(st, &err);
			return false;
		}
		/* Vanished: the next send creates it and sends everything again. */
		qdrant_forget_collection();
		done = true;
	}

	osv_worker_transaction_begin("osv vector sync: reconciling");
	if (!done)
	{
		enqueued = sync_reconcile_page(&page, true);
		if (page.has_next)
		{
			st->reconcile_offset = page.next_offset;
			st->reconcile_has_offset = true;
		}
		else
			done = true;
	}
	if (done)
		sync_set_synced_url(st->reconcile_url);
	worker_end(st->loop_cxt);

	if (enqueued > 0)
		elog(DEBUG1, "osv vector sync: reconcile enqueued %llu points without a live summary",
			 (unsigned long long) enqueued);
	if (done)
	{
		elog(LOG, "osv vector sync reconciled the target \"%s\"", osv_qdrant_url);
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
	VsBatch		batch;
	VsSweep    *sweeps = NULL;
	int			nsweeps;
	long		wait_ms;
	int			n;
	bool		idle = false;
	bool		back_off_ended = false;
	TimestampTz t_claim = GetCurrentTimestamp();
	TimestampTz t_send;
	TimestampTz t_record;

	osv_worker_transaction_begin("osv vector sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) || !qdrant_configured())
	{
		/*
		 * Nothing to do here; the latch or the naptime brings us back.  In
		 * embedded mode (no URL) changes are not queued, so whatever target
		 * comes next must be reconciled: forget which one was synced.  (The
		 * outbox trigger forgets it too when it skips a change for want of a
		 * URL, so a URL emptied and set again between two rounds is seen.)
		 */
		if (OidIsValid(get_extension_oid("osv", true)))
		{
			spi_execute(SPI_OK_UPDATE,
						"UPDATE osv.vector_sync_targets SET synced_url = NULL"
						" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND synced_url IS NOT NULL",
						0, NULL, NULL, false, 0);
		}
		worker_end(loop_cxt);
		(void) finish_in_flight(st);
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
	}

	/*
	 * A new life: release what the last one left claimed, and take the
	 * claim id of every batch of this one, recorded as the claim the next
	 * life releases (one update per life, not per batch).
	 */
	if (!st->leases_released)
	{
		Oid			argtype = INT8OID;
		Datum		arg;

		release_dead_claims();
		st->claim_id = sync_new_claim_id();
		arg = Int64GetDatum(st->claim_id);
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET worker_claim_id = $1 WHERE target OPERATOR(pg_catalog.=) 'qdrant'",
					1, &argtype, &arg, false, 0);
		st->leases_released = true;
	}

	/*
	 * A new target (or one that comes back after an embedded window):
	 * enqueue every live summary and reconcile it, page by page, so that the
	 * points of summaries deleted meanwhile go too.
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
			uint64		count;

			reconcile_forget(st);
			count = outbox_enqueue_all_live();
			st->reconcile_url = MemoryContextStrdup(st->worker_cxt, target);
			elog(LOG, "osv vector sync enqueued %llu summaries for the new target \"%s\" and reconciles it",
				 (unsigned long long) count, osv_qdrant_url);
		}
	}

	if (!back_off_ended && sync_target_backing_off(&wait_ms))
	{
		worker_end(loop_cxt);
		(void) finish_in_flight(st);
		return Min(wait_ms, (long) osv_vector_sync_naptime);
	}

	nsweeps = sync_read_sweeps(SWEEPS_PER_ROUND, &sweeps, loop_cxt);
	worker_end(loop_cxt);

	/* Sweeps and reconcile calls never overtake a batch in flight. */
	if ((nsweeps > 0 || st->reconcile_url != NULL) && !finish_in_flight(st))
		return 1;

	/* Erasure sweeps that are due. */
	if (nsweeps > 0)
	{
		QdrantError err;
		bool		ok;
		bool		any_done = false;

		pgstat_report_activity(STATE_RUNNING, "osv vector sync: sweeping");
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
			qdrant_raise(LOG, &err);
			return 1;
		}
		elog(DEBUG1, "osv vector sync: %d erasure sweeps sent", nsweeps);
	}

	/* A page of the reconcile of a new target. */
	if (st->reconcile_url != NULL && !reconcile_step(st, &wait_ms))
		return wait_ms;

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
	worker_end(loop_cxt);
	if (idle)
	{
		/*
		 * A batch in flight held due entries when the wait was computed:
		 * once it is recorded, look again at once.
		 */
		if (st->in_flight)
			return finish_in_flight(st) ? 0 : 1;
		return (nsweeps > 0 || st->reconcile_url != NULL) ? 0 : wait_ms;
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
		osv_worker_transaction_begin("osv vector sync: recording");
		(void) sync_record(&batch);
		worker_end(loop_cxt);
		MemoryContextReset(st->batch_cxt[st->slot]);
		return 1;
	}
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
	MemoryContextReset(st->batch_cxt[st->slot]);

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

	state->wait_ms = worker_round(state);

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
	state.worker_cxt = osv_worker_start("osv vector sync");
	osv_shmem_publish_sync_worker();
	elog(LOG, "osv vector sync worker started in database \"%s\"", osv_database);

	state.loop_cxt = AllocSetContextCreate(state.worker_cxt, "osv vector sync batch",
										   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < 2; i++)
		state.batch_cxt[i] = AllocSetContextCreate(state.worker_cxt, "osv vector sync claimed batch",
												   ALLOCSET_DEFAULT_SIZES);
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
			MemoryContextReset(state.batch_cxt[0]);
			MemoryContextReset(state.batch_cxt[1]);
			state.cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
			state.leases_released = false;
			state.wait_ms = OSV_WORKER_RESTART_TIME * 1000L;
		}
	}
}
