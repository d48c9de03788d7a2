/*-------------------------------------------------------------------------
 *
 * sync_engine.h
 *		Claim, send, record: the sync of the outbox to Qdrant.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/sync_engine.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_SYNC_ENGINE_H
#define OSV_SYNC_ENGINE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#include "qdrant.h"

/* What became of one entry of a batch. */
typedef enum VsOutcome
{
	VS_UNSENT = 0,				/* not sent (target failure): release as is */
	VS_DONE,					/* Qdrant holds the desired state */
	VS_FAILED,					/* rejected: back off, park after max attempts */
	VS_PARKED,					/* cannot ever be sent as it is: park now */
	VS_IN_DOUBT					/* sent, outcome unknown (time-out, lost
								 * connection ...): may still be applied */
} VsOutcome;

typedef struct VsEntry
{
	int64		summary_id;		/* 0: TRUNCATE marker */
	int64		version;		/* claimed version */
	bool		upsert;			/* desired state: point present */
	QdrantPoint point;			/* when upsert */
	bool		upsert_next;	/* desired state in the next collection */
	QdrantPoint point_next;		/* when upsert_next */
	VsOutcome	outcome;
	char	   *error;
} VsEntry;

typedef struct VsBatch
{
	int64		claim_id;
	int			n;
	VsEntry    *entries;
	bool		target_failed;
	QdrantError target_error;
	bool		resync;			/* enqueue every live summary when recording */
	bool		any_sent;
	int			next_dims;		/* dimensions of the running re-embedding, 0:
								 * none */
	/* sync_send_prepare(): the upserts of the body written for them */
	VsEntry   **pipelined;
	int			npipelined;
	StringInfo	body;
} VsBatch;

/*
 * Where a claim's scan of the due entries starts: after this key of
 * vector_outbox_next_attempt_at_idx.  The entries a sync deleted stay in
 * the index until they can be killed (osv.vector_sync(), which claims
 * every batch in the caller's transaction: not before it commits; the
 * worker: not while an older snapshot exists anywhere), so a claim that
 * started from the beginning each time would walk them all again at every
 * batch, which made a backfill quadratic.  So a drain resumes after its
 * last claimed key; the worker goes back to the beginning whenever a claim
 * comes back short of a full batch (the end of what is due), and after
 * VS_CLAIMS_PER_PASS claims.
 */
typedef struct VsClaimCursor
{
	TimestampTz next_attempt_at;
	int64		summary_id;
	int			claims;			/* claims made since the start */
} VsClaimCursor;

#define VS_CLAIM_CURSOR_START {DT_NOBEGIN, -1, 0}

/* An erasure sweep (osv.vector_erasure_sweeps) claimed for sending. */
typedef struct VsSweep
{
	int64		claim_id;
	int64		user_id;
	TimestampTz due_at;			/* as read: the row is completed only if
								 * unchanged */
	bool		done;
	char	   *error;
} VsSweep;

/*
 * The worker starts over after this many full claims in a row, so that an
 * entry it went by (locked by a writer at the time) waits at most that
 * many batches even while the queue never runs short.
 */
#define VS_CLAIMS_PER_PASS 64


/* Columns read for a point, after the key columns of a query. */
#define POINT_COLUMNS \
	"s.deleted_at IS NULL AND s.embedding IS NOT NULL, s.embedding, s.user_id, s.topic, " \
	"pg_catalog.to_char(pg_catalog.timezone('UTC', s.created_at), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Columns read for a point of the next collection, after POINT_COLUMNS. */
#define NEXT_POINT_COLUMNS \
	"s.deleted_at IS NULL AND s.embedding_next IS NOT NULL, s.embedding_next"

extern Datum sync_int8_array(Datum *elems, int n);
extern bool sync_read_point(int64 id, uint64 row, int first, QdrantPoint *p,
							char **problem);
extern char *sync_target_url(void);
extern void sync_set_synced_url(const char *url);
extern bool sync_target_backing_off(long *wait_ms);
extern int64 sync_new_claim_id(void);
extern int	sync_claim(int limit, int64 claim_id, VsClaimCursor *cursor,
					   VsBatch *batch, MemoryContext mcxt);
extern void sync_send(VsBatch *batch);
extern bool sync_send_prepare(VsBatch *batch, int slot);
extern void sync_send_start(VsBatch *batch);
extern void sync_send_finish(VsBatch *batch);
extern uint64 sync_record(VsBatch *batch, VsBatch *held);
extern void sync_record_target(const QdrantError *err, bool any_sent);
extern void sync_requeue_sweeps(Datum users);
extern int	sync_claim_sweeps(int limit, int64 claim_id, VsSweep **sweeps,
							  MemoryContext mcxt);
extern bool sync_send_sweeps(VsSweep *sweeps, int n, QdrantError *err);
extern void sync_record_sweeps(VsSweep *sweeps, int n);

#endif							/* OSV_SYNC_ENGINE_H */
