/*-------------------------------------------------------------------------
 *
 * sync_copy_client.c
 *		Baseline of bench/sync_throughput.sh: an external syncer in C.
 *
 * What a good external syncer would do to push every live summary to
 * Qdrant, with no outbox: one COPY (SELECT ...) TO STDOUT (FORMAT binary)
 * over libpq, the upsert body written by hand (the floats by osv's own
 * nine-digit formatter, src/json_float.c; the payload and the fingerprint
 * "version" exactly as src/sync_engine.c and src/qdrant.c build them,
 * created_at formatted from the binary timestamp here), and PUT
 * {url}/collections/{collection}/points?wait=true of BATCH points at a
 * time over one kept-alive libcurl handle, with the headers osv sends.
 * Each answer must be HTTP 200 with Qdrant's success envelope.  Buffers
 * are reused across batches.  Prints the elapsed seconds on stdout and
 * the number of points and requests on stderr.
 *
 * Usage: sync_copy_client CONNINFO URL COLLECTION BATCH
 *
 * A bench program, not part of osv: it runs in its own process.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		bench/sync_copy_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "port/pg_bswap.h"
#include "json_float.h"

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_DAYS 10957

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap)
	{
		b->cap = Max(b->cap * 2, b->len + more + 1);
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
	}
}

static void
buf_put(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void
buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void
buf_int64(Buf *b, int64 v)
{
	char		tmp[24];

	buf_put(b, tmp, snprintf(tmp, sizeof(tmp), "%lld", (long long) v));
}

/* A JSON string, escaped as RFC 8259 requires. */
static void
buf_json_string(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n * 6 + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			b->data[b->len++] = '\\';
			b->data[b->len++] = c;
		}
		else if (c < 0x20)
			b->len += sprintf(b->data + b->len, "\\u%04x", c);
		else
			b->data[b->len++] = c;
	}
	b->data[b->len++] = '"';
}

static uint32
get32(const char *p)
{
	uint32		v;

	memcpy(&v, p, 4);
	return pg_ntoh32(v);
}

static int64
get64(const char *p)
{
	uint64		v;

	memcpy(&v, p, 8);
	return (int64) pg_ntoh64(v);
}

/* "YYYY-MM-DDTHH:MI:SS.USZ" of a timestamptz (microseconds since 2000). */
static int
format_timestamp(int64 ts, char *out)
{
	int64		days = ts / USECS_PER_DAY;
	int64		us = ts % USECS_PER_DAY;
	int64		z, era, doe, yoe, y, doy, mp, d, m;

	if (us < 0)
	{
		us += USECS_PER_DAY;
		days--;
	}
	/* Civil date from days since 1970 (H. Hinnant's algorithm). */
	z = days + PG_EPOCH_DAYS + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	return sprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int) y, (int) m, (int) d,
				   (int) (us / USECS_PER_HOUR), (int) (us / USECS_PER_MINUTE % 60),
				   (int) (us / USECS_PER_SEC % 60), (int) (us % USECS_PER_SEC));
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	buf_put((Buf *) userdata, ptr, size * nmemb);
	return size * nmemb;
}

/* PUT one body; exits unless Qdrant answers success. */
static void
send_body(CURL *h, Buf *body, Buf *answer, long request)
{
	long		status = 0;
	CURLcode	rc;

	answer->len = 0;
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body->len);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	buf_reserve(answer, 0);
	answer->data[answer->len] = '\0';
	if (rc != CURLE_OK || status != 200 || strstr(answer->data, "\"status\":\"ok\"") == NULL)
	{
		fprintf(stderr, "request %ld failed: %s, HTTP %ld: %s\n", request,
				curl_easy_strerror(rc), status, answer->data);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	CURL	   *h;
	struct curl_slist *headers = NULL;
	char		url[1024];
	int			batch;
	Buf			body = {0};
	Buf			answer = {0};
	Buf			fp = {0};
	float4	   *vector = NULL;
	int			cap_dims = 0;
	int			in_batch = 0;
	long		points = 0;
	long		requests = 0;
	char	   *row;
	int			len;
	struct timespec t0,
				t1;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s CONNINFO URL COLLECTION BATCH\n", argv[0]);
		return 2;
	}
	snprintf(url, sizeof(url), "%s/collections/%s/points?wait=true", argv[2], argv[3]);
	batch = atoi(argv[4]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	res = PQexec(conn, "COPY (SELECT s.id, s.user_id, s.topic, s.created_at, s.embedding"
				 " FROM osv.summaries s WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL)"
				 " TO STDOUT (FORMAT binary)");
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);

	/* Binary COPY: a header (signature, flags, extension), then tuples. */
	while ((len = PQgetCopyData(conn, &row, 0)) > 0)
	{
		const char *p = row;
		int64		id, user_id, created;
		const char *topic = NULL;
		int			topic_len = 0;
		int			dims;
		char		created_at[40];
		int			created_len;
		int32		flen;

		if (points == 0 && requests == 0 && in_batch == 0 && len >= 19 &&
			memcmp(p, "PGCOPY\n\377\r\n\0", 11) == 0)
		{
			p += 19 + get32(p + 15);
			if (p >= row + len)
			{
				PQfreemem(row);
				continue;		/* the header came alone */
			}
		}
		if ((int16) pg_ntoh16(*(uint16 *) p) == -1)
		{
			PQfreemem(row);
			continue;			/* the trailer: the end comes next */
		}
		p += 2;
		id = get64(p + 4);
		p += 12;
		user_id = get64(p + 4);
		p += 12;
		flen = (int32) get32(p);
		p += 4;
		if (flen >= 0)
		{
			topic = p;
			topic_len = flen;
			p += flen;
		}
		created = get64(p + 4);
		p += 12;
		/* float4[]: ndim, has-null flag, element type, (dim, lbound)... */
		p += 4;
		dims = (int) get32(p + 12);
		p += 20;
		if (dims > cap_dims)
		{
			cap_dims = dims;
			vector = realloc(vector, sizeof(float4) * dims);
		}
		for (int i = 0; i < dims; i++)
		{
			uint32		bits = get32(p + 4);

			memcpy(&vector[i], &bits, 4);
			p += 8;
		}
		created_len = format_timestamp(created, created_at);

		/* The fingerprint, as point_fingerprint() in src/sync_engine.c. */
		fp.len = 0;
		buf_put(&fp, (const char *) &user_id, sizeof(int64));
		if (topic != NULL)
		{
			buf_put(&fp, "t", 1);
			buf_put(&fp, topic, topic_len);
			buf_put(&fp, "", 1);
		}
		else
			buf_put(&fp, "n", 1);
		buf_put(&fp, created_at, created_len + 1);
		buf_put(&fp, (const char *) vector, sizeof(float4) * dims);

		if (in_batch == 0)
		{
			body.len = 0;
			buf_str(&body, "{\"points\":[");
		}
		else
			buf_put(&body, ",", 1);
		buf_str(&body, "{\"id\":");
		buf_int64(&body, id);
		buf_str(&body, ",\"vector\":");
		buf_reserve(&body, dims * (JSON_FLOAT4_MAX_LEN + 1) + 2);
		body.len += json_float4_array_out(vector, dims, body.data + body.len);
		buf_str(&body, ",\"payload\":{\"summary_id\":");
		buf_int64(&body, id);
		buf_str(&body, ",\"user_id\":");
		buf_int64(&body, user_id);
		if (topic != NULL)
		{
			buf_str(&body, ",\"topic\":");
			buf_json_string(&body, topic, topic_len);
		}
		buf_str(&body, ",\"created_at\":");
		buf_json_string(&body, created_at, created_len);
		buf_str(&body, ",\"version\":");
		buf_int64(&body, (int64) (hash_bytes_extended((const unsigned char *) fp.data, fp.len,
													  UINT64CONST(0x6f7376)) & PG_INT64_MAX));
		buf_str(&body, "}}");
		PQfreemem(row);
		points++;
		if (++in_batch == batch)
		{
			buf_str(&body, "]}");
			send_body(h, &body, &answer, requests++);
			in_batch = 0;
		}
	}
	if (in_batch > 0)
	{
		buf_str(&body, "]}");
		send_body(h, &body, &answer, requests++);
	}
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	fprintf(stderr, "%ld points, %ld requests\n", points, requests);
	PQfinish(conn);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return 0;
}
