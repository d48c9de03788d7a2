/*-------------------------------------------------------------------------
 *
 * http.c
 *		Blocking HTTP requests over one kept-alive libcurl handle.
 *
 * The only file of osv that includes <curl/curl.h>.  Every process that
 * talks to Qdrant (a backend running osv.vector_sync() or a search, the
 * vector sync worker) keeps one easy handle for its lifetime, so that
 * consecutive requests reuse the connection (HTTP keep-alive); the vector
 * sync worker has a second handle, driven by a multi handle, for the one
 * upsert it keeps in flight while it works on the next batch
 * (http_start/http_finish).  libcurl is
 * initialized lazily on the first request, never in the postmaster, and
 * cleaned up from an on_proc_exit callback.
 *
 * libcurl's memory is malloc-owned and invisible to memory contexts; its
 * callbacks never raise errors (an ereport would longjmp through libcurl):
 * the write callback stops at OSV_HTTP_MAX_RESPONSE by returning 0, the
 * progress callback aborts the transfer for a query cancel or a
 * termination (not for other interrupts: a ProcSignalBarrier or
 * pg_log_backend_memory_contexts() waits until the request is over, since
 * aborting it would make the write's outcome unknown and back off the
 * whole target), and
 * the caller maps the outcome to an HttpResponse after curl returns, then
 * calls CHECK_FOR_INTERRUPTS().  A request is bounded by
 * osv.qdrant_connect_timeout and osv.qdrant_timeout.  No locks, no
 * transactions.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"

#include <curl/curl.h>

#include "http.h"
#include "settings.h"

/* The process's handle, created on first use. */
static CURL *http_handle = NULL;

/* Response body being received, malloc-owned (callbacks must not palloc). */
typedef struct HttpBuffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		too_large;
} HttpBuffer;

static void
http_cleanup(int code, Datum arg)
{
	if (http_handle != NULL)
		curl_easy_cleanup(http_handle);
	http_handle = NULL;
	curl_global_cleanup();
}

/*
 * Write callback: append to the buffer; returning less than the size
 * given aborts the transfer (CURLE_WRITE_ERROR), which is how the size cap
 * and an allocation failure stop it.
 */
static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpBuffer *buf = (HttpBuffer *) userdata;
	size_t		n = size * nmemb;

	if (buf->len + n + 1 > OSV_HTTP_MAX_RESPONSE)
	{
		buf->too_large = true;
		return 0;
	}
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		cap = Max(buf->cap * 2, buf->len + n + 1);
		char	   *data;

		cap = Max(cap, 8192);
		data = realloc(buf->data, cap);
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
 * Progress callback: abort the transfer when a query cancel or a
 * termination is pending; any other interrupt is handled by the
 * CHECK_FOR_INTERRUPTS() after the request.
 */
static int
http_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			  curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

static CURL *
http_get_handle(void)
{
	if (http_handle == NULL)
	{
		static bool global_done = false;

		if (!global_done)
		{
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("could not initialize libcurl")));
			global_done = true;
			on_proc_exit(http_cleanup, (Datum) 0);
		}
		http_handle = curl_easy_init();
		if (http_handle == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	}
	return http_handle;
}

/*
 * Set up handle h for a request: options, headers (returned: the caller
 * frees them with curl_slist_free_all once the transfer is over), the
 * response into *buf and libcurl's error text into errbuf.  Everything
 * that can raise an ERROR happens before h is touched.
 */
static struct curl_slist *
http_prepare(CURL *h, const char *method, const char *url,
			 const char *body, size_t body_len, const char *api_key,
			 HttpBuffer *buf, char *errbuf)
{
	struct curl_slist *headers = NULL;
	char	   *key_header = NULL;

	errbuf[0] = '\0';
	if (api_key != NULL && api_key[0] != '\0')
		key_header = psprintf("api-key: %s", api_key);

	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for large bodies. */
	headers = curl_slist_append(headers, "Expect:");
	if (key_header != NULL)
		headers = curl_slist_append(headers, key_header);

	curl_easy_reset(h);			/* keeps the connection cache */
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) osv_qdrant_timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) osv_qdrant_connect_timeout);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, http_progress);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "osv");
	if (body != NULL)
	{
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
	}
	else if (strcmp(method, "GET") == 0)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	return headers;
}

/*
 * Map the outcome rc of a transfer on h to *response (palloc'd memory of
 * the current context), detach the caller's memory from h and free
 * headers and buf; then CHECK_FOR_INTERRUPTS().
 */
static void
http_result(CURL *h, CURLcode rc, struct curl_slist *headers, HttpBuffer *buf,
			const char *errbuf, HttpResponse *response)
{
	curl_off_t	retry_after = -1;
	long		request_size = 0;

	memset(response, 0, sizeof(*response));
	response->retry_after_ms = -1;

	/*
	 * Whether the request may have reached the server: from then on its
	 * outcome is the server's, whatever became of the answer.  Only a
	 * failure to resolve or connect proves it did not; otherwise bytes of
	 * the request sent or a connection made count (conservatively).
	 */
	if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
		rc == CURLE_COULDNT_CONNECT)
		response->sent = false;
	else
	{
		curl_off_t	connect_us = 0;

		if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_size) != CURLE_OK)
			request_size = 1;
		if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK)
			connect_us = 1;
		response->sent = request_size > 0 || connect_us > 0;
	}

	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response->status);
		curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
	}
	/* Detach the caller's memory from the handle before anything raises. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);

	PG_TRY();
	{
		if (rc == CURLE_OK)
		{
			response->transport_ok = true;
			response->body_len = buf->len;
			response->body = palloc(buf->len + 1);
			if (buf->len > 0)
				memcpy(response->body, buf->data, buf->len);
			response->body[buf->len] = '\0';
			if (retry_after >= 0)
				response->retry_after_ms = (long) Min(retry_after, (curl_off_t) 86400) * 1000;
		}
		else
		{
			response->too_large = buf->too_large;
			if (buf->too_large)
				response->error = psprintf("the response is larger than %d bytes",
										   OSV_HTTP_MAX_RESPONSE);
			else
				response->error = pstrdup(curl_easy_strerror(rc));
			response->error_detail = pstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
			response->body = pstrdup("");
		}
	}
	PG_FINALLY();
	{
		free(buf->data);
		buf->data = NULL;
	}
	PG_END_TRY();

	/* The progress callback stopped the transfer for this. */
	CHECK_FOR_INTERRUPTS();
}

/*
 * Send one request and wait for its answer.  "body" may be NULL (no body).
 * Fills *response with palloc'd memory of the current context; transport
 * failures (connection refused, timeouts, a response over the size cap)
 * are reported in the response, not raised.  Raises an ERROR only for
 * process-level failures (libcurl cannot start) and, through
 * CHECK_FOR_INTERRUPTS, for a query cancel or termination.
 */
void
http_request(const char *method, const char *url,
			 const char *body, size_t body_len,
			 const char *api_key, HttpResponse *response)
{
	CURL	   *h = http_get_handle();
	HttpBuffer	buf = {NULL, 0, 0, false};
	char		errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers;
	CURLcode	rc;

	headers = http_prepare(h, method, url, body, body_len, api_key, &buf, errbuf);
	rc = curl_easy_perform(h);
	http_result(h, rc, headers, &buf, errbuf, response);
}

/* ------------------------------------------------------------------------
 * One request in flight
 *
 * http_start() sends a request on a second handle, driven by a multi
 * handle, and returns once the request is sent (or over); the caller works
 * meanwhile (the sync worker claims and writes its next batch) and
 * collects the answer with http_finish().  At most one such request at a
 * time; http_request() may run meanwhile (its own handle and connection).
 * Between the two calls libcurl is not driven, so the answer waits in the
 * socket; time-outs count from http_start().  The body must stay valid
 * until http_finish() or http_abort().
 * ------------------------------------------------------------------------
 */
static CURLM *http_multi = NULL;
static CURL *http_async_handle = NULL;
static bool http_async_busy = false;
static struct curl_slist *http_async_headers = NULL;
static HttpBuffer http_async_buf = {NULL, 0, 0, false};
static char http_async_errbuf[CURL_ERROR_SIZE];
static size_t http_async_body_len = 0;
static bool http_async_done = false;	/* over, with outcome http_async_rc */
static CURLcode http_async_rc;

/*
 * Drive the request in flight: until it is over (returns its outcome in
 * *rc) or, with until_sent, until its body is sent (returns false).
 */
static bool
http_async_drive(bool until_sent, CURLcode *rc)
{
	for (;;)
	{
		int			running = 0;
		CURLMsg    *msg;
		int			left;

		if (curl_multi_perform(http_multi, &running) != CURLM_OK)
		{
			*rc = CURLE_SEND_ERROR;
			return true;
		}
		while ((msg = curl_multi_info_read(http_multi, &left)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == http_async_handle)
			{
				*rc = msg->data.result;
				return true;
			}
		}
		if (running == 0)
		{
			*rc = CURLE_SEND_ERROR;
			return true;
		}
		if (until_sent)
		{
			curl_off_t	uploaded = 0;

			if (curl_easy_getinfo(http_async_handle, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK &&
				(size_t) uploaded >= http_async_body_len)
				return false;
		}
		(void) curl_multi_poll(http_multi, NULL, 0, 100, NULL);
	}
}

/* Whether a request is in flight (http_start() without http_finish()). */
bool
http_in_flight(void)
{
	return http_async_busy;
}

/*
 * Start a request (as http_request()) and return once it is sent; its
 * answer is collected by http_finish().
 */
void
http_start(const char *method, const char *url,
		   const char *body, size_t body_len, const char *api_key)
{
	CURLcode	rc;

	Assert(!http_async_busy);
	(void) http_get_handle();	/* libcurl initialized */
	if (http_multi == NULL)
		http_multi = curl_multi_init();
	if (http_async_handle == NULL)
		http_async_handle = curl_easy_init();
	if (http_multi == NULL || http_async_handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	http_async_buf = (HttpBuffer) {NULL, 0, 0, false};
	http_async_headers = http_prepare(http_async_handle, method, url, body, body_len, api_key,
									  &http_async_buf, http_async_errbuf);
	http_async_body_len = body != NULL ? body_len : 0;
	if (curl_multi_add_handle(http_multi, http_async_handle) != CURLM_OK)
	{
		curl_slist_free_all(http_async_headers);
		http_async_headers = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start a libcurl transfer")));
	}
	http_async_busy = true;
	http_async_done = http_async_drive(true, &rc);
	http_async_rc = rc;
}

/* Wait for the answer of the request in flight; as http_request() then. */
void
http_finish(HttpResponse *response)
{
	CURLcode	rc;
	struct curl_slist *headers = http_async_headers;

	Assert(http_async_busy);
	if (http_async_done)
		rc = http_async_rc;
	else
		while (!http_async_drive(false, &rc))
			;
	curl_multi_remove_handle(http_multi, http_async_handle);
	http_async_busy = false;
	http_async_headers = NULL;
	http_result(http_async_handle, rc, headers, &http_async_buf, http_async_errbuf, response);
}

/*
 * Give up the request in flight, if any, without waiting (after an ERROR:
 * its outcome is unknown).  Closes its connection.
 */
void
http_abort(void)
{
	if (!http_async_busy)
		return;
	curl_multi_remove_handle(http_multi, http_async_handle);
	curl_easy_cleanup(http_async_handle);
	http_async_handle = NULL;	/* a new one (a new connection) next time */
	curl_slist_free_all(http_async_headers);
	http_async_headers = NULL;
	free(http_async_buf.data);
	http_async_buf = (HttpBuffer) {NULL, 0, 0, false};
	http_async_busy = false;
}
