/*-------------------------------------------------------------------------
 *
 * s3.h
 *		Signed requests to S3-compatible object storage (MinIO).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/s3.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_S3_H
#define OSV_S3_H

/*
 * Object storage settings (reloadable; defined in storage_sync.c, but
 * osv.s3_secret_access_key_file in roles.c with the other key files).
 */
extern char *osv_s3_endpoint;
extern char *osv_s3_region;
extern char *osv_s3_access_key_id;
extern bool osv_s3_path_style;
extern int	osv_s3_timeout;
extern int	osv_s3_connect_timeout;
extern int	osv_s3_max_connections;

/* One request; the caller fills the first part, s3_perform the second. */
typedef struct S3Request
{
	const char *method;			/* "DELETE", "PUT", "GET", "POST" */
	const char *bucket;
	const char *key;			/* NULL or "": the bucket itself */
	const char *query;			/* canonical query (sorted, encoded) or NULL */
	const char *body;			/* PUT body or NULL */
	size_t		body_len;
	const char *body_sha256;	/* hex SHA-256 of the body, NULL: unsigned */
	const char *content_type;	/* of the body */
	const char *content_md5;	/* base64 MD5 of the body (Content-MD5) or NULL */
	bool		want_body;		/* keep the response body */

	bool		transport_ok;	/* false: no HTTP answer */
	long		status;			/* HTTP status when transport_ok */
	char	   *error;			/* palloc'd; NULL on a 2xx answer */
	char	   *response;		/* palloc'd body when want_body */
	size_t		response_len;
} S3Request;

extern const char *s3_missing_setting(void);
extern void s3_perform(S3Request *reqs, int n);
extern char *s3_uri_encode(const char *s, bool keep_slash);
extern char *s3_xml_value(const char *xml, const char *tag);

#endif							/* OSV_S3_H */
