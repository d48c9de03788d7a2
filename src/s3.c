/*-------------------------------------------------------------------------
 *
 * s3.c
 *		Signed requests to S3-compatible object storage (MinIO).
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3")
 * with osv.s3_access_key_id and the secret key read from the file that
 * osv.s3_secret_access_key_file names, read by roles.c at first use after a
 * start and after every reload; the key is never logged: errors name the
 * file, never its content.
 *
 * Keys are URI-encoded as SigV4 requires (every byte but A-Z a-z 0-9 - . _ ~
 * and "/" as %XX), the URL is sent as is (CURLOPT_PATH_AS_IS) and libcurl
 * signs the path it sends; x-amz-content-sha256 carries the SHA-256 of the
 * body, computed by the caller (curl 7.88 adds none of its own and signs
 * this one), and Content-MD5 the body's MD5 when the caller gives it (S3
 * requires it for DeleteObjects).
 *
 * s3_perform() runs a set of requests over a curl multi handle with at most
 * osv.s3_max_connections transfers at once, kept alive between calls.  It
 * waits in curl_multi_poll() slices of 100 ms with CHECK_FOR_INTERRUPTS()
 * between them; libcurl's callbacks never raise errors.  No SPI, no locks:
 * callers run it with no transaction open (the sync worker) or inside the
 * caller's (osv.storage_sync()).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/s3.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include <curl/curl.h>

#include "roles.h"
#include "s3.h"

/* Largest response body kept (a listing page is far smaller). */
#define S3_MAX_RESPONSE (16 * 1024 * 1024)


/* Upper bound of osv.s3_max_connections. */
#define S3_MAX_SLOTS 256

static CURLM *s3_multi = NULL;
static CURL *s3_handles[S3_MAX_SLOTS];

typedef struct S3Buffer
{
	char	   *data;			/* malloc'd */
	size_t		len;
	size_t		cap;
	bool		too_large;
} S3Buffer;

typedef struct S3Slot
{
	bool		busy;
	int			req;			/* index into the caller's array */
	CURL	   *h;
	struct curl_slist *headers;
	S3Buffer	buf;
	char		errbuf[CURL_ERROR_SIZE];
} S3Slot;

static void
s3_cleanup(int code, Datum arg)
{
	for (int i = 0; i < S3_MAX_SLOTS; i++)
	{
		if (s3_handles[i] != NULL)
			curl_easy_cleanup(s3_handles[i]);
		s3_handles[i] = NULL;
	}
	if (s3_multi != NULL)
		curl_multi_cleanup(s3_multi);
	s3_multi = NULL;
}

static size_t
s3_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	S3Buffer   *buf = (S3Buffer *) userdata;
	size_t		n = size * nmemb;

	if (buf->len + n + 1 > S3_MAX_RESPONSE)
	{
		buf->too_large = true;
		return 0;
	}
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		cap = Max(Max(buf->cap * 2, buf->len + n + 1), 4096);
		char	   *data = realloc(buf->data, cap);

		if (data == NULL)
			return 0;
		buf->data = data;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return n;
}

/*
 * The setting that keeps requests from being signed and sent, or NULL when
 * every one is set.
 */
const char *
s3_missing_setting(void)
{
	if (osv_s3_endpoint == NULL || osv_s3_endpoint[0] == '\0')
		return "osv.s3_endpoint";
	if (osv_s3_access_key_id == NULL || osv_s3_access_key_id[0] == '\0')
		return "osv.s3_access_key_id";
	{
		const char *file = GetConfigOption("osv.s3_secret_access_key_file", true, false);

		if (file == NULL || file[0] == '\0')
			return "osv.s3_secret_access_key_file";
	}
	return NULL;
}

/*
 * URI-encode as SigV4 wants it: every byte except unreserved characters
 * (and "/" when keep_slash) as %XX with upper-case hex.  palloc'd.
 */
char *
s3_uri_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	StringInfoData out;

	initStringInfo(&out);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		unsigned char c = *p;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/'))
			appendStringInfoChar(&out, (char) c);
		else
		{
			appendStringInfoChar(&out, '%');
			appendStringInfoChar(&out, hex[c >> 4]);
			appendStringInfoChar(&out, hex[c & 15]);
		}
	}
	return out.data;
}

/*
 * The secret key (roles.c reads the file at first use after a start and
 * after every reload).  Returns NULL and sets *error (palloc'd, naming the
 * file, never its content) when the file cannot be read: the requests
 * then fail with that error, which the status shows, rather than the
 * caller.
 */
static const char *
s3_secret_key(char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	const char *volatile key = NULL;

	*error = NULL;
	PG_TRY();
	{
		key = roles_s3_secret_access_key();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = pstrdup(edata->message);
		FreeErrorData(edata);
		key = NULL;
	}
	PG_END_TRY();
	if (key == NULL && *error == NULL)
		*error = pstrdup("osv.s3_secret_access_key_file is empty");
	return key;
}

/* SHA-256 of an empty payload, as SigV4 wants it for a request without a body. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The URL of a request: path style or virtual-hosted style. */
static char *
s3_url(const S3Request *r)
{
	const char *endpoint = osv_s3_endpoint;
	const char *scheme_end = strstr(endpoint, "://");
	size_t		elen = strlen(endpoint);
	char	   *base;
	char	   *key = (r->key != NULL && r->key[0] != '\0') ? s3_uri_encode(r->key, true) : "";
	char	   *url;

	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	if (osv_s3_path_style || scheme_end == NULL)
		url = psprintf("%.*s/%s/%s", (int) elen, endpoint, r->bucket, key);
	else
	{
		base = pnstrdup(endpoint, elen);
		scheme_end += 3;
		url = psprintf("%.*s%s.%s/%s", (int) (scheme_end - endpoint), base, r->bucket,
					   base + (scheme_end - endpoint), key);
	}
	if (r->query != NULL && r->query[0] != '\0')
		url = psprintf("%s?%s", url, r->query);
	return url;
}

/* Text between <tag> and </tag> in an XML body, palloc'd, or NULL. */
char *
s3_xml_value(const char *xml, const char *tag)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *a = xml ? strstr(xml, open) : NULL;
	const char *b;

	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return NULL;
	return pnstrdup(a, b - a);
}

/* Set up a slot's handle for request r (may raise: nothing attached yet). */
static void
s3_setup(S3Slot *slot, S3Request *r, const char *secret, const char *sigv4)
{
	CURL	   *h = slot->h;
	const char *sha;
	char	   *url = s3_url(r);

	/*
	 * NB: no hashing here: pg_cryptohash needs a resource owner, which the
	 * worker has not outside a transaction; callers hash bodies in SQL.
	 */
	if (r->body == NULL)
		sha = S3_EMPTY_SHA256;
	else if (r->body_sha256 != NULL)
		sha = r->body_sha256;
	else
		sha = "UNSIGNED-PAYLOAD";
	slot->headers = NULL;
	slot->headers = curl_slist_append(slot->headers, psprintf("x-amz-content-sha256: %s", sha));
	if (r->body != NULL && r->content_type != NULL)
		slot->headers = curl_slist_append(slot->headers, psprintf("Content-Type: %s", r->content_type));
	if (r->body != NULL && r->content_md5 != NULL)
		slot->headers = curl_slist_append(slot->headers, psprintf("Content-MD5: %s", r->content_md5));
	if (slot->headers == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);	/* libcurl copies strings */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) osv_s3_timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) osv_s3_connect_timeout);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "osv");
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, osv_s3_access_key_id);
	curl_easy_setopt(h, CURLOPT_PASSWORD, secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, slot->headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &slot->buf);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, slot->errbuf);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *) slot);
	if (strcmp(r->method, "GET") == 0)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
	{
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body != NULL)
		{
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
		}
	}
	slot->errbuf[0] = '\0';
	slot->buf.len = 0;
	slot->buf.too_large = false;
}

/* Fill request r from its finished slot (palloc; curl is done with it). */
static void
s3_finish(S3Slot *slot, S3Request *r, CURLcode rc)
{
	if (rc == CURLE_OK)
	{
		r->transport_ok = true;
		curl_easy_getinfo(slot->h, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->want_body || r->status < 200 || r->status > 299)
		{
			r->response = palloc(slot->buf.len + 1);
			if (slot->buf.len > 0)
				memcpy(r->response, slot->buf.data, slot->buf.len);
			r->response[slot->buf.len] = '\0';
			r->response_len = slot->buf.len;
		}
		if (r->status < 200 || r->status > 299)
		{
			char	   *code = s3_xml_value(r->response, "Code");
			char	   *message = s3_xml_value(r->response, "Message");

			r->error = psprintf("HTTP %ld%s%s%s%s", r->status,
								code ? " " : "", code ? code : "",
								message ? ": " : "", message ? message : "");
		}
	}
	else
	{
		r->transport_ok = false;
		r->status = 0;
		if (slot->buf.too_large)
			r->error = psprintf("the response is larger than %d bytes", S3_MAX_RESPONSE);
		else
			r->error = psprintf("could not reach \"%s\": %s", osv_s3_endpoint,
								slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc));
	}
}

/*
 * Run the requests, at most osv.s3_max_connections at once, and fill in
 * their outcome.  Failures (no answer, a missing or unreadable key file, an
 * error status) are reported in the requests, not raised; an ERROR only for
 * process-level failures and, through CHECK_FOR_INTERRUPTS(), a cancel.
 */
void
s3_perform(S3Request *reqs, int n)
{
	volatile int nslots = Min(Max(osv_s3_max_connections, 1), S3_MAX_SLOTS);
	S3Slot	   *volatile slots;
	const char *secret;
	char	   *volatile error = NULL;
	char	   *sigv4;
	const char *missing = s3_missing_setting();
	int			next = 0;
	int			active = 0;

	for (int i = 0; i < n; i++)
	{
		reqs[i].transport_ok = false;
		reqs[i].status = 0;
		reqs[i].error = NULL;
		reqs[i].response = NULL;
		reqs[i].response_len = 0;
	}
	if (n == 0)
		return;
	if (missing != NULL)
	{
		for (int i = 0; i < n; i++)
			reqs[i].error = psprintf("%s is empty", missing);
		return;
	}
	secret = s3_secret_key((char **) &error);
	if (secret == NULL)
	{
		for (int i = 0; i < n; i++)
			reqs[i].error = error;
		return;
	}
	sigv4 = psprintf("aws:amz:%s:s3", osv_s3_region);

	if (s3_multi == NULL)
	{
		static bool global_done = false;

		if (!global_done)
		{
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("could not initialize libcurl")));
			global_done = true;
		}
		s3_multi = curl_multi_init();
		if (s3_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl multi handle")));
		curl_multi_setopt(s3_multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) S3_MAX_SLOTS);
		on_proc_exit(s3_cleanup, (Datum) 0);
	}
	nslots = Min(nslots, n);
	slots = palloc0(sizeof(S3Slot) * nslots);
	for (int i = 0; i < nslots; i++)
	{
		if (s3_handles[i] == NULL)
		{
			s3_handles[i] = curl_easy_init();
			if (s3_handles[i] == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not create a libcurl handle")));
		}
		slots[i].h = s3_handles[i];
	}

	PG_TRY();
	{
		while (next < n || active > 0)
		{
			int			running;
			CURLMsg    *msg;
			int			left;

			/* Fill the free slots. */
			for (int i = 0; i < nslots && next < n; i++)
			{
				if (slots[i].busy)
					continue;
				s3_setup(&slots[i], &reqs[next], secret, sigv4);
				slots[i].req = next++;
				slots[i].busy = true;
				if (curl_multi_add_handle(s3_multi, slots[i].h) != CURLM_OK)
				{
					slots[i].busy = false;
					elog(ERROR, "curl_multi_add_handle failed");
				}
				active++;
			}

			curl_multi_perform(s3_multi, &running);
			while ((msg = curl_multi_info_read(s3_multi, &left)) != NULL)
			{
				S3Slot	   *slot = NULL;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &slot);
				if (slot == NULL || !slot->busy)
					continue;
				curl_multi_remove_handle(s3_multi, slot->h);
				slot->busy = false;
				active--;
				curl_slist_free_all(slot->headers);
				slot->headers = NULL;
				s3_finish(slot, &reqs[slot->req], msg->data.result);
			}
			if (active > 0)
				curl_multi_poll(s3_multi, NULL, 0, 100, NULL);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		for (int i = 0; i < nslots; i++)
		{
			if (slots[i].busy)
				curl_multi_remove_handle(s3_multi, slots[i].h);
			slots[i].busy = false;
			curl_easy_setopt(slots[i].h, CURLOPT_HTTPHEADER, NULL);
			curl_easy_setopt(slots[i].h, CURLOPT_WRITEDATA, NULL);
			curl_easy_setopt(slots[i].h, CURLOPT_ERRORBUFFER, NULL);
			curl_easy_setopt(slots[i].h, CURLOPT_PASSWORD, "");
			if (slots[i].headers != NULL)
				curl_slist_free_all(slots[i].headers);
			slots[i].headers = NULL;
			free(slots[i].buf.data);
			slots[i].buf.data = NULL;
		}
	}
	PG_END_TRY();
}
