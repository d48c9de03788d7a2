/*-------------------------------------------------------------------------
 *
 * qdrant.h
 *		REST client of Qdrant: collection, points, query, scroll.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/qdrant.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_QDRANT_H
#define OSV_QDRANT_H

#include "lib/stringinfo.h"

/* How a failed call should be handled. */
typedef enum QdrantErrorKind
{
	QDRANT_OK = 0,
	QDRANT_RETRY,				/* transport, 408, 429, 5xx, unreadable answer */
	QDRANT_AUTH,				/* 401 or 403: the API key is wrong */
	QDRANT_GONE,				/* 404: the collection does not exist */
	QDRANT_REJECTED,			/* 400, 422 ...: Qdrant refuses this content */
	QDRANT_CONFIG				/* the collection does not fit osv's settings */
} QdrantErrorKind;

typedef struct QdrantError
{
	QdrantErrorKind kind;
	int			sqlstate;
	long		http_status;	/* 0 when there was no HTTP answer */
	long		retry_after_ms; /* Retry-After, -1 when not given */
	bool		in_doubt;		/* the request may have been applied (sent,
								 * then no valid answer: time-out, lost
								 * connection, 5xx, a 2xx that is not a
								 * success) */
	char	   *message;		/* primary message, palloc'd */
	char	   *detail;			/* or NULL */
	char	   *hint;			/* or NULL */
} QdrantError;

/* A point to upsert; the strings and the vector belong to the caller. */
typedef struct QdrantPoint
{
	int64		id;
	const float4 *vector;
	int			dimensions;
	int64		user_id;
	const char *topic;			/* NULL: no topic */
	const char *created_at;		/* RFC 3339 */
	int64		version;
} QdrantPoint;

typedef struct QdrantHit
{
	int64		id;
	float4		score;
} QdrantHit;

typedef struct QdrantScrollPage
{
	int			npoints;
	int64	   *ids;
	int64	   *versions;
	bool	   *has_version;
	bool		has_next;
	int64		next_offset;
} QdrantScrollPage;

extern bool qdrant_configured(void);
extern void qdrant_forget_collection(void);
extern bool qdrant_ensure_collection(bool *created, QdrantError *err);
extern bool qdrant_create_collection(const char *name, int dims, QdrantError *err);
extern const char *qdrant_collection_mismatch(uint64 *checks);
extern void qdrant_set_layout(int cur_version, int cur_dims, int next_version,
							  int next_dims);
extern bool qdrant_has_next(void);
extern void qdrant_use_next(bool on);
extern bool qdrant_ensure_next(bool *created, QdrantError *err);
extern bool qdrant_switch_alias(int version, int dims, QdrantError *err);
extern bool qdrant_drop_collection(QdrantError *err);
extern bool qdrant_upsert(const QdrantPoint *points, int npoints, QdrantError *err);
extern StringInfo qdrant_upsert_body(const QdrantPoint *points, int npoints, int slot);
extern bool qdrant_collection_ensured(void);
extern void qdrant_upsert_start(StringInfo body);
extern bool qdrant_upsert_finish(QdrantError *err);
extern void qdrant_upsert_abort(void);
extern bool qdrant_delete_ids(const int64 *ids, int nids, QdrantError *err);
extern bool qdrant_delete_user(int64 user_id, QdrantError *err);
extern bool qdrant_query(const float4 *vector, int dimensions, int limit,
						 const int64 *user_id, const char *topic,
						 const int64 *exclude_id,
						 QdrantHit **hits, int *nhits, QdrantError *err);
extern bool qdrant_scroll(const int64 *offset, int limit,
						  QdrantScrollPage *page, QdrantError *err);
extern void qdrant_raise(int elevel, const QdrantError *err);

#endif							/* OSV_QDRANT_H */
