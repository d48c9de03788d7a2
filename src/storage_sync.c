/*-------------------------------------------------------------------------
 *
 * storage_sync.c
 *		Deletion queue of object storage and erasure ledger copies.
 *
 * Two queues, drained together by one engine:
 *	 osv.storage_deletions	objects of hard-deleted documents (trigger
 *							storage_queue on osv.documents): S3
 *							DeleteObjects of up to osv.s3_delete_batch_size
 *							keys of one bucket (see "DeleteObjects" below),
 *							DeleteObject for a lone key;
 *	 osv.erasure_ledger		receipts whose copy in osv.erasure_ledger_bucket
 *							is due (object_written_at NULL): S3 PutObject.
 * (The Qdrant sweeps of erasures, osv.vector_erasure_sweeps, are the vector
 * sync's: src/sync_engine.c.)
 * Each follows the outbox discipline of the vector sync: a short
 * transaction claims due rows FOR UPDATE SKIP LOCKED, sets a claim id, a
 * lease and attempts + 1, and commits; the requests run with no
 * transaction open (s3.c); a second transaction records: done
 * rows are deleted (or marked written), failures get their error and a
 * next attempt with exponential backoff and jitter.  Nothing is ever
 * parked: a 403 or an unreachable endpoint may be fixed by a reload, so
 * every failure is retried (backoff up to osv.storage_sync_backoff_max) and
 * shown in osv.storage_sync_status.  A claim whose sync died is taken again
 * once its lease has run out.  DeleteObject answered 204, 200 or 404 is
 * done, and so is a key that DeleteObjects lists as Deleted or NoSuchKey;
 * an object that a row of osv.documents still names (found when claiming)
 * is not deleted and its entry is done.
 *
 * The sync worker runs storage_sync_worker_round() in its loop; the
 * SQL-callable osv.storage_sync() runs claim, send and record inside the
 * caller's transaction (a function cannot commit), holding the claimed
 * rows' locks during the requests.
 *
 * This file also defines the object storage settings (in one block, to be
 * moved to the settings file) and osv.hmac_sha256(), the keyed hash of the
 * erasure ledger.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/storage_sync.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/md5.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "outbox.h"
#include "qdrant.h"
#include "s3.h"
#include "settings.h"
#include "storage_sync.h"
#include "worker.h"

/* Most keys in one DeleteObjects request (S3's limit). */
#define SS_MAX_DELETE_BATCH 1000

/* ------------------------------------------------------------------------
 * Settings (a block of its own, to move to the settings file)
 * ------------------------------------------------------------------------
 */
char	   *osv_s3_endpoint = NULL;
char	   *osv_s3_region = NULL;
char	   *osv_s3_access_key_id = NULL;
bool		osv_s3_path_style = true;
int			osv_s3_timeout = 10000;
int			osv_s3_connect_timeout = 2000;
int			osv_s3_max_connections = 16;
char	   *osv_erasure_ledger_bucket = NULL;
int			osv_storage_sync_batch_size = 500;
int			osv_storage_sync_backoff = 1000;
int			osv_storage_sync_backoff_max = 300000;
int			osv_s3_delete_batch_size = 1000;

static bool
check_s3_endpoint(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
	{
		GUC_check_errdetail("The endpoint must start with http:// or https://.");
		return false;
	}
	if (strchr(v, '?') != NULL || strchr(v, '#') != NULL || strchr(v, ' ') != NULL)
	{
		GUC_check_errdetail("The endpoint must not contain a query, a fragment or spaces.");
		return false;
	}
	return true;
}

static bool
check_bucket_name(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;
	size_t		len = v ? strlen(v) : 0;

	if (len == 0)
		return true;
	if (len < 3 || len > 63)
	{
		GUC_check_errdetail("A bucket name has 3 to 63 characters.");
		return false;
	}
	for (const char *p = v; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
		{
			GUC_check_errdetail("A bucket name consists of lower-case letters, digits, dots and hyphens.");
			return false;
		}
	}
	return true;
}

void
storage_sync_define_settings(void)
{
	DefineCustomStringVariable("osv.s3_endpoint",
							   "Sets the URL of the S3-compatible object storage; empty keeps object deletions queued.",
							   NULL, &osv_s3_endpoint, "",
							   PGC_SIGHUP, 0, check_s3_endpoint, NULL, NULL);
	DefineCustomStringVariable("osv.s3_region",
							   "Sets the region that S3 request signatures are scoped to.",
							   NULL, &osv_s3_region, "us-east-1",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("osv.s3_access_key_id",
							   "Sets the access key id of S3 requests.",
							   NULL, &osv_s3_access_key_id, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("osv.s3_path_style",
							 "Sends S3 requests in path style (endpoint/bucket/key), as MinIO expects.",
							 "Off selects virtual-hosted style (bucket.endpoint/key).",
							 &osv_s3_path_style, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.s3_timeout",
							"Sets the time limit of one request to object storage.",
							NULL, &osv_s3_timeout, 10000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.s3_connect_timeout",
							"Sets the time limit for connecting to object storage.",
							NULL, &osv_s3_connect_timeout, 2000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.s3_max_connections",
							"Sets the number of requests to object storage in flight at once.",
							NULL, &osv_s3_max_connections, 16, 1, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("osv.erasure_ledger_bucket",
							   "Sets the bucket that keeps a copy of every erasure receipt; empty keeps none.",
							   NULL, &osv_erasure_ledger_bucket, "",
							   PGC_SIGHUP, 0, check_bucket_name, NULL, NULL);
	DefineCustomIntVariable("osv.storage_sync_batch_size",
							"Sets the number of object deletions claimed in one batch.",
							NULL, &osv_storage_sync_batch_size, 500, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.s3_delete_batch_size",
							"Sets the number of objects deleted by one request (S3 DeleteObjects).",
							"1 sends one DeleteObject per object, for stores without DeleteObjects.",
							&osv_s3_delete_batch_size, 1000, 1, SS_MAX_DELETE_BATCH,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.storage_sync_backoff",
							"Sets the delay before the first retry of a failed object storage request.",
							NULL, &osv_storage_sync_backoff, 1000, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.storage_sync_backoff_max",
							"Sets the longest delay between retries of a failed object storage request.",
							NULL, &osv_storage_sync_backoff_max, 300000, 1, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * The engine
 * ------------------------------------------------------------------------
 */

/* Entries of each kind claimed per batch besides the deletions. */
#define SS_SIDE_BATCH 32

/* Longest sleep the storage queues ask of the worker. */
#define SS_NAPTIME_MS 10000

typedef struct SsDeletion
{
	int64		id;
	bool		referenced;		/* a document row still names the object */
	S3Request	req;			/* its DeleteObject, when sent alone */
	int			multi;			/* its DeleteObjects request, or -1 */
	int			key_index;		/* its key in that request */
	/* outcome */
	bool		done;
	int			status;			/* HTTP status, 0 when no answer came */
	char	   *error;
} SsDeletion;

/*
 * One DeleteObjects request: distinct keys of one bucket, sorted (several
 * queue rows may name one key).
 */
typedef struct SsMulti
{
	const char *bucket;
	int			nkeys;
	const char **keys;
	S3Request	req;
	/* outcome */
	bool		refused;		/* the store refused the request: send singly */
	char	   *error;			/* the request failed as a whole */
	bool	   *key_done;
	char	  **key_error;
} SsMulti;

typedef struct SsLedger
{
	char	   *receipt;
	S3Request	req;
} SsLedger;

typedef struct SsBatch
{
	int64		claim_id;
	int			ndel;
	SsDeletion *del;
	int			nmulti;
	SsMulti    *multi;
	int			nledger;
	SsLedger   *ledger;
	/* outcome */
	int			failures;
	char	   *last_error;
} SsBatch;

static const char claim_deletions_sql[] =
"WITH c AS (SELECT d.id FROM osv.storage_deletions d"
"  WHERE d.next_attempt_at <= pg_catalog.now()"
"    AND (d.lease_until IS NULL OR d.lease_until < pg_catalog.now())"
"  ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE SKIP LOCKED)"
" UPDATE osv.storage_deletions d SET claim_id = $2,"
"   lease_until = pg_catalog.now() + pg_catalog.make_interval(secs => $3 / 1000.0),"
"   attempts = d.attempts + 1, last_attempt_at = pg_catalog.now()"
" FROM c WHERE d.id = c.id"
" RETURNING d.id, d.storage_bucket, d.storage_key,"
"   EXISTS (SELECT FROM osv.documents x WHERE x.storage_bucket = d.storage_bucket AND x.storage_key = d.storage_key)";

static const char claim_ledger_sql[] =
"WITH c AS (SELECT l.receipt FROM osv.erasure_ledger l"
"  WHERE l.object_written_at IS NULL AND l.object_next_attempt_at <= pg_catalog.now()"
"    AND (l.object_lease_until IS NULL OR l.object_lease_until < pg_catalog.now())"
"  ORDER BY l.object_next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
" UPDATE osv.erasure_ledger l SET object_claim_id = $2,"
"   object_lease_until = pg_catalog.now() + pg_catalog.make_interval(secs => $3 / 1000.0),"
"   object_attempts = l.object_attempts + 1"
" FROM c WHERE l.receipt = c.receipt"
" RETURNING l.receipt::text, l.object_key, osv.erasure_ledger_document(l)::text,"
"   pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(osv.erasure_ledger_document(l)::text, 'UTF8')), 'hex')";

/* Backoff of a row with "attempts" (already counted), from $5 and $6. */
#define SS_BACKOFF(attempts) \
	"pg_catalog.now() + pg_catalog.make_interval(secs => LEAST($5::float8 * 2 ^ LEAST(" attempts " - 1, 30), $6::float8)" \
	" * (0.5 + pg_catalog.random() / 2) / 1000.0)"

static const char record_deletions_done_sql[] =
"DELETE FROM osv.storage_deletions d WHERE d.id = ANY ($1) AND d.claim_id = $2"
" RETURNING d.erasure_id IS NOT NULL";

static const char record_deletions_failed_sql[] =
"UPDATE osv.storage_deletions d SET claim_id = NULL, lease_until = NULL,"
"   last_status = NULLIF(f.status, 0), last_error = f.error,"
"   next_attempt_at = " SS_BACKOFF("d.attempts")
" FROM ROWS FROM (pg_catalog.unnest($1::int8[]), pg_catalog.unnest($3::int4[]), pg_catalog.unnest($4::text[])) AS f(id, status, error)"
" WHERE d.id = f.id AND d.claim_id = $2";

static const char record_ledger_done_sql[] =
"UPDATE osv.erasure_ledger l SET object_written_at = pg_catalog.now(), object_claim_id = NULL,"
"   object_lease_until = NULL, object_last_error = NULL, object_last_error_at = NULL"
" WHERE l.receipt = ANY ($1::text[]::uuid[]) AND l.object_claim_id = $2";

static const char record_ledger_failed_sql[] =
"UPDATE osv.erasure_ledger l SET object_claim_id = NULL, object_lease_until = NULL,"
"   object_last_error = f.error, object_last_error_at = pg_catalog.now(),"
"   object_next_attempt_at = " SS_BACKOFF("l.object_attempts")
" FROM ROWS FROM (pg_catalog.unnest($1::text[]::uuid[]), pg_catalog.unnest($3::int4[]), pg_catalog.unnest($4::text[])) AS f(receipt, status, error)"
" WHERE l.receipt = f.receipt AND l.object_claim_id = $2";

/* Run a statement with arguments (SPI connected); ERROR unless "expected". */
static void
ss_exec(int expected, const char *sql, int nargs, Oid *argtypes, Datum *values, bool read_only)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, read_only, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

static char *
ss_getstring(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

static int64
ss_getint8(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* The lease of a claim: long enough for every request of a batch. */
static int64
ss_lease_ms(int n)
{
	int			conns = Max(osv_s3_max_connections, 1);

	return (int64) osv_s3_timeout * ((n + conns - 1) / conns + 1) + 30000;
}

static bool
ss_ledger_configured(void)
{
	return s3_missing_setting() == NULL &&
		osv_erasure_ledger_bucket != NULL && osv_erasure_ledger_bucket[0] != '\0';
}

/* ------------------------------------------------------------------------
 * DeleteObjects (multi-object delete)
 *
 * The claimed deletions are sorted by bucket and key and cut into requests
 * of at most osv.s3_delete_batch_size distinct keys of one bucket: POST
 * /<bucket>?delete with <Delete><Object><Key>...</Key></Object>...</Delete>,
 * keys XML-escaped, Content-MD5 and x-amz-content-sha256 of the body
 * (hashed while the claiming transaction is open: pg_cryptohash needs a
 * resource owner).  A key that XML 1.0 cannot carry (a control character)
 * and a request that would hold a single key go as a DeleteObject.
 *
 * The answer's <Deleted> and <Error> elements are matched back to the keys
 * (XML-unescaped): Deleted or NoSuchKey is done, any other per-key error
 * fails the rows of that key.  A request that fails as a whole (no answer,
 * 403, 5xx, an answer that cannot be parsed or lacks a key) fails all its
 * rows.  A store that refuses DeleteObjects (501, 405 or 400 to the POST)
 * gets the rows of that request again as DeleteObjects, one per object, in
 * the same round; that is logged once per process.
 * ------------------------------------------------------------------------
 */

static char *ss_xml_unescape(const char *s);

/* Whether XML 1.0 can carry the key (as text, with character references). */
static bool
ss_xml_key_ok(const char *key)
{
	if (key == NULL || key[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *) key; *p; p++)
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

static void
ss_append_xml_escaped(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&quot;");
				break;
			case '\'':
				appendStringInfoString(out, "&apos;");
				break;
			case '\t':
			case '\n':
			case '\r':
				/* References: a parser would normalize them as text. */
				appendStringInfo(out, "&#%d;", (int) *s);
				break;
			default:
				appendStringInfoChar(out, *s);
		}
	}
}

/* A digest of data into out (in a transaction: a resource owner is needed). */
static void
ss_digest(pg_cryptohash_type type, const char *data, size_t len, uint8 *out, size_t outlen)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(type);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, out, outlen) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute a hash of a DeleteObjects body");
	}
	pg_cryptohash_free(ctx);
}

/* The body, its hashes and the request of a DeleteObjects (palloc'd). */
static void
ss_build_multi(SsMulti *m)
{
	static const char hex[] = "0123456789abcdef";
	StringInfoData body;
	uint8		sha[PG_SHA256_DIGEST_LENGTH];
	uint8		md5[MD5_DIGEST_LENGTH];
	char	   *sha_hex = palloc(2 * PG_SHA256_DIGEST_LENGTH + 1);
	int			md5_len = pg_b64_enc_len(MD5_DIGEST_LENGTH);
	char	   *md5_b64 = palloc(md5_len + 1);

	initStringInfo(&body);
	appendStringInfoString(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
						   "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>false</Quiet>");
	for (int i = 0; i < m->nkeys; i++)
	{
		appendStringInfoString(&body, "<Object><Key>");
		ss_append_xml_escaped(&body, m->keys[i]);
		appendStringInfoString(&body, "</Key></Object>");
	}
	appendStringInfoString(&body, "</Delete>");

	ss_digest(PG_SHA256, body.data, body.len, sha, sizeof(sha));
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		sha_hex[2 * i] = hex[sha[i] >> 4];
		sha_hex[2 * i + 1] = hex[sha[i] & 15];
	}
	sha_hex[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
	ss_digest(PG_MD5, body.data, body.len, md5, sizeof(md5));
	md5_len = pg_b64_encode((const char *) md5, MD5_DIGEST_LENGTH, md5_b64, md5_len);
	if (md5_len < 0)
		elog(ERROR, "could not encode the Content-MD5 of a DeleteObjects body");
	md5_b64[md5_len] = '\0';

	memset(&m->req, 0, sizeof(m->req));
	m->req.method = "POST";
	m->req.bucket = m->bucket;
	m->req.key = NULL;
	m->req.query = "delete=";	/* canonical form of "?delete" */
	m->req.body = body.data;
	m->req.body_len = body.len;
	m->req.body_sha256 = sha_hex;
	m->req.content_md5 = md5_b64;
	m->req.content_type = "application/xml";
	m->req.want_body = true;
}

static int
ss_cmp_deletion(const void *a, const void *b)
{
	const SsDeletion *x = *(SsDeletion *const *) a;
	const SsDeletion *y = *(SsDeletion *const *) b;
	int			c = strcmp(x->req.bucket, y->req.bucket);

	if (c != 0)
		return c;
	c = strcmp(x->req.key, y->req.key);
	if (c != 0)
		return c;
	return (x->id > y->id) - (x->id < y->id);
}

/*
 * Cut the deletions to send into DeleteObjects requests (in a transaction,
 * in the batch's memory context); the others keep multi = -1.
 */
static void
ss_group_deletions(SsBatch *batch)
{
	int			size = osv_s3_delete_batch_size;
	SsDeletion **order;
	int			n = 0;
	int			i = 0;

	batch->nmulti = 0;
	for (int k = 0; k < batch->ndel; k++)
		batch->del[k].multi = -1;
	if (size <= 1 || batch->ndel < 2)
		return;
	order = palloc(sizeof(SsDeletion *) * batch->ndel);
	for (int k = 0; k < batch->ndel; k++)
		if (!batch->del[k].referenced && ss_xml_key_ok(batch->del[k].req.key))
			order[n++] = &batch->del[k];
	if (n < 2)
		return;
	qsort(order, n, sizeof(SsDeletion *), ss_cmp_deletion);
	batch->multi = palloc0(sizeof(SsMulti) * n);
	while (i < n)
	{
		SsMulti    *m = &batch->multi[batch->nmulti];
		int			first = i;

		m->bucket = order[i]->req.bucket;
		m->keys = palloc(sizeof(char *) * Min(size, n - i));
		for (; i < n && strcmp(order[i]->req.bucket, m->bucket) == 0; i++)
		{
			if (m->nkeys == 0 || strcmp(m->keys[m->nkeys - 1], order[i]->req.key) != 0)
			{
				if (m->nkeys == size)
					break;
				m->keys[m->nkeys++] = order[i]->req.key;
			}
			order[i]->multi = batch->nmulti;
			order[i]->key_index = m->nkeys - 1;
		}
		if (m->nkeys < 2)
		{
			/* One key: a DeleteObject does it with no body. */
			for (int k = first; k < i; k++)
				order[k]->multi = -1;
			pfree(m->keys);
			memset(m, 0, sizeof(*m));
			continue;
		}
		ss_build_multi(m);
		batch->nmulti++;
	}
}

/* The index of key among the sorted keys of m, or -1. */
static int
ss_find_key(const SsMulti *m, const char *key)
{
	int			lo = 0;
	int			hi = m->nkeys - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(m->keys[mid], key);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Whether the store refused DeleteObjects itself (not one of the keys). */
static bool
ss_multi_refused(const S3Request *r)
{
	return r->transport_ok && (r->status == 501 || r->status == 405 || r->status == 400);
}

/*
 * Read the outcome of a DeleteObjects request into m: refused, failed as a
 * whole (m->error), or per key.
 */
static void
ss_multi_outcome(SsMulti *m)
{
	const S3Request *r = &m->req;
	const char *root;
	const char *end;
	const char *p;
	const char *del;
	const char *err;

	if (ss_multi_refused(r))
	{
		static bool logged = false;

		m->refused = true;
		if (!logged)
			ereport(LOG,
					(errmsg("osv storage sync: object storage refused a DeleteObjects request: %s",
							r->error ? r->error : "unknown error"),
					 errdetail("The objects of a refused request are deleted with one DeleteObject each."),
					 errhint("Set osv.s3_delete_batch_size to 1 for a store without DeleteObjects.")));
		logged = true;
		return;
	}
	if (!r->transport_ok || r->status < 200 || r->status > 299)
	{
		m->error = r->error ? r->error : "unknown error";
		return;
	}

	m->key_done = palloc0(sizeof(bool) * m->nkeys);
	m->key_error = palloc0(sizeof(char *) * m->nkeys);
	root = r->response ? strstr(r->response, "<DeleteResult") : NULL;
	end = root ? strstr(root, "</DeleteResult>") : NULL;
	if (root == NULL || end == NULL || (root[13] != '>' && root[13] != ' '))
	{
		m->error = psprintf("HTTP %ld with an answer to DeleteObjects that is no complete DeleteResult (%zu bytes)",
							r->status, r->response_len);
		return;
	}
	/*
	 * The next <Deleted> and the next <Error> are searched for again only
	 * once the walk has passed them, so that the walk stays linear in the
	 * answer's size (up to S3_MAX_RESPONSE) even when one of them never
	 * comes; and it can be cancelled.
	 */
	p = root + 13;
	del = strstr(p, "<Deleted>");
	err = strstr(p, "<Error>");
	for (;;)
	{
		bool		is_error;
		const char *close;
		char	   *elem;
		char	   *key;
		int			idx;

		CHECK_FOR_INTERRUPTS();
		if (del != NULL && del < p)
			del = strstr(p, "<Deleted>");
		if (err != NULL && err < p)
			err = strstr(p, "<Error>");
		if (del != NULL && del > end)
			del = NULL;
		if (err != NULL && err > end)
			err = NULL;
		if (del == NULL && err == NULL)
			break;
		is_error = (err != NULL && (del == NULL || err < del));
		p = is_error ? err : del;
		close = strstr(p, is_error ? "</Error>" : "</Deleted>");
		if (close == NULL || close > end ||
			(key = s3_xml_value(elem = pnstrdup(p, close - p), "Key")) == NULL)
		{
			m->error = psprintf("HTTP %ld with an answer to DeleteObjects that cannot be parsed (%zu bytes)",
								r->status, r->response_len);
			return;
		}
		p = close;
		idx = ss_find_key(m, ss_xml_unescape(key));
		if (idx < 0)
			continue;			/* not asked for: nothing to record */
		if (is_error)
		{
			char	   *code = s3_xml_value(elem, "Code");
			char	   *message = s3_xml_value(elem, "Message");

			code = code ? ss_xml_unescape(code) : "";
			if (strcmp(code, "NoSuchKey") == 0)
				m->key_done[idx] = (m->key_error[idx] == NULL);
			else
			{
				m->key_done[idx] = false;
				m->key_error[idx] = psprintf("DeleteObjects key error %s: %s", code[0] ? code : "(no code)",
											 message ? ss_xml_unescape(message) : "");
			}
		}
		else if (m->key_error[idx] == NULL)
			m->key_done[idx] = true;
	}
	for (int i = 0; i < m->nkeys; i++)
		if (!m->key_done[i] && m->key_error[i] == NULL)
			m->key_error[i] = psprintf("HTTP %ld with an answer to DeleteObjects that does not mention the key",
									   r->status);
}

/*
 * Claim at most "limit" due entries of the queues whose target is
 * configured, deletions first (SPI connected, in a transaction).  Strings are copied into "cxt".  Returns
 * how many entries were claimed.
 */
static int
ss_claim(int limit, SsBatch *batch, MemoryContext cxt)
{
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	MemoryContext old;
	uint64		claim;

	memset(batch, 0, sizeof(*batch));
	if (!pg_strong_random(&claim, sizeof(claim)))
		claim = (uint64) GetCurrentTimestamp() ^ (uint64) MyProcPid;
	batch->claim_id = (int64) (claim & INT64CONST(0x7FFFFFFFFFFFFFFF));
	values[1] = Int64GetDatum(batch->claim_id);

	if (s3_missing_setting() == NULL)
	{
		values[0] = Int32GetDatum(limit);
		values[2] = Int64GetDatum(ss_lease_ms(limit));
		ss_exec(SPI_OK_UPDATE_RETURNING, claim_deletions_sql, 3, argtypes, values, false);
		old = MemoryContextSwitchTo(cxt);
		batch->ndel = (int) SPI_processed;
		batch->del = palloc0(sizeof(SsDeletion) * Max(batch->ndel, 1));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			SsDeletion *d = &batch->del[i];
			char	   *ref = ss_getstring(i, 4);

			d->id = ss_getint8(i, 1);
			d->req.method = "DELETE";
			d->req.bucket = ss_getstring(i, 2);
			d->req.key = ss_getstring(i, 3);
			d->referenced = (ref != NULL && ref[0] == 't');
		}
		ss_group_deletions(batch);
		MemoryContextSwitchTo(old);
	}

	if (ss_ledger_configured() && limit - batch->ndel > 0)
	{
		values[0] = Int32GetDatum(Min(SS_SIDE_BATCH, limit - batch->ndel));
		values[2] = Int64GetDatum(ss_lease_ms(SS_SIDE_BATCH));
		ss_exec(SPI_OK_UPDATE_RETURNING, claim_ledger_sql, 3, argtypes, values, false);
		old = MemoryContextSwitchTo(cxt);
		batch->nledger = (int) SPI_processed;
		batch->ledger = palloc0(sizeof(SsLedger) * Max(batch->nledger, 1));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			SsLedger   *l = &batch->ledger[i];

			l->receipt = ss_getstring(i, 1);
			l->req.method = "PUT";
			l->req.bucket = pstrdup(osv_erasure_ledger_bucket);
			l->req.key = ss_getstring(i, 2);
			l->req.body = ss_getstring(i, 3);
			l->req.body_len = strlen(l->req.body);
			l->req.body_sha256 = ss_getstring(i, 4);
			l->req.content_type = "application/json";
		}
		MemoryContextSwitchTo(old);
	}

	return batch->ndel + batch->nledger;
}

/* Whether a DeleteObject answer means the object is gone. */
static bool
ss_deleted(const S3Request *r)
{
	return r->transport_ok && (r->status == 204 || r->status == 200 || r->status == 404);
}

/* The outcome of a deletion sent as a DeleteObject. */
static void
ss_single_outcome(SsDeletion *d)
{
	d->done = ss_deleted(&d->req);
	d->status = d->req.transport_ok ? (int) d->req.status : 0;
	d->error = d->req.error;
}

/*
 * Send the batch: no SPI, no transaction needed.  Results go into the
 * batch, allocated in the current memory context.  The DeleteObjects
 * requests, the single DeleteObject requests and the ledger copies go
 * together; the rows of a refused DeleteObjects after them, singly.
 */
static void
ss_send(SsBatch *batch)
{
	int			nreq = batch->nmulti + batch->nledger;
	S3Request  *reqs;
	S3Request  *retry;
	int			k = 0;
	int			nretry = 0;

	for (int i = 0; i < batch->ndel; i++)
		if (!batch->del[i].referenced && batch->del[i].multi < 0)
			nreq++;
	reqs = palloc0(sizeof(S3Request) * Max(nreq, 1));
	retry = palloc0(sizeof(S3Request) * Max(batch->ndel, 1));
	for (int i = 0; i < batch->nmulti; i++)
		reqs[k++] = batch->multi[i].req;
	for (int i = 0; i < batch->ndel; i++)
		if (!batch->del[i].referenced && batch->del[i].multi < 0)
			reqs[k++] = batch->del[i].req;
	for (int i = 0; i < batch->nledger; i++)
		reqs[k++] = batch->ledger[i].req;

	s3_perform(reqs, nreq);

	k = 0;
	for (int i = 0; i < batch->nmulti; i++)
	{
		batch->multi[i].req = reqs[k++];
		ss_multi_outcome(&batch->multi[i]);
	}
	for (int i = 0; i < batch->ndel; i++)
	{
		SsDeletion *d = &batch->del[i];
		SsMulti    *m = d->multi >= 0 ? &batch->multi[d->multi] : NULL;

		if (d->referenced)
			continue;
		if (m == NULL)
		{
			d->req = reqs[k++];
			ss_single_outcome(d);
		}
		else if (m->refused)
			retry[nretry++] = d->req;
		else if (m->error != NULL)
		{
			d->done = false;
			d->status = m->req.transport_ok ? (int) m->req.status : 0;
			d->error = m->error;
		}
		else
		{
			d->done = m->key_done[d->key_index];
			d->status = (int) m->req.status;
			d->error = m->key_error[d->key_index];
		}
	}
	for (int i = 0; i < batch->nledger; i++)
		batch->ledger[i].req = reqs[k++];

	if (nretry == 0)
		return;
	/* The rows of refused requests, one DeleteObject each. */
	s3_perform(retry, nretry);
	k = 0;
	for (int i = 0; i < batch->ndel; i++)
	{
		SsDeletion *d = &batch->del[i];

		if (!d->referenced && d->multi >= 0 && batch->multi[d->multi].refused)
		{
			d->req = retry[k++];
			ss_single_outcome(d);
		}
	}
}

static bool
ss_written(const S3Request *r)
{
	return r->transport_ok && r->status >= 200 && r->status <= 299;
}

/* Record done ids and failures of one queue (SPI connected). */
static uint64
ss_record_queue(const char *done_sql, const char *failed_sql, bool uuid_keys,
				Datum *done, int ndone, Datum *failed, Datum *statuses, Datum *errors,
				int nfailed, int64 claim_id, uint64 *done_with_erasure)
{
	uint64		completed = 0;
	Oid			keytype = uuid_keys ? TEXTARRAYOID : INT8ARRAYOID;
	Oid			elemtype = uuid_keys ? TEXTOID : INT8OID;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;

	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	if (ndone > 0)
	{
		Oid			argtypes[2] = {keytype, INT8OID};
		Datum		values[2];

		values[0] = PointerGetDatum(construct_array(done, ndone, elemtype, elemlen, elembyval, elemalign));
		values[1] = Int64GetDatum(claim_id);
		if (done_with_erasure != NULL)
		{
			ss_exec(SPI_OK_DELETE_RETURNING, done_sql, 2, argtypes, values, false);
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				char	   *v = ss_getstring(i, 1);

				if (v != NULL && v[0] == 't')
					(*done_with_erasure)++;
			}
		}
		else
			ss_exec(SPI_OK_UPDATE, done_sql, 2, argtypes, values, false);
		completed = SPI_processed;
	}
	if (nfailed > 0)
	{
		Oid			argtypes[6] = {keytype, INT8OID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8OID, FLOAT8OID};
		Datum		values[6];

		values[0] = PointerGetDatum(construct_array(failed, nfailed, elemtype, elemlen, elembyval, elemalign));
		values[1] = Int64GetDatum(claim_id);
		values[2] = PointerGetDatum(construct_array(statuses, nfailed, INT4OID, 4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(errors, nfailed, TEXTOID, -1, false, TYPALIGN_INT));
		values[4] = Float8GetDatum((double) osv_storage_sync_backoff);
		values[5] = Float8GetDatum((double) osv_storage_sync_backoff_max);
		/* $3.. are numbered from 3: shift the key and claim into place. */
		ss_exec(SPI_OK_UPDATE, failed_sql, 6, argtypes, values, false);
	}
	return completed;
}

/*
 * Record the outcome of a batch (SPI connected, in a transaction).  Returns
 * how many entries were completed.
 */
static uint64
ss_record(SsBatch *batch)
{
	uint64		completed = 0;
	uint64		erasure_done = 0;
	int			n = Max(Max(batch->ndel, batch->nledger), 1);
	Datum	   *done = palloc(sizeof(Datum) * n);
	Datum	   *failed = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	int			ndone;
	int			nfailed;

#define SS_FAIL(key, status, error) \
	do { \
		failed[nfailed] = (key); \
		statuses[nfailed] = Int32GetDatum((int32) (status)); \
		errors[nfailed] = CStringGetTextDatum((error) ? (error) : "unknown error"); \
		nfailed++; \
		batch->failures++; \
		batch->last_error = (error); \
	} while (0)

	ndone = nfailed = 0;
	for (int i = 0; i < batch->ndel; i++)
	{
		SsDeletion *d = &batch->del[i];

		if (d->referenced || d->done)
			done[ndone++] = Int64GetDatum(d->id);
		else
			SS_FAIL(Int64GetDatum(d->id), d->status, d->error);
	}
	completed += ss_record_queue(record_deletions_done_sql, record_deletions_failed_sql, false,
								 done, ndone, failed, statuses, errors, nfailed,
								 batch->claim_id, &erasure_done);

	ndone = nfailed = 0;
	for (int i = 0; i < batch->nledger; i++)
	{
		SsLedger   *l = &batch->ledger[i];

		if (ss_written(&l->req))
			done[ndone++] = CStringGetTextDatum(l->receipt);
		else
			SS_FAIL(CStringGetTextDatum(l->receipt), l->req.status, l->req.error);
	}
	completed += ss_record_queue(record_ledger_done_sql, record_ledger_failed_sql, true,
								 done, ndone, failed, statuses, errors, nfailed,
								 batch->claim_id, NULL);

	if (erasure_done > 0)
		ss_exec(SPI_OK_SELECT, "SELECT osv.erasure_ledger_refresh(NULL)", 0, NULL, NULL, false);
	return completed;
}

/*
 * osv.storage_sync(max_entries integer DEFAULT NULL) RETURNS bigint
 *
 * Drains the storage queues now, in the caller's transaction, until
 * nothing is due or max_entries entries were tried; returns how many were
 * completed.  Failures are recorded with their backoff (and summed up in a
 * WARNING); an entry that failed is not tried again in the same call.
 */
PG_FUNCTION_INFO_V1(osv_storage_sync);
Datum
osv_storage_sync(PG_FUNCTION_ARGS)
{
	int64		max_entries = -1;
	int64		completed = 0;
	int64		claimed = 0;
	int			failures = 0;
	char	   *last_error = NULL;
	MemoryContext batch_cxt;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (!PG_ARGISNULL(0))
	{
		max_entries = PG_GETARG_INT32(0);
		if (max_entries < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_entries must be at least 1"),
					 errdetail("max_entries is %lld.", (long long) max_entries)));
	}
	PreventCommandIfReadOnly("osv.storage_sync()");

	batch_cxt = AllocSetContextCreate(caller_cxt, "osv storage sync batch", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (;;)
	{
		SsBatch		batch;
		int			limit = osv_storage_sync_batch_size;
		int			n;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (max_entries > 0)
		{
			if (claimed >= max_entries)
				break;
			limit = (int) Min((int64) limit, max_entries - claimed);
		}
		MemoryContextReset(batch_cxt);
		n = ss_claim(limit, &batch, batch_cxt);
		if (n == 0)
			break;
		claimed += n;
		old = MemoryContextSwitchTo(batch_cxt);
		ss_send(&batch);
		MemoryContextSwitchTo(old);
		completed += (int64) ss_record(&batch);
		if (batch.failures > 0)
		{
			failures += batch.failures;
			if (last_error != NULL)
				pfree(last_error);
			last_error = MemoryContextStrdup(caller_cxt, batch.last_error ? batch.last_error : "unknown error");
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_finish();
	MemoryContextDelete(batch_cxt);
	if (failures > 0)
		ereport(WARNING,
				(errmsg_plural("%d object storage request failed and will be retried",
							   "%d object storage requests failed and will be retried",
							   failures, failures),
				 errdetail("Last error: %s.", last_error),
				 errhint("See osv.storage_sync_status.")));
	PG_RETURN_INT64(completed);
}

/*
 * How long the worker may sleep as far as the storage queues go (SPI
 * connected): until the first due entry of a configured queue, at most
 * SS_NAPTIME_MS, at least 1 ms.
 */
static long
ss_next_due_ms(void)
{
	bool		isnull;
	Datum		d;
	int64		wait_ms = SS_NAPTIME_MS;
	Oid			argtypes[2] = {BOOLOID, BOOLOID};
	Datum		values[2];

	values[0] = BoolGetDatum(s3_missing_setting() == NULL);
	values[1] = BoolGetDatum(ss_ledger_configured());
	ss_exec(SPI_OK_SELECT,
			"SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', LEAST("
			"  CASE WHEN $1 THEN (SELECT pg_catalog.min(GREATEST(d.next_attempt_at, d.lease_until)) FROM osv.storage_deletions d) END,"
			"  CASE WHEN $2 THEN (SELECT pg_catalog.min(GREATEST(l.object_next_attempt_at, l.object_lease_until)) FROM osv.erasure_ledger l"
			"                      WHERE l.object_written_at IS NULL) END)"
			"  - pg_catalog.clock_timestamp()) * 1000)::bigint",
			2, argtypes, values, true);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		wait_ms = Min(wait_ms, DatumGetInt64(d));
	return (long) Max(wait_ms, 1);
}

long
storage_sync_worker_round(MemoryContext loop_cxt)
{
	SsBatch		batch;
	int			n;
	long		wait_ms = 0;

	osv_worker_transaction_begin("osv storage sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) ||
		!OidIsValid(get_relname_relid("erasure_ledger", get_namespace_oid("osv", true))))
	{
		/* Absent, or not updated to 1.1 yet. */
		osv_worker_transaction_end();
		MemoryContextSwitchTo(loop_cxt);
		return SS_NAPTIME_MS;
	}
	n = ss_claim(osv_storage_sync_batch_size, &batch, loop_cxt);
	if (n == 0)
		wait_ms = ss_next_due_ms();
	osv_worker_transaction_end();
	MemoryContextSwitchTo(loop_cxt);
	if (n == 0)
		return wait_ms;

	pgstat_report_activity(STATE_RUNNING, "osv storage sync: sending");
	ss_send(&batch);

	osv_worker_transaction_begin("osv storage sync: recording");
	{
		uint64		completed = ss_record(&batch);

		elog(DEBUG1, "osv storage sync: batch of %d entries, %llu completed, %d failed",
			 n, (unsigned long long) completed, batch.failures);
	}
	osv_worker_transaction_end();
	MemoryContextSwitchTo(loop_cxt);
	if (batch.failures > 0)
		ereport(LOG,
				(errmsg("osv storage sync: %d of %d requests failed and will be retried", batch.failures, n),
				 errdetail("Last error: %s.", batch.last_error ? batch.last_error : "unknown error")));
	return 0;
}

/* ------------------------------------------------------------------------
 * SQL entry points
 * ------------------------------------------------------------------------
 */

/*
 * osv.storage_sync_wake() RETURNS void
 *
 * Asks for the sync worker, which drains the storage queues too, to be
 * woken when the current transaction commits.
 */
PG_FUNCTION_INFO_V1(osv_storage_sync_wake);
Datum
osv_storage_sync_wake(PG_FUNCTION_ARGS)
{
	outbox_wake_worker_at_commit();
	PG_RETURN_VOID();
}

/*
 * osv.storage_sync_blocked_by(target text) RETURNS text
 *
 * The setting that keeps a target of the storage sync from running, as a
 * sentence for osv.storage_sync_status, or NULL.
 */
PG_FUNCTION_INFO_V1(osv_storage_sync_blocked_by);
Datum
osv_storage_sync_blocked_by(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *missing = NULL;

	if (strcmp(target, "object_storage") == 0)
		missing = s3_missing_setting();
	else if (strcmp(target, "erasure_ledger") == 0)
	{
		missing = s3_missing_setting();
		if (missing == NULL && (osv_erasure_ledger_bucket == NULL || osv_erasure_ledger_bucket[0] == '\0'))
			missing = "osv.erasure_ledger_bucket";
	}
	else if (strcmp(target, "qdrant_sweeps") == 0)
	{
		if (!qdrant_configured())
			missing = "osv.qdrant_url";
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized storage sync target \"%s\"", target),
				 errhint("The targets are object_storage, erasure_ledger and qdrant_sweeps.")));
	if (missing == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s is empty", missing)));
}

/*
 * osv.hmac_sha256(key bytea, message text) RETURNS text
 *
 * HMAC-SHA256 in hex (PostgreSQL's own implementation, common/hmac.c).
 */
PG_FUNCTION_INFO_V1(osv_hmac_sha256);
Datum
osv_hmac_sha256(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	text	   *msg = PG_GETARG_TEXT_PP(1);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		out[2 * PG_SHA256_DIGEST_LENGTH + 1];
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_hmac_free(ctx);
		elog(ERROR, "could not compute an HMAC-SHA256");
	}
	pg_hmac_free(ctx);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * Undo XML's five escapes and character references (keys and tokens of a
 * listing, keys of a DeleteObjects answer).
 */
static char *
ss_xml_unescape(const char *s)
{
	StringInfoData out;

	initStringInfo(&out);
	while (*s)
	{
		if (strncmp(s, "&amp;", 5) == 0)
			appendStringInfoChar(&out, '&'), s += 5;
		else if (strncmp(s, "&lt;", 4) == 0)
			appendStringInfoChar(&out, '<'), s += 4;
		else if (strncmp(s, "&gt;", 4) == 0)
			appendStringInfoChar(&out, '>'), s += 4;
		else if (strncmp(s, "&quot;", 6) == 0)
			appendStringInfoChar(&out, '"'), s += 6;
		else if (strncmp(s, "&apos;", 6) == 0)
			appendStringInfoChar(&out, '\''), s += 6;
		else if (s[0] == '&' && s[1] == '#')
		{
			/* A character reference: &#NNN; or &#xHH; */
			bool		hex = (s[2] == 'x');
			const char *digits = s + (hex ? 3 : 2);
			char	   *end = NULL;
			unsigned long cp = 0;

			if (hex ? isxdigit((unsigned char) *digits) : isdigit((unsigned char) *digits))
				cp = strtoul(digits, &end, hex ? 16 : 10);
			if (end != NULL && *end == ';' && cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF))
			{
				unsigned char utf8[8];

				unicode_to_utf8((pg_wchar) cp, utf8);
				appendBinaryStringInfo(&out, (char *) utf8, pg_utf_mblen(utf8));
				s = end + 1;
			}
			else
				appendStringInfoChar(&out, *s++);
		}
		else
			appendStringInfoChar(&out, *s++);
	}
	return out.data;
}

/* Whether s is n lower-case hex digits. */
static bool
ss_is_hex(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Parse a ledger object key, erasures/YYYYMMDDTHHMMSSZ_<uuid>_<64 hex>_<64
 * hex or ->.json, into a row of osv.erasure_ledger_objects(); false when it
 * is not one.
 */
static bool
ss_parse_ledger_key(const char *key, Datum *values, bool *nulls)
{
	const char *p = key;
	char		ts[32];
	char		uuid[37];
	char		uhash[65];

	if (strncmp(p, "erasures/", 9) != 0)
		return false;
	p += 9;
	if (strlen(p) < 16 + 1 + 36 + 1 + 64 + 1 + 1 + 5 || p[8] != 'T' || p[15] != 'Z' || p[16] != '_')
		return false;
	snprintf(ts, sizeof(ts), "%.4s-%.2s-%.2s %.2s:%.2s:%.2s+00", p, p + 4, p + 6, p + 9, p + 11, p + 13);
	p += 17;
	for (int i = 0; i < 36; i++)
	{
		bool		dash = (i == 8 || i == 13 || i == 18 || i == 23);

		if (dash ? p[i] != '-' : !ss_is_hex(p + i, 1))
			return false;
	}
	for (int i = 0; i < 15; i++)
		if (i != 8 && !(key[9 + i] >= '0' && key[9 + i] <= '9'))
			return false;
	memcpy(uuid, p, 36);
	uuid[36] = '\0';
	p += 36;
	if (*p++ != '_' || !ss_is_hex(p, 64))
		return false;
	memcpy(uhash, p, 64);
	uhash[64] = '\0';
	p += 64;
	if (*p++ != '_')
		return false;
	if (strcmp(p, "-.json") == 0)
		nulls[3] = true;
	else if (strlen(p) == 64 + 5 && ss_is_hex(p, 64) && strcmp(p + 64, ".json") == 0)
	{
		nulls[3] = false;
		values[3] = CStringGetTextDatum(pnstrdup(p, 64));
	}
	else
		return false;

	values[0] = DirectFunctionCall1(uuid_in, CStringGetDatum(uuid));
	values[1] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(ts),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	values[2] = CStringGetTextDatum(uhash);
	values[4] = CStringGetTextDatum(key);
	nulls[0] = nulls[1] = nulls[2] = nulls[4] = false;
	return true;
}

/*
 * osv.erasure_ledger_objects()
 * RETURNS TABLE (receipt uuid, erased_at timestamptz, user_hash text,
 *				  auth0_hash text, object_key text)
 *
 * The receipts stored in osv.erasure_ledger_bucket, read with
 * ListObjectsV2 (prefix "erasures/", every page).  Raises an ERROR when
 * the bucket cannot be listed: a reapply must not go on as if it were
 * empty; and when a page gives back a continuation token given before
 * (S3 never does): a lying endpoint would otherwise keep the listing
 * going for ever, its memory growing by a page each time.
 */
PG_FUNCTION_INFO_V1(osv_erasure_ledger_objects);
Datum
osv_erasure_ledger_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *token = NULL;
	List	   *tokens = NIL;
	ListCell   *lc;

	if (!ss_ledger_configured())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no erasure ledger bucket is configured"),
				 errhint("Set osv.s3_endpoint, osv.s3_access_key_id, osv.s3_secret_access_key_file and osv.erasure_ledger_bucket.")));
	InitMaterializedSRF(fcinfo, 0);

	for (;;)
	{
		S3Request	req;
		const char *p;
		char	   *truncated;

		CHECK_FOR_INTERRUPTS();
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.bucket = osv_erasure_ledger_bucket;
		req.key = NULL;
		/* The canonical query: parameters sorted by name, values encoded. */
		if (token != NULL)
			req.query = psprintf("continuation-token=%s&list-type=2&prefix=erasures%%2F",
								 s3_uri_encode(token, false));
		else
			req.query = "list-type=2&prefix=erasures%2F";
		req.want_body = true;
		s3_perform(&req, 1);
		if (!req.transport_ok || req.status != 200)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not list the erasure ledger bucket \"%s\": %s",
							osv_erasure_ledger_bucket, req.error ? req.error : "unknown error")));

		p = req.response;
		while ((p = strstr(p, "<Key>")) != NULL)
		{
			const char *end = strstr(p, "</Key>");
			Datum		values[5];
			bool		nulls[5] = {true, true, true, true, true};
			char	   *key;

			if (end == NULL)
				break;
			key = ss_xml_unescape(pnstrdup(p + 5, end - p - 5));
			if (ss_parse_ledger_key(key, values, nulls))
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			p = end;
		}
		truncated = s3_xml_value(req.response, "IsTruncated");
		if (truncated == NULL || strcmp(truncated, "true") != 0)
			break;
		token = s3_xml_value(req.response, "NextContinuationToken");
		if (token == NULL)
			break;
		token = ss_xml_unescape(token);
		foreach(lc, tokens)
		{
			if (strcmp((const char *) lfirst(lc), token) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not list the erasure ledger bucket \"%s\": object storage gave the same continuation token twice",
								osv_erasure_ledger_bucket),
						 errdetail("The listing stopped after %d pages.", list_length(tokens) + 1)));
		}
		tokens = lappend(tokens, token);
		if (req.response != NULL)
			pfree(req.response);
	}
	return (Datum) 0;
}
