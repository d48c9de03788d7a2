/*-------------------------------------------------------------------------
 *
 * outbox.h
 *		The outbox of summary changes: enqueue and wake-up.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/outbox.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_OUTBOX_H
#define OSV_OUTBOX_H

/*
 * The tail of every statement that enqueues summaries, "INSERT INTO
 * osv.vector_outbox AS o (summary_id) ...": an entry already queued gets a
 * new version and is due again (a parked one is pending again).
 */
#define OUTBOX_SET_CLAUSE \
	" ON CONFLICT (summary_id) DO UPDATE SET" \
	" version = o.version OPERATOR(pg_catalog.+) 1, state = 'pending', attempts = 0," \
	" next_attempt_at = pg_catalog.now(), last_error = NULL," \
	" enqueued_at = CASE WHEN o.state OPERATOR(pg_catalog.=) 'failed' THEN pg_catalog.now() ELSE o.enqueued_at END"

extern uint64 outbox_enqueue(const char *sql, int nargs, const Oid *argtypes,
							 const Datum *values);
extern uint64 outbox_enqueue_all_live(void);
extern uint64 outbox_enqueue_array(Datum ids);
extern void outbox_wake_worker_at_commit(void);

#endif							/* OSV_OUTBOX_H */
