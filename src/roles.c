/*-------------------------------------------------------------------------
 *
 * roles.c
 *		The acting platform user of a session, and safe reads of settings.
 *
 * An app connects with a login role granted osv_app and, per request, sets
 * osv.acting_user_id to the id (osv.users) of the platform user it acts
 * for.  The row-level security policies of the user tables compare rows
 * with osv.acting_user_id() (DESIGN.md section 9), and the functions that
 * take a user id refuse any other user through osv.check_acting_user().
 *
 * Who is restricted is decided by the role in effect at the outer level of
 * the session (GetOuterUserId: the session user, or the role of SET ROLE),
 * not by the current user, which is the extension owner inside a SECURITY
 * DEFINER function: superusers and members of osv_admin (the operators,
 * the workers) act for any user; every other role acts only for the user
 * named by osv.acting_user_id, and for nobody while it is unset or 0.
 *
 * osv.setting_interval() reads interval-valued settings of osv for the
 * extension's SQL.  It refuses secret settings (GUC_SUPERUSER_ONLY or
 * GUC_NO_SHOW_ALL) whoever calls it, and its errors never show a value.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/roles.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "roles.h"
#include "settings.h"

/* osv.acting_user_id as text (the GUC) and as a number (0 = nobody). */
static char *osv_acting_user_id_text = NULL;
static int64 osv_acting_user_id = 0;

/* The role the background workers connect as. */
char	   *osv_worker_role = NULL;

/* A file holding a secret key, and the key it held when last read. */
typedef struct KeyFile
{
	const char *setting;		/* name of the GUC naming the file */
	char	   *path;			/* the GUC's value */
	bool		stale;			/* read the file again before the next use */
	char	   *key;			/* in TopMemoryContext; NULL until read */
} KeyFile;

static KeyFile qdrant_key_file = {"osv.qdrant_api_key_file", NULL, true, NULL};
static KeyFile s3_key_file = {"osv.s3_secret_access_key_file", NULL, true, NULL};

/* Longest key read from a key file. */
#define KEY_FILE_MAX 4096

/* A user id: empty (nobody) or a non-negative bigint. */
static bool
parse_user_id(const char *value, int64 *result)
{
	char	   *end;
	long long	v;

	*result = 0;
	if (value == NULL || value[0] == '\0')
		return true;
	errno = 0;
	v = strtoll(value, &end, 10);
	while (*end == ' ')
		end++;
	if (errno != 0 || end == value || *end != '\0' || v < 0)
		return false;
	*result = (int64) v;
	return true;
}

static bool
check_acting_user_id(char **newval, void **extra, GucSource source)
{
	int64		id;

	if (!parse_user_id(*newval, &id))
	{
		GUC_check_errdetail("The acting user is the id of a row of osv.users, or 0 for nobody.");
		return false;
	}
	return true;
}

static void
assign_acting_user_id(const char *newval, void *extra)
{
	int64		id;

	osv_acting_user_id = parse_user_id(newval, &id) ? id : 0;
}

/* A key file setting changed, or the configuration was reloaded. */
static void
assign_key_file(const char *newval, void *extra)
{
	qdrant_key_file.stale = true;
	s3_key_file.stale = true;
}

void
roles_define_settings(void)
{
	DefineCustomStringVariable("osv.worker_role",
							   "Sets the role osv's background workers connect as.",
							   "It must be able to log in and must not be a superuser; osv_worker by default.",
							   &osv_worker_role, "osv_worker",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("osv.qdrant_api_key_file",
							   "Sets the file holding the API key sent to Qdrant.",
							   "Read at worker start and after every reload; takes precedence over osv.qdrant_api_key.",
							   &qdrant_key_file.path, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, assign_key_file, NULL);
	DefineCustomStringVariable("osv.s3_secret_access_key_file",
							   "Sets the file holding the secret access key of the object storage (S3, MinIO).",
							   "Read at first use after a start and after every reload.",
							   &s3_key_file.path, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, assign_key_file, NULL);
	DefineCustomStringVariable("osv.acting_user_id",
							   "Sets the platform user (osv.users.id) the session acts for.",
							   "Row-level security shows an osv_app session only this user's rows; 0 or empty means nobody.",
							   &osv_acting_user_id_text, "",
							   PGC_USERSET, 0,
							   check_acting_user_id, assign_acting_user_id, NULL);
}

/*
 * Whether the session is restricted to its acting user: the role at the
 * outer level is neither a superuser nor a member of osv_admin.
 */
static bool
session_is_restricted(void)
{
	Oid			outer = GetOuterUserId();
	Oid			admin;

	if (superuser_arg(outer))
		return false;
	admin = get_role_oid("osv_admin", true);
	if (OidIsValid(admin) && has_privs_of_role(outer, admin))
		return false;
	return true;
}

/*
 * osv.acting_user_id() RETURNS bigint
 *
 * The user the session acts for; NULL while osv.acting_user_id is unset or
 * 0, so that a policy comparing a user id with it is never true.
 */
PG_FUNCTION_INFO_V1(osv_acting_user_id_fn);
Datum
osv_acting_user_id_fn(PG_FUNCTION_ARGS)
{
	if (osv_acting_user_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(osv_acting_user_id);
}

/*
 * Raise an error unless the session may act for user_id (see above).
 */
void
roles_check_acting_user(int64 user_id)
{
	if (!session_is_restricted())
		return;
	if (osv_acting_user_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot act for user %lld", (long long) user_id),
				 errdetail("The session acts for no user: osv.acting_user_id is not set."),
				 errhint("Set osv.acting_user_id to the id of the user the request is made for.")));
	if (user_id != osv_acting_user_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot act for user %lld", (long long) user_id),
				 errdetail("The session acts for user %lld (osv.acting_user_id).",
						   (long long) osv_acting_user_id)));
}

/*
 * osv.check_acting_user(user_id bigint) RETURNS bigint
 *
 * Returns user_id if the session may act for that user, else raises
 * insufficient_privilege.  NULL passes through (the caller's own null
 * checks speak for it), so it fits in an expression:
 * osv.search_summaries passes its user filter through it.
 */
PG_FUNCTION_INFO_V1(osv_check_acting_user);
Datum
osv_check_acting_user(PG_FUNCTION_ARGS)
{
	int64		user_id;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	user_id = PG_GETARG_INT64(0);
	roles_check_acting_user(user_id);
	PG_RETURN_INT64(user_id);
}

/*
 * osv.setting_interval(name text) RETURNS interval
 *
 * The value of an interval-valued setting of osv.  Being a C function, it
 * loads osv.so first, so the setting is defined even in a session that
 * never loaded the library; the extension's SQL reads its settings through
 * it for that reason.  Secret settings are refused to everyone, superusers
 * included, and no error shows a setting's value: the value of a setting
 * that is not an interval would otherwise reach the caller and the server
 * log through interval_in's error.
 */
PG_FUNCTION_INFO_V1(osv_setting_interval_1_1);
Datum
osv_setting_interval_1_1(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *value;
	int			flags;
	MemoryContext oldcxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;
	bool		valid = true;

	if (strncmp(name, "osv.", 4) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a setting of osv", name)));
	flags = GetConfigOptionFlags(name, true);
	value = GetConfigOption(name, true, false);
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unrecognized configuration parameter \"%s\"", name)));
	if (flags & (GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("setting \"%s\" is secret", name),
				 errdetail("osv.setting_interval() reads only settings that are not secret.")));

	/*
	 * interval_in only computes: catching its error without a
	 * subtransaction leaves nothing behind.
	 */
	PG_TRY();
	{
		result = DirectFunctionCall3(interval_in,
									 CStringGetDatum(value),
									 ObjectIdGetDatum(InvalidOid),
									 Int32GetDatum(-1));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		valid = false;
	}
	PG_END_TRY();
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" is not an interval", name)));
	PG_RETURN_DATUM(result);
}

/*
 * Read a key file: the key is its content without surrounding white space.
 * Returns a palloc'd string; errors name the file, never its content.
 */
static char *
read_key_file(const char *setting, const char *path)
{
	FILE	   *f;
	char	   *buf = palloc(KEY_FILE_MAX + 2);
	size_t		len;
	char	   *start;
	struct stat st;

	f = AllocateFile(path, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open key file \"%s\" named by %s: %m", path, setting)));
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(WARNING,
				(errmsg("key file \"%s\" named by %s is accessible to other users", path, setting),
				 errhint("Make it readable by the server's operating system user only (chmod 600).")));
	len = fread(buf, 1, KEY_FILE_MAX + 1, f);
	if (ferror(f))
	{
		int			save_errno = errno;

		FreeFile(f);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read key file \"%s\" named by %s: %m", path, setting)));
	}
	FreeFile(f);
	if (len > KEY_FILE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key file \"%s\" named by %s is longer than %d bytes", path, setting, KEY_FILE_MAX)));
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	start = buf;
	while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
		start++;
	if (*start == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key file \"%s\" named by %s is empty", path, setting)));
	return start;
}

/* The key of a key file, read again when the setting changed or a reload happened. */
static const char *
key_file_key(KeyFile *kf)
{
	if (kf->stale)
	{
		char	   *key = NULL;

		if (kf->path != NULL && kf->path[0] != '\0')
			key = MemoryContextStrdup(TopMemoryContext, read_key_file(kf->setting, kf->path));
		if (kf->key != NULL)
		{
			explicit_bzero(kf->key, strlen(kf->key));
			pfree(kf->key);
		}
		kf->key = key;
		kf->stale = false;
	}
	return kf->key;
}

/*
 * The API key to send to Qdrant: from osv.qdrant_api_key_file when set,
 * else the inline osv.qdrant_api_key (which PostgreSQL logs when a reload
 * changes it).
 */
const char *
roles_qdrant_api_key(void)
{
	const char *key = key_file_key(&qdrant_key_file);

	return key != NULL ? key : osv_qdrant_api_key;
}

/*
 * The secret access key of the object storage, from
 * osv.s3_secret_access_key_file; NULL when no file is set.
 */
const char *
roles_s3_secret_access_key(void)
{
	return key_file_key(&s3_key_file);
}

/*
 * Connect a background worker to osv.database as osv.worker_role, refuse to
 * go on as a superuser and pin search_path.  Key files are read on the
 * first use after start and after each reload, inside a transaction.
 */
void
roles_worker_connect(const char *worker_name)
{
	BackgroundWorkerInitializeConnection(osv_database, osv_worker_role, 0);
	if (superuser())
		ereport(FATAL,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s cannot run as superuser \"%s\"", worker_name, osv_worker_role),
				 errhint("Set osv.worker_role to a role that can log in and is a member of osv_admin, such as osv_worker.")));
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}
