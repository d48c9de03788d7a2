/*-------------------------------------------------------------------------
 *
 * qdrant.c
 *		REST client of Qdrant: collection, points, query, scroll.
 *
 * Runs in any process that talks to Qdrant: a backend (osv.vector_sync(),
 * osv.vector_reconcile(), osv.qdrant_search()) or the vector sync worker.
 * Requests go through http.c; this file is osv's only json-c user.  It
 * takes no locks and opens no transactions, and it can run with no
 * transaction at all (the worker calls it between its claim and record
 * transactions), so it reads settings only from GUC variables.
 *
 * Calls return false and fill a QdrantError rather than raising, because
 * the sync must record a failure instead of losing it; qdrant_raise()
 * turns one into an ereport for the SQL-facing callers.  Qdrant's error
 * envelope {"status": {"error": "..."}} becomes the reason in the message.
 * Only a 2xx whose body is Qdrant's success envelope counts as success:
 * {"status": "ok", "result": <not null>}, and for a write (wait=true)
 * result.status "completed" or "acknowledged"; any other 2xx body is a
 * failure of the target, and one whose write may have been applied.  A
 * failed call whose request may have reached Qdrant (time-out or lost
 * connection after sending, 5xx, a 2xx that is not a success) is marked
 * in_doubt: the sync then treats the write as possibly applied later.
 * json-c objects are malloc-owned: every value needed is copied out before
 * json_object_put(), and nothing raises while an object is held (except
 * palloc running out of memory, which leaks it; XXX).
 *
 * Collections are versioned (reembedding.c): osv.qdrant_collection is an
 * alias of <alias>_v<N>, which qdrant_ensure_collection() creates and
 * points the alias at; search, scroll and the writes to the current
 * collection go through the alias, the writes of a running re-embedding
 * to <alias>_v<N+1> by name (qdrant_use_next()).
 *
 * Vectors are written with nine significant digits (json_float.c), so
 * Qdrant parses back exactly the float4 stored in the database.  The
 * upsert body is written straight into a StringInfo (strings through
 * PostgreSQL's escape_json), because a batch holds hundreds of thousands
 * of numbers and one json-c object per number, or even per point, costs
 * more than the HTTP round trip; json-c parses the answers.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/qdrant.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include <json-c/json.h>

#include "http.h"
#include "json_float.h"
#include "settings.h"
#include "qdrant.h"
#include "roles.h"

/* Settings for which the collection was last checked, or NULL. */
static char *ensured_for = NULL;

/*
 * What the last check of the collection found different from the
 * cluster settings (TopMemoryContext), NULL when nothing; and how many
 * checks were made, so that the worker records each outcome once.
 */
static char *collection_mismatch = NULL;
static uint64 collection_checks = 0;

/*
 * The query of every write of points: wait for the write to be applied,
 * and order it through the shard's permanent leader.  With "weak" (Qdrant's
 * default) or "medium" (a leader that may change) two writes of one point
 * may be applied in another order on another replica: a delete sent after
 * an upsert could be overtaken by it there and an erased person's point
 * would come back.  "strong" keeps osv's order on every replica; while the
 * leader is down Qdrant refuses the write, which osv retries like any
 * outage (the outbox holds it, searches fall back to the database).
 */
#define WRITE_QUERY "?wait=true&ordering=strong"

/*
 * Versions of the collection (osv.reembeddings, set by the caller from
 * what its transaction sees: qdrant_set_layout()).  Points calls address
 * the alias osv.qdrant_collection, so the current collection behind it,
 * or with use_next the collection of the running re-embedding,
 * <alias>_v<next_version>, by its own name.
 */
static int	layout_cur_version = 1;
static int	layout_cur_dims = 0;	/* 0: osv.vector_dimensions */
static int	layout_next_version = 0;	/* 0: no re-embedding runs */
static int	layout_next_dims = 0;
static bool use_next = false;
static char *ensured_next_for = NULL;

bool
qdrant_configured(void)
{
	return osv_qdrant_url != NULL && osv_qdrant_url[0] != '\0';
}

/* Make the next call check (and if needed create) the collection again. */
void
qdrant_forget_collection(void)
{
	if (ensured_for != NULL)
		pfree(ensured_for);
	ensured_for = NULL;
	if (ensured_next_for != NULL)
		pfree(ensured_next_for);
	ensured_next_for = NULL;
}

/* Set the versions of the collection (see layout_cur_version). */
void
qdrant_set_layout(int cur_version, int cur_dims, int next_version, int next_dims)
{
	layout_cur_version = cur_version;
	layout_cur_dims = cur_dims;
	layout_next_version = next_version;
	layout_next_dims = next_dims;
	use_next = false;			/* also after an error left it set */
}

/* Whether a re-embedding runs (per the last qdrant_set_layout()). */
bool
qdrant_has_next(void)
{
	return layout_next_version > 0;
}

/* Make points calls address the next collection (true) or the alias. */
void
qdrant_use_next(bool on)
{
	use_next = on && layout_next_version > 0;
}

/* The name of collection version "version": <alias>_v<version>. */
static char *
versioned_name(int version)
{
	return psprintf("%s_v%d", osv_qdrant_collection, version);
}

/* The collection that points calls address. */
static const char *
points_collection(void)
{
	return use_next ? versioned_name(layout_next_version) : osv_qdrant_collection;
}

/*
 * Whether the collection is known to exist with the current settings, so
 * that qdrant_ensure_collection() would not call Qdrant.
 */
bool
qdrant_collection_ensured(void)
{
	char	   *key;
	bool		result;

	if (ensured_for == NULL)
		return false;
	key = psprintf("%s\n%s\n%d\n%d", osv_qdrant_url, osv_qdrant_collection, layout_cur_version,
				   layout_cur_dims > 0 ? layout_cur_dims : osv_vector_dimensions);
	result = strcmp(ensured_for, key) == 0;
	pfree(key);
	return result;
}

static char *qdrant_url(const char *fmt,...) pg_attribute_printf(1, 2);

/* Base URL (without a trailing slash) followed by a formatted path. */
static char *
qdrant_url(const char *fmt,...)
{
	StringInfoData buf;
	size_t		len = strlen(osv_qdrant_url);
	va_list		args;

	while (len > 0 && osv_qdrant_url[len - 1] == '/')
		len--;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, osv_qdrant_url, len);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

/* Parse a JSON text of known length; NULL when it is not JSON. */
static json_object *
parse_json(const char *input, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj;

	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, input, (int) len);
	if (obj != NULL && json_tokener_get_error(tok) != json_tokener_success)
	{
		json_object_put(obj);
		obj = NULL;
	}
	/* Trailing bytes after a complete value: not a valid answer either. */
	if (obj != NULL && json_tokener_get_parse_end(tok) < len)
	{
		size_t		rest = json_tokener_get_parse_end(tok);

		while (rest < len && (input[rest] == ' ' || input[rest] == '\n' ||
							  input[rest] == '\r' || input[rest] == '\t'))
			rest++;
		if (rest < len)
		{
			json_object_put(obj);
			obj = NULL;
		}
	}
	json_tokener_free(tok);
	return obj;
}

/* Make a printable one-line excerpt of a response body. */
static char *
excerpt(const char *input, size_t len)
{
	size_t		n = Min(len, 200);
	char	   *out = palloc(n + 4);

	for (size_t i = 0; i < n; i++)
		out[i] = (input[i] < ' ' || input[i] == 0x7f) ? ' ' : input[i];
	if (len > n)
		memcpy(out + n, "...", 4);
	else
		out[n] = '\0';
	return out;
}

static void
set_error(QdrantError *err, QdrantErrorKind kind, int sqlstate, long status,
		  long retry_after_ms, char *message, char *detail, char *hint)
{
	err->kind = kind;
	err->sqlstate = sqlstate;
	err->http_status = status;
	err->retry_after_ms = retry_after_ms;
	err->message = message;
	err->detail = detail;
	err->hint = hint;
	err->in_doubt = false;
}

/*
 * Whether a parsed 2xx answer is Qdrant's success envelope; *reason gets
 * why not (palloc'd).  For a write, result.status must say it was applied
 * or accepted.
 */
static bool
is_success(json_object *root, bool update, char **reason)
{
	json_object *st = NULL;
	json_object *result = NULL;

	*reason = NULL;
	if (!json_object_is_type(root, json_type_object))
	{
		*reason = pstrdup("the answer of Qdrant is not a JSON object");
		return false;
	}
	if (json_object_object_get_ex(root, "status", &st) &&
		json_object_is_type(st, json_type_object))
	{
		json_object *e;

		if (json_object_object_get_ex(st, "error", &e) &&
			json_object_is_type(e, json_type_string))
			*reason = pstrdup(json_object_get_string(e));
		else
			*reason = pstrdup("the answer of Qdrant has an error status");
		return false;
	}
	if (st == NULL || !json_object_is_type(st, json_type_string) ||
		strcmp(json_object_get_string(st), "ok") != 0)
	{
		*reason = pstrdup("the answer of Qdrant has no status \"ok\"");
		return false;
	}
	if (!json_object_object_get_ex(root, "result", &result) || result == NULL ||
		json_object_is_type(result, json_type_null))
	{
		*reason = pstrdup("the answer of Qdrant has no result");
		return false;
	}
	if (update)
	{
		json_object *us = NULL;
		const char *status;

		if (!json_object_is_type(result, json_type_object) ||
			!json_object_object_get_ex(result, "status", &us) ||
			!json_object_is_type(us, json_type_string))
		{
			*reason = pstrdup("the answer of Qdrant has no update status");
			return false;
		}
		status = json_object_get_string(us);
		if (strcmp(status, "completed") != 0 && strcmp(status, "acknowledged") != 0)
		{
			*reason = psprintf("the update status is \"%s\"", status);
			return false;
		}
	}
	return true;
}

static json_object *qdrant_answer(const char *method, const char *url, HttpResponse *response,
								  const char *what, bool update, QdrantError *err);

/*
 * Send a request and classify the answer.  On success (HTTP 2xx with
 * Qdrant's success envelope; "update": a write's result.status too)
 * returns the parsed body, which the caller must put; otherwise returns
 * NULL and fills *err.  "what" names the operation for messages, as in
 * "upsert points into Qdrant collection \"c\"".
 */
static json_object *
qdrant_call(const char *method, const char *url, const char *body,
			size_t body_len, const char *what, bool update, QdrantError *err)
{
	HttpResponse resp;

	http_request(method, url, body, body_len, roles_qdrant_api_key(), &resp);
	return qdrant_answer(method, url, &resp, what, update, err);
}

/* The classification of qdrant_call(), of an answer received. */
static json_object *
qdrant_answer(const char *method, const char *url, HttpResponse *response,
			  const char *what, bool update, QdrantError *err)
{
	HttpResponse resp = *response;
	json_object *root;
	char	   *reason = NULL;
	long		status;

	if (!resp.transport_ok)
	{
		set_error(err, QDRANT_RETRY, ERRCODE_CONNECTION_FAILURE, 0, -1,
				  psprintf("could not %s: %s", what, resp.error),
				  psprintf("libcurl reported: %s. The request was %s %s.",
						   resp.error_detail, method, url),
				  NULL);
		err->in_doubt = resp.sent;
		return NULL;
	}

	status = resp.status;
	root = parse_json(resp.body, resp.body_len);
	if (status >= 200 && status < 300)
	{
		if (root == NULL)
		{
			set_error(err, QDRANT_RETRY, ERRCODE_INVALID_JSON_TEXT, status, -1,
					  psprintf("could not %s: the answer of Qdrant is not valid JSON", what),
					  psprintf("Qdrant answered HTTP status %ld to %s %s with \"%s\".",
							   status, method, url,
							   excerpt(resp.body, resp.body_len)),
					  NULL);
			err->in_doubt = true;
			return NULL;
		}
		if (!is_success(root, update, &reason))
		{
			json_object_put(root);
			set_error(err, QDRANT_RETRY, ERRCODE_INVALID_JSON_TEXT, status,
					  resp.retry_after_ms,
					  psprintf("could not %s: %s (HTTP status %ld)", what, reason, status),
					  psprintf("Qdrant answered HTTP status %ld to %s %s with \"%s\".",
							   status, method, url,
							   excerpt(resp.body, resp.body_len)),
					  NULL);
			err->in_doubt = true;
			return NULL;
		}
		return root;
	}

	/* An error: take Qdrant's own words from its envelope if there is one. */
	if (root != NULL)
	{
		json_object *st;
		json_object *e;

		if (json_object_object_get_ex(root, "status", &st) &&
			json_object_is_type(st, json_type_object) &&
			json_object_object_get_ex(st, "error", &e) &&
			json_object_is_type(e, json_type_string))
			reason = pstrdup(json_object_get_string(e));
		json_object_put(root);
	}
	if (reason == NULL)
		reason = resp.body_len > 0 ? excerpt(resp.body, resp.body_len)
			: pstrdup("empty response");

	{
		char	   *message = psprintf("could not %s: %s (HTTP status %ld)",
									   what, reason, status);
		char	   *detail = psprintf("The request was %s %s.", method, url);

		if (status == 401 || status == 403)
			set_error(err, QDRANT_AUTH, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
					  status, resp.retry_after_ms, message, detail,
					  pstrdup("Check that osv.qdrant_api_key is the API key of the Qdrant server."));
		else if (status == 404)
			set_error(err, QDRANT_GONE, ERRCODE_UNDEFINED_OBJECT, status,
					  resp.retry_after_ms, message, detail,
					  pstrdup("The collection is created again on the next attempt."));
		else if (status == 408 || status == 429 || status >= 500)
		{
			set_error(err, QDRANT_RETRY, ERRCODE_CONNECTION_FAILURE, status,
					  resp.retry_after_ms, message, detail, NULL);
			/* A 5xx may come after the write was applied (or from a proxy). */
			err->in_doubt = status >= 500;
		}
		else
			set_error(err, QDRANT_REJECTED, ERRCODE_INVALID_PARAMETER_VALUE, status,
					  resp.retry_after_ms, message, detail, NULL);
	}
	return NULL;
}

/* Like qdrant_call, for calls whose successful answer is not needed. */
static bool
qdrant_call_ok(const char *method, const char *url, const char *body,
			   size_t body_len, const char *what, bool update, QdrantError *err)
{
	json_object *root = qdrant_call(method, url, body, body_len, what, update, err);

	if (root == NULL)
		return false;
	json_object_put(root);
	return true;
}

/* result.<path...> of a parsed answer, or NULL. */
static json_object *
get_path(json_object *obj, const char *const *path)
{
	for (; *path != NULL; path++)
	{
		if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
			!json_object_object_get_ex(obj, *path, &obj))
			return NULL;
	}
	return obj;
}

static char *
collection_what(const char *verb, const char *name)
{
	return psprintf("%s Qdrant collection \"%s\"", verb, name);
}

static void
bad_answer(QdrantError *err, const char *what, const char *why)
{
	set_error(err, QDRANT_RETRY, ERRCODE_INVALID_JSON_TEXT, 200, -1,
			  psprintf("could not %s: %s", what, why), NULL, NULL);
}

/*
 * The array result.points of a parsed answer.  When there is none, frees
 * "root", fills *err and returns NULL.
 */
static json_object *
points_of(json_object *root, const char *what, QdrantError *err)
{
	static const char *const points_path[] = {"result", "points", NULL};
	json_object *points = get_path(root, points_path);

	if (points == NULL || !json_object_is_type(points, json_type_array))
	{
		json_object_put(root);
		bad_answer(err, what, "the answer has no list of points");
		return NULL;
	}
	return points;
}

/*
 * Create collection "name" with "dims" dimensions, cosine
 * distance and the cluster settings (osv.qdrant_shard_number,
 * osv.qdrant_replication_factor, osv.qdrant_write_consistency_factor).
 * A 409 (it exists) is returned as an error like any other.
 */
bool
qdrant_create_collection(const char *name, int dims, QdrantError *err)
{
	char	   *body = psprintf("{\"vectors\":{\"size\":%d,\"distance\":\"Cosine\"},"
								"\"shard_number\":%d,\"replication_factor\":%d,"
								"\"write_consistency_factor\":%d}",
								dims, osv_qdrant_shard_number,
								osv_qdrant_replication_factor,
								osv_qdrant_write_consistency_factor);

	return qdrant_call_ok("PUT", qdrant_url("/collections/%s", name),
						  body, strlen(body),
						  psprintf("create Qdrant collection \"%s\"", name),
						  false, err);
}

/*
 * Compare the cluster parameters of a collection (the parsed answer of
 * GET /collections/{name}) with the settings, and keep what differs for
 * qdrant_collection_mismatch().  Qdrant reports every parameter; one it
 * leaves out (an older version) counts as its default, 1.
 */
static void
note_mismatch(json_object *root)
{
	static const struct
	{
		const char *field;
		const char *setting;
		int		   *value;
	}			params[] = {
		{"shard_number", "osv.qdrant_shard_number", &osv_qdrant_shard_number},
		{"replication_factor", "osv.qdrant_replication_factor", &osv_qdrant_replication_factor},
		{"write_consistency_factor", "osv.qdrant_write_consistency_factor", &osv_qdrant_write_consistency_factor},
	};
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(params); i++)
	{
		const char *const path[] = {"result", "config", "params", params[i].field, NULL};
		json_object *v = get_path(root, path);
		int64		actual = 1;

		if (v != NULL && json_object_is_type(v, json_type_int))
			actual = json_object_get_int64(v);
		if (actual != *params[i].value)
			appendStringInfo(&buf, "%s%s is %lld, %s is %d",
							 buf.len > 0 ? "; " : "", params[i].field,
							 (long long) actual, params[i].setting, *params[i].value);
	}
	if (collection_mismatch != NULL)
		pfree(collection_mismatch);
	collection_mismatch = buf.len > 0 ? MemoryContextStrdup(TopMemoryContext, buf.data) : NULL;
	collection_checks++;
	pfree(buf.data);
}

/*
 * What the last check of the collection found different from the cluster
 * settings, or NULL; *checks gets the number of checks made by this
 * process (it changes with each check).
 */
const char *
qdrant_collection_mismatch(uint64 *checks)
{
	*checks = collection_checks;
	return collection_mismatch;
}

/*
 * Make sure the collection "name" exists with "dims" dimensions and cosine
 * distance, and that it has the payload indexes osv filters on.  An
 * existing collection of another size or distance is a QDRANT_CONFIG
 * error: osv never drops data it did not create.  *created tells whether
 * this call created the collection.
 */
static bool
ensure_one(const char *name, int dims, bool *created_out, QdrantError *err)
{
	char	   *url = qdrant_url("/collections/%s", name);
	char	   *what = collection_what("check", name);
	json_object *root;
	static const char *const size_path[] = {"result", "config", "params", "vectors", "size", NULL};
	static const char *const dist_path[] = {"result", "config", "params", "vectors", "distance", NULL};
	static const char *const index_fields[][2] = {
		{"user_id", "integer"}, {"topic", "keyword"}, {"created_at", "datetime"}
	};
	bool		created = false;

	*created_out = false;
	for (int round = 0; round < 2; round++)
	{
		root = qdrant_call("GET", url, NULL, 0, what, false, err);
		if (root != NULL)
		{
			json_object *size = get_path(root, size_path);
			json_object *dist = get_path(root, dist_path);
			int64		n = -1;
			char	   *distance = NULL;

			if (size != NULL && json_object_is_type(size, json_type_int))
				n = json_object_get_int64(size);
			if (dist != NULL && json_object_is_type(dist, json_type_string))
				distance = pstrdup(json_object_get_string(dist));

			if (n >= 0 && distance != NULL)
				note_mismatch(root);
			json_object_put(root);

			if (n < 0 || distance == NULL)
			{
				set_error(err, QDRANT_CONFIG, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 200, -1,
						  psprintf("Qdrant collection \"%s\" has no single unnamed dense vector",
								   name),
						  pstrdup("osv stores one unnamed vector per point."),
						  pstrdup("Set osv.qdrant_collection to a collection created by osv, or to a new name."));
				return false;
			}
			if (n != dims || strcmp(distance, "Cosine") != 0)
			{
				set_error(err, QDRANT_CONFIG, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 200, -1,
						  psprintf("Qdrant collection \"%s\" does not match osv.vector_dimensions",
								   name),
						  psprintf("The collection holds vectors of %lld dimensions with %s distance; osv expects %d with Cosine distance.",
								   (long long) n, distance, dims),
						  pstrdup("Set osv.vector_dimensions to the size of the collection, or set osv.qdrant_collection to a new name and run osv.vector_resync()."));
				return false;
			}
			break;
		}
		if (err->kind != QDRANT_GONE || round > 0)
			return false;

		/* The collection does not exist: create it. */
		{
			QdrantError cerr;

			if (!qdrant_create_collection(name, dims, &cerr))
			{
				/* 409: someone else created it meanwhile; check it again. */
				if (cerr.http_status != 409)
				{
					*err = cerr;
					return false;
				}
			}
			else
				created = true;
		}
	}

	/* Payload indexes (creating an existing one again is harmless). */
	for (int i = 0; i < lengthof(index_fields); i++)
	{
		json_object *body = json_object_new_object();
		char	   *json_text;

		json_object_object_add(body, "field_name", json_object_new_string(index_fields[i][0]));
		json_object_object_add(body, "field_schema", json_object_new_string(index_fields[i][1]));
		json_text = pstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
		json_object_put(body);
		if (!qdrant_call_ok("PUT", qdrant_url("/collections/%s/index?wait=true", name),
							json_text, strlen(json_text),
							psprintf("create payload index \"%s\" of Qdrant collection \"%s\"",
									 index_fields[i][0], name),
							false, err))
			return false;
	}

	if (created)
		elog(DEBUG1, "created Qdrant collection \"%s\"", name);
	*created_out = created;
	return true;
}

/*
 * The collection the alias osv.qdrant_collection names (*target, palloc'd),
 * or NULL when there is no such alias.
 */
static bool
alias_target(char **target, QdrantError *err)
{
	static const char *const aliases_path[] = {"result", "aliases", NULL};
	char	   *what = psprintf("check Qdrant alias \"%s\"", osv_qdrant_collection);
	json_object *root = qdrant_call("GET", qdrant_url("/aliases"), NULL, 0, what, false, err);
	json_object *list;

	*target = NULL;
	if (root == NULL)
		return false;
	list = get_path(root, aliases_path);
	if (list == NULL || !json_object_is_type(list, json_type_array))
	{
		json_object_put(root);
		bad_answer(err, what, "the answer has no list of aliases");
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++)
	{
		json_object *a = json_object_array_get_idx(list, i);
		json_object *alias;
		json_object *coll;

		if (json_object_is_type(a, json_type_object) &&
			json_object_object_get_ex(a, "alias_name", &alias) &&
			json_object_object_get_ex(a, "collection_name", &coll) &&
			json_object_is_type(alias, json_type_string) &&
			json_object_is_type(coll, json_type_string) &&
			strcmp(json_object_get_string(alias), osv_qdrant_collection) == 0)
		{
			*target = pstrdup(json_object_get_string(coll));
			break;
		}
	}
	json_object_put(root);
	return true;
}

/*
 * Apply alias actions in one request (Qdrant applies the list
 * atomically): delete the alias osv.qdrant_collection if "delete_first",
 * then create it for collection "name".
 */
static bool
point_alias(const char *name, bool delete_first, QdrantError *err)
{
	json_object *body = json_object_new_object();
	json_object *actions = json_object_new_array();
	json_object *create = json_object_new_object();
	json_object *create_args = json_object_new_object();
	char	   *json_text;

	if (delete_first)
	{
		json_object *del = json_object_new_object();
		json_object *del_args = json_object_new_object();

		json_object_object_add(del_args, "alias_name", json_object_new_string(osv_qdrant_collection));
		json_object_object_add(del, "delete_alias", del_args);
		json_object_array_add(actions, del);
	}
	json_object_object_add(create_args, "collection_name", json_object_new_string(name));
	json_object_object_add(create_args, "alias_name", json_object_new_string(osv_qdrant_collection));
	json_object_object_add(create, "create_alias", create_args);
	json_object_array_add(actions, create);
	json_object_object_add(body, "actions", actions);
	json_text = pstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	json_object_put(body);
	return qdrant_call_ok("POST", qdrant_url("/collections/aliases"), json_text, strlen(json_text),
						  psprintf("point the Qdrant alias \"%s\" at collection \"%s\"",
								   osv_qdrant_collection, name),
						  false, err);
}

/*
 * Make sure the current collection exists (of the current dimensions,
 * cosine distance, with osv's payload indexes) and that the alias
 * osv.qdrant_collection names it.  The current collection is
 * <alias>_v<N>; at version 1, a plain collection called <alias> (made by
 * osv 1.0, which had no alias) is used as it is, until a re-embedding
 * replaces it.  Checked once per process, settings and version;
 * qdrant_forget_collection() forces a new check.  *created tells whether
 * this call created the collection.
 */
bool
qdrant_ensure_collection(bool *created_out, QdrantError *err)
{
	int			dims = layout_cur_dims > 0 ? layout_cur_dims : osv_vector_dimensions;
	char	   *key = psprintf("%s\n%s\n%d\n%d", osv_qdrant_url, osv_qdrant_collection,
							   layout_cur_version, dims);
	char	   *physical = versioned_name(layout_cur_version);
	char	   *target;

	*created_out = false;
	if (ensured_for != NULL && strcmp(ensured_for, key) == 0)
		return true;
	if (!alias_target(&target, err))
		return false;
	if (target == NULL)
	{
		bool		plain;
		QdrantError gerr;

		/* No alias: a plain collection of that name (osv 1.0)? */
		plain = qdrant_call_ok("GET", qdrant_url("/collections/%s", osv_qdrant_collection), NULL, 0,
							   collection_what("check", osv_qdrant_collection), false, &gerr);
		if (!plain && gerr.kind != QDRANT_GONE)
		{
			*err = gerr;
			return false;
		}
		if (plain && layout_cur_version == 1)
		{
			if (!ensure_one(osv_qdrant_collection, dims, created_out, err))
				return false;
			ensured_for = MemoryContextStrdup(TopMemoryContext, key);
			return true;
		}
		if (plain)
		{
			set_error(err, QDRANT_CONFIG, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 200, -1,
					  psprintf("Qdrant collection \"%s\" has the name of osv's alias", osv_qdrant_collection),
					  psprintf("osv's current collection is \"%s\", which the alias \"%s\" must name.",
							   physical, osv_qdrant_collection),
					  pstrdup("Delete or rename the collection, or set osv.qdrant_collection to another name."));
			return false;
		}
	}
	/*
	 * An alias that names a later version than the current one: a switch
	 * is committing, and this process has not seen it yet (or the switch's
	 * commit failed after the alias moved: osv.finish_reembedding() again
	 * ends it).  Never point the alias back.
	 */
	if (target != NULL && strncmp(target, physical, strlen(osv_qdrant_collection) + 2) == 0 &&
		atoi(target + strlen(osv_qdrant_collection) + 2) > layout_cur_version)
	{
		set_error(err, QDRANT_RETRY, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 200, -1,
				  psprintf("Qdrant alias \"%s\" names collection \"%s\", a later version than the current one (%d)",
						   osv_qdrant_collection, target, layout_cur_version),
				  pstrdup("A re-embedding is being finished, or its switch did not commit."),
				  pstrdup("If osv.reembedding_progress still shows the run, call osv.finish_reembedding() again."));
		return false;
	}
	if (!ensure_one(physical, dims, created_out, err))
		return false;
	if ((target == NULL || strcmp(target, physical) != 0) &&
		!point_alias(physical, target != NULL, err))
		return false;
	ensured_for = MemoryContextStrdup(TopMemoryContext, key);
	return true;
}

/*
 * Make sure the collection of the running re-embedding exists, as
 * qdrant_ensure_collection() does for the current one (no alias names it
 * yet).  Nothing to do when none runs.
 */
bool
qdrant_ensure_next(bool *created_out, QdrantError *err)
{
	char	   *key;

	*created_out = false;
	if (layout_next_version == 0)
		return true;
	key = psprintf("%s\n%s\n%d\n%d", osv_qdrant_url, osv_qdrant_collection,
				   layout_next_version, layout_next_dims);
	if (ensured_next_for != NULL && strcmp(ensured_next_for, key) == 0)
		return true;
	if (!ensure_one(versioned_name(layout_next_version), layout_next_dims, created_out, err))
		return false;
	ensured_next_for = MemoryContextStrdup(TopMemoryContext, key);
	return true;
}

/*
 * Finish a re-embedding in Qdrant: make sure collection <alias>_v<version>
 * exists with "dims" dimensions, point the alias at it (deleting and
 * creating the alias in one request, which Qdrant applies atomically),
 * then delete the collection the alias named before.  A plain collection
 * called <alias> (osv 1.0) must be deleted before the alias can take its
 * name: then there is a moment with neither.
 */
bool
qdrant_switch_alias(int version, int dims, QdrantError *err)
{
	char	   *physical = versioned_name(version);
	char	   *target;
	bool		created;

	qdrant_forget_collection();
	if (!ensure_one(physical, dims, &created, err))
		return false;
	if (!alias_target(&target, err))
		return false;
	if (target == NULL)
	{
		if (!qdrant_call_ok("DELETE", qdrant_url("/collections/%s", osv_qdrant_collection), NULL, 0,
							collection_what("delete", osv_qdrant_collection), false, err) &&
			err->kind != QDRANT_GONE)
			return false;
	}
	if (!point_alias(physical, target != NULL, err))
		return false;
	if (target != NULL && strcmp(target, physical) != 0 &&
		!qdrant_call_ok("DELETE", qdrant_url("/collections/%s", target), NULL, 0,
						collection_what("delete", target), false, err) &&
		err->kind != QDRANT_GONE)
		return false;
	return true;
}

/* Delete the whole collection (after a TRUNCATE of the summaries). */
bool
qdrant_drop_collection(QdrantError *err)
{
	const char *name = use_next ? versioned_name(layout_next_version) : NULL;
	char	   *target = NULL;

	qdrant_forget_collection();
	/* Delete by name resolves no alias: the collection behind it. */
	if (name == NULL && !alias_target(&target, err))
		return false;
	if (name == NULL)
		name = target != NULL ? target : osv_qdrant_collection;
	return qdrant_call_ok("DELETE", qdrant_url("/collections/%s", name),
						  NULL, 0, collection_what("delete", name), false, err);
}

/* Append a vector as a JSON array; its elements must be finite. */
static void
append_vector(StringInfo buf, const float4 *vector, int dimensions)
{
	enlargeStringInfo(buf, dimensions * (JSON_FLOAT4_MAX_LEN + 1) + 2);
	buf->len += json_float4_array_out(vector, dimensions, buf->data + buf->len);
	buf->data[buf->len] = '\0';
}

/*
 * Upsert points (wait=true: the call returns once Qdrant applied them).
 * Vectors must be finite and have osv.vector_dimensions elements; the
 * caller checks that.
 */
bool
qdrant_upsert(const QdrantPoint *points, int npoints, QdrantError *err)
{
	StringInfo	body = qdrant_upsert_body(points, npoints, 0);

	return qdrant_call_ok("PUT", qdrant_url("/collections/%s/points" WRITE_QUERY, points_collection()),
						  body->data, body->len,
						  psprintf("upsert points into Qdrant collection \"%s\"", points_collection()),
						  true, err);
}

/*
 * The body of an upsert of "points", in buffer "slot" (0 .. 2) of the
 * process, which the next call with that slot reuses: a batch's body is a
 * megabyte or more, and one palloc'd and freed per batch cost page faults
 * on every batch (about a fifth of the worker's time).  Slot 0 is
 * qdrant_upsert()'s; the worker's upserts in flight alternate between 1
 * and 2 (one is sent while the next is written).  A body past
 * UPSERT_BUFFER_KEEP bytes is not kept.
 */
#define UPSERT_BUFFER_KEEP (64 * 1024 * 1024)

StringInfo
qdrant_upsert_body(const QdrantPoint *points, int npoints, int slot)
{
	static StringInfo bodies[3];
	StringInfo	body = bodies[slot];

	if (body != NULL && body->maxlen > UPSERT_BUFFER_KEEP)
	{
		pfree(body->data);
		pfree(body);
		body = bodies[slot] = NULL;
	}
	if (body == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		body = makeStringInfo();
		MemoryContextSwitchTo(old);
	}
	bodies[slot] = body;
	resetStringInfo(body);
	/* Room for the whole body at once: no copying while it grows. */
	if (npoints > 0)
		enlargeStringInfo(body, Min((size_t) npoints * (points[0].dimensions * 14 + 256),
									(size_t) MaxAllocSize / 2));
	appendStringInfoString(body, "{\"points\":[");
	for (int i = 0; i < npoints; i++)
	{
		const QdrantPoint *p = &points[i];

		if (i > 0)
			appendStringInfoChar(body, ',');
		appendStringInfo(body, "{\"id\":" INT64_FORMAT ",\"vector\":", p->id);
		append_vector(body, p->vector, p->dimensions);
		appendStringInfo(body, ",\"payload\":{\"summary_id\":" INT64_FORMAT ",\"user_id\":" INT64_FORMAT,
						 p->id, p->user_id);
		if (p->topic != NULL)
		{
			appendStringInfoString(body, ",\"topic\":");
			escape_json(body, p->topic);
		}
		appendStringInfoString(body, ",\"created_at\":");
		escape_json(body, p->created_at);
		appendStringInfo(body, ",\"version\":" INT64_FORMAT "}}", p->version);
	}
	appendStringInfoString(body, "]}");
	return body;
}

/*
 * An upsert in flight: qdrant_upsert_start() sends "body" (from
 * qdrant_upsert_body(), which must not be written again until the upsert
 * is over) and returns; qdrant_upsert_finish() waits for the answer and
 * classifies it as qdrant_upsert() does.  One at a time; other calls may
 * run meanwhile (http.c).  The URL and the message are fixed at the start
 * (a reload may change the settings meanwhile).
 */
static char *upsert_url = NULL;
static char *upsert_what = NULL;

void
qdrant_upsert_start(StringInfo body)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	qdrant_upsert_abort();
	upsert_url = qdrant_url("/collections/%s/points" WRITE_QUERY, osv_qdrant_collection);
	upsert_what = psprintf("upsert points into Qdrant collection \"%s\"", osv_qdrant_collection);
	MemoryContextSwitchTo(old);
	http_start("PUT", upsert_url, body->data, body->len, roles_qdrant_api_key());
}

bool
qdrant_upsert_finish(QdrantError *err)
{
	HttpResponse resp;
	json_object *root;

	http_finish(&resp);
	root = qdrant_answer("PUT", upsert_url, &resp, pstrdup(upsert_what), true, err);
	if (root == NULL)
		return false;
	json_object_put(root);
	return true;
}

/* Give up the upsert in flight, if any (after an ERROR). */
void
qdrant_upsert_abort(void)
{
	http_abort();
	if (upsert_url != NULL)
		pfree(upsert_url);
	if (upsert_what != NULL)
		pfree(upsert_what);
	upsert_url = upsert_what = NULL;
}

/* Delete points by id (missing ids are not an error). */
bool
qdrant_delete_ids(const int64 *ids, int nids, QdrantError *err)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"points\":[");
	for (int i = 0; i < nids; i++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, i > 0 ? "," : "", ids[i]);
	appendStringInfoString(&buf, "]}");
	return qdrant_call_ok("POST", qdrant_url("/collections/%s/points/delete" WRITE_QUERY, points_collection()),
						  buf.data, buf.len,
						  psprintf("delete points from Qdrant collection \"%s\"", points_collection()),
						  true, err);
}

static json_object *
match_condition(const char *key, json_object *value)
{
	json_object *cond = json_object_new_object();
	json_object *match = json_object_new_object();

	json_object_object_add(match, "value", value);
	json_object_object_add(cond, "key", json_object_new_string(key));
	json_object_object_add(cond, "match", match);
	return cond;
}

/* Delete every point of a user (GDPR erasure). */
bool
qdrant_delete_user(int64 user_id, QdrantError *err)
{
	json_object *body = json_object_new_object();
	json_object *filter = json_object_new_object();
	json_object *must = json_object_new_array();
	char	   *json_text;

	json_object_array_add(must, match_condition("user_id", json_object_new_int64(user_id)));
	json_object_object_add(filter, "must", must);
	json_object_object_add(body, "filter", filter);
	json_text = pstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	json_object_put(body);
	return qdrant_call_ok("POST", qdrant_url("/collections/%s/points/delete" WRITE_QUERY, points_collection()),
						  json_text, strlen(json_text),
						  psprintf("delete points from Qdrant collection \"%s\"", points_collection()),
						  true, err);
}

/* A point id of an answer: an unsigned integer that fits in int64. */
static bool
get_point_id(json_object *obj, int64 *id)
{
	if (obj == NULL || !json_object_is_type(obj, json_type_int))
		return false;
	errno = 0;
	*id = json_object_get_int64(obj);
	return errno == 0 && *id >= 0;
}

/*
 * Nearest neighbours by cosine similarity, best first, optionally filtered
 * by owner and topic and excluding one point.  *hits is palloc'd.
 */
bool
qdrant_query(const float4 *vector, int dimensions, int limit,
			 const int64 *user_id, const char *topic, const int64 *exclude_id,
			 QdrantHit **hits, int *nhits, QdrantError *err)
{
	StringInfoData buf;
	json_object *root;
	json_object *points;
	char	   *what = psprintf("query Qdrant collection \"%s\"", osv_qdrant_collection);
	int			n;

	*hits = NULL;
	*nhits = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"query\":");
	append_vector(&buf, vector, dimensions);
	appendStringInfo(&buf, ",\"limit\":%d,\"with_payload\":false,\"with_vector\":false", limit);
	if (user_id != NULL || topic != NULL || exclude_id != NULL)
	{
		json_object *filter = json_object_new_object();

		if (user_id != NULL || topic != NULL)
		{
			json_object *must = json_object_new_array();

			if (user_id != NULL)
				json_object_array_add(must, match_condition("user_id", json_object_new_int64(*user_id)));
			if (topic != NULL)
				json_object_array_add(must, match_condition("topic", json_object_new_string(topic)));
			json_object_object_add(filter, "must", must);
		}
		if (exclude_id != NULL)
		{
			json_object *must_not = json_object_new_array();
			json_object *has_id = json_object_new_object();
			json_object *ids = json_object_new_array();

			json_object_array_add(ids, json_object_new_int64(*exclude_id));
			json_object_object_add(has_id, "has_id", ids);
			json_object_array_add(must_not, has_id);
			json_object_object_add(filter, "must_not", must_not);
		}
		appendStringInfoString(&buf, ",\"filter\":");
		appendStringInfoString(&buf, json_object_to_json_string_ext(filter, JSON_C_TO_STRING_PLAIN));
		json_object_put(filter);
	}
	appendStringInfoChar(&buf, '}');

	root = qdrant_call("POST", qdrant_url("/collections/%s/points/query", osv_qdrant_collection),
					   buf.data, buf.len, what, false, err);
	pfree(buf.data);
	if (root == NULL)
		return false;

	points = points_of(root, what, err);
	if (points == NULL)
		return false;
	n = (int) json_object_array_length(points);
	*hits = palloc0(sizeof(QdrantHit) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		json_object *pt = json_object_array_get_idx(points, i);
		json_object *id = NULL;
		json_object *score = NULL;

		if (!json_object_is_type(pt, json_type_object) ||
			!json_object_object_get_ex(pt, "id", &id) ||
			!json_object_object_get_ex(pt, "score", &score) ||
			!get_point_id(id, &(*hits)[i].id) ||
			!(json_object_is_type(score, json_type_double) ||
			  json_object_is_type(score, json_type_int)))
		{
			json_object_put(root);
			bad_answer(err, what, "a point of the answer has no valid id or score");
			return false;
		}
		(*hits)[i].score = (float4) json_object_get_double(score);
	}
	json_object_put(root);
	*nhits = n;
	return true;
}

/*
 * One page of the collection in id order, starting at *offset (NULL: from
 * the start), with each point's payload "version".  Arrays are palloc'd.
 */
bool
qdrant_scroll(const int64 *offset, int limit, QdrantScrollPage *page,
			  QdrantError *err)
{
	char	   *what = psprintf("scroll Qdrant collection \"%s\"", osv_qdrant_collection);
	char	   *body;
	json_object *root;
	json_object *points;
	json_object *next;
	static const char *const next_path[] = {"result", "next_page_offset", NULL};
	int			n;

	memset(page, 0, sizeof(*page));
	if (offset != NULL)
		body = psprintf("{\"limit\":%d,\"offset\":" INT64_FORMAT ",\"with_payload\":[\"version\"],\"with_vector\":false}",
						limit, *offset);
	else
		body = psprintf("{\"limit\":%d,\"with_payload\":[\"version\"],\"with_vector\":false}", limit);

	root = qdrant_call("POST", qdrant_url("/collections/%s/points/scroll", osv_qdrant_collection),
					   body, strlen(body), what, false, err);
	if (root == NULL)
		return false;
	points = points_of(root, what, err);
	if (points == NULL)
		return false;
	next = get_path(root, next_path);
	n = (int) json_object_array_length(points);
	page->ids = palloc0(sizeof(int64) * Max(n, 1));
	page->versions = palloc0(sizeof(int64) * Max(n, 1));
	page->has_version = palloc0(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		json_object *pt = json_object_array_get_idx(points, i);
		json_object *id = NULL;
		json_object *payload = NULL;
		json_object *version = NULL;

		if (!json_object_is_type(pt, json_type_object) ||
			!json_object_object_get_ex(pt, "id", &id) ||
			!get_point_id(id, &page->ids[i]))
		{
			/* A UUID point was not written by osv: report it. */
			json_object_put(root);
			bad_answer(err, what, "a point of the collection has no integer id");
			return false;
		}
		if (json_object_object_get_ex(pt, "payload", &payload) &&
			json_object_is_type(payload, json_type_object) &&
			json_object_object_get_ex(payload, "version", &version) &&
			json_object_is_type(version, json_type_int))
		{
			page->versions[i] = json_object_get_int64(version);
			page->has_version[i] = true;
		}
	}
	page->npoints = n;
	if (next != NULL && !json_object_is_type(next, json_type_null))
	{
		if (!get_point_id(next, &page->next_offset))
		{
			json_object_put(root);
			bad_answer(err, what, "the next page offset is not an integer id");
			return false;
		}
		page->has_next = true;
	}
	json_object_put(root);
	return true;
}

/* Report a failed call at the given level. */
void
qdrant_raise(int elevel, const QdrantError *err)
{
	ereport(elevel,
			(errcode(err->sqlstate),
			 errmsg_internal("%s", err->message),
			 err->detail ? errdetail_internal("%s", err->detail) : 0,
			 err->hint ? errhint("%s", err->hint) : 0));
}
