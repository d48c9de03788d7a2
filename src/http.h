/*-------------------------------------------------------------------------
 *
 * http.h
 *		Blocking HTTP requests over one kept-alive libcurl handle.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_HTTP_H
#define OSV_HTTP_H

/* Largest response body accepted; a longer one aborts the transfer. */
#define OSV_HTTP_MAX_RESPONSE (64 * 1024 * 1024)

typedef struct HttpResponse
{
	bool		transport_ok;	/* false: no HTTP answer (see error) */
	long		status;			/* HTTP status code when transport_ok */
	char	   *body;			/* palloc'd, NUL-terminated */
	size_t		body_len;
	long		retry_after_ms; /* Retry-After header, -1 when absent */
	char	   *error;			/* palloc'd transport error message */
	char	   *error_detail;	/* palloc'd libcurl's details of it */
	bool		too_large;		/* the response exceeded the size cap */
	bool		sent;			/* bytes of the request left osv (even when
								 * transport_ok is false): the server may
								 * have acted on it */
} HttpResponse;

extern void http_request(const char *method, const char *url,
						 const char *body, size_t body_len,
						 const char *api_key, HttpResponse *response);
extern void http_start(const char *method, const char *url,
					   const char *body, size_t body_len, const char *api_key);
extern void http_finish(HttpResponse *response);
extern bool http_in_flight(void);
extern void http_abort(void);

#endif							/* OSV_HTTP_H */
