/*-------------------------------------------------------------------------
 *
 * settings.c
 *		Every setting (GUC) of osv, and osv.setting_interval().
 *
 * settings_define() runs from _PG_init (src/osv.c) in every process that
 * loads osv.so: the postmaster when osv is in shared_preload_libraries,
 * and otherwise each backend on the first call of one of osv's C
 * functions.  The check hooks run in the postmaster too, so they never
 * raise an ERROR (it would be fatal there).  Settings that shape process
 * startup (PGC_POSTMASTER) are defined only when osv is preloaded, because
 * defining them later is an error.
 *
 * osv.setting_interval() runs in a backend, inside the caller's
 * transaction.  Nothing here takes a lock.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker_internals.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "roles.h"
#include "settings.h"
#include "storage_sync.h"

/* Startup settings. */
char	   *osv_database = NULL;
bool		osv_vector_sync_worker = true;
int			osv_vector_sync_workers = 1;
bool		osv_scheduler_worker = true;

/* Vector layer settings. */
char	   *osv_qdrant_url = NULL;
char	   *osv_qdrant_api_key = NULL;
char	   *osv_qdrant_collection = NULL;
int			osv_vector_dimensions = 384;
int			osv_qdrant_timeout = 10000;
int			osv_qdrant_connect_timeout = 2000;
int			osv_vector_sync_batch_size = 256;
int			osv_vector_sync_naptime = 10000;
int			osv_vector_sync_max_attempts = 10;
int			osv_vector_sync_backoff = 1000;
int			osv_vector_sync_backoff_max = 300000;
int			osv_vector_sync_in_doubt_fence = 30000;

/* Retention settings. */
int			osv_retention_interval = 3600;
char	   *osv_activity_log_retention = NULL;
char	   *osv_room_idle_timeout = NULL;
char	   *osv_trash_retention = NULL;
char	   *osv_job_runs_retention = NULL;
char	   *osv_recommendation_ttl = NULL;
int			osv_retention_batch_size = 10000;

/* Domain settings. */
char	   *osv_auth0_roles_claim = NULL;

/* Vector layer at scale (DESIGN.md section 10). */
int			osv_qdrant_shard_number = 1;
int			osv_qdrant_replication_factor = 1;
int			osv_qdrant_write_consistency_factor = 1;
bool		osv_search_fallback = true;
int			osv_search_parallel_workers = 0;
char	   *osv_reconcile_interval = NULL;

bool		osv_preloaded = false;

/* Longest Qdrant collection name we accept (Qdrant's own limit is 255). */
#define OSV_MAX_COLLECTION_NAME 255

/*
 * Parse an interval literal without raising an error: the GUC check hooks
 * below run in the postmaster too, where an ERROR would be fatal.  Returns
 * true and fills *result when "value" is a valid interval.
 */
static bool
parse_interval_quietly(const char *value, Interval *result)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_itm_in itm_in;

	if (ParseDateTime(value, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;
	if (DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype,
					   &itm_in) != 0)
		return false;
	if (dtype != DTK_DELTA)
		return false;
	if (itmin2interval(&itm_in, result) != 0)
		return false;
	return true;
}

/*
 * Check hook of the interval-valued settings: a positive interval such as
 * '90 days' or '36 hours'.
 */
static bool
check_positive_interval(char **newval, void **extra, GucSource source)
{
	Interval	iv;

	if (*newval == NULL || !parse_interval_quietly(*newval, &iv))
	{
		GUC_check_errdetail("The value must be an interval, such as '90 days'.");
		return false;
	}
	if (iv.month < 0 || iv.day < 0 || iv.time < 0 ||
		(iv.month == 0 && iv.day == 0 && iv.time == 0))
	{
		GUC_check_errdetail("The interval must be positive and have no negative part.");
		return false;
	}
	return true;
}

/*
 * Check hook of osv.qdrant_url: empty (embedded mode) or an http:// or
 * https:// URL without spaces.
 */
static bool
check_qdrant_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url == NULL || url[0] == '\0')
		return true;
	if (pg_strncasecmp(url, "http://", 7) != 0 &&
		pg_strncasecmp(url, "https://", 8) != 0)
	{
		GUC_check_errdetail("The URL must start with \"http://\" or \"https://\", or be empty for the embedded mode.");
		return false;
	}
	for (const char *p = url; *p; p++)
	{
		if (*p <= ' ' || *p == 0x7f)
		{
			GUC_check_errdetail("The URL must not contain spaces or control characters.");
			return false;
		}
	}
	return true;
}

/*
 * Check hook of osv.qdrant_collection: 1 to 255 letters, digits, '_' or '-',
 * so that the name can be put in a URL path as it is.
 */
static bool
check_collection_name(char **newval, void **extra, GucSource source)
{
	const char *name = *newval;
	size_t		len = name ? strlen(name) : 0;

	if (len == 0 || len > OSV_MAX_COLLECTION_NAME)
	{
		GUC_check_errdetail("The collection name must have between 1 and %d characters.",
							OSV_MAX_COLLECTION_NAME);
		return false;
	}
	for (const char *p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
		{
			GUC_check_errdetail("The collection name may contain only letters, digits, \"_\" and \"-\".");
			return false;
		}
	}
	return true;
}

static void
define_interval_setting(const char *name, const char *short_desc,
						char **variable, const char *boot_value)
{
	DefineCustomStringVariable(name, short_desc, NULL, variable, boot_value,
							   PGC_SUSET, 0,
							   check_positive_interval, NULL, NULL);
}

/* The integer settings of PGC_SIGHUP context (reloadable), without hooks. */
typedef struct IntSetting
{
	const char *name;
	const char *short_desc;
	int		   *variable;
	int			boot_value;
	int			min_value;
	int			max_value;
	int			flags;			/* GUC_UNIT_* */
} IntSetting;

static const IntSetting reloadable_ints[] = {
	{"osv.vector_dimensions",
		"Sets the number of dimensions of summary embeddings.",
	&osv_vector_dimensions, 384, 1, 65536, 0},
	{"osv.qdrant_timeout",
		"Sets the time limit of one request to Qdrant.",
	&osv_qdrant_timeout, 10000, 100, 600000, GUC_UNIT_MS},
	{"osv.qdrant_connect_timeout",
		"Sets the time limit for connecting to Qdrant.",
	&osv_qdrant_connect_timeout, 2000, 10, 600000, GUC_UNIT_MS},
	{"osv.vector_sync_batch_size",
		"Sets the number of outbox entries sent to Qdrant in one batch.",
	&osv_vector_sync_batch_size, 256, 1, 10000, 0},
	{"osv.vector_sync_naptime",
		"Sets the longest time the vector sync worker sleeps between outbox checks.",
	&osv_vector_sync_naptime, 10000, 10, 86400000, GUC_UNIT_MS},
	{"osv.vector_sync_max_attempts",
		"Sets the number of attempts after which an outbox entry is parked as failed.",
	&osv_vector_sync_max_attempts, 10, 1, 1000, 0},
	{"osv.vector_sync_backoff",
		"Sets the delay before the first retry of a failed outbox entry.",
	&osv_vector_sync_backoff, 1000, 1, 3600000, GUC_UNIT_MS},
	{"osv.vector_sync_backoff_max",
		"Sets the longest delay between retries of a failed outbox entry.",
	&osv_vector_sync_backoff_max, 300000, 1, 86400000, GUC_UNIT_MS},
	{"osv.vector_sync_in_doubt_fence",
		"Sets the time within which Qdrant is assumed to apply or drop a write that osv gave up on.",
	&osv_vector_sync_in_doubt_fence, 30000, 0, 3600000, GUC_UNIT_MS},
	{"osv.retention_interval",
		"Sets the time between two runs of the retention jobs by the scheduler worker.",
	&osv_retention_interval, 3600, 1, 7 * 86400, GUC_UNIT_S},
};

/*
 * The settings of the vector layer at scale: the parameters of a
 * collection osv creates, the search fallback and the scheduled reconcile.
 */
static void
define_scale_settings(void)
{
	DefineCustomIntVariable("osv.qdrant_shard_number",
							"Sets the number of shards of a Qdrant collection that osv creates.",
							NULL, &osv_qdrant_shard_number, 1, 1, 65536,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.qdrant_replication_factor",
							"Sets the number of replicas of each shard of a Qdrant collection that osv creates.",
							NULL, &osv_qdrant_replication_factor, 1, 1, 65536,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.qdrant_write_consistency_factor",
							"Sets the number of replicas that must apply a write to a Qdrant collection that osv creates.",
							NULL, &osv_qdrant_write_consistency_factor, 1, 1, 65536,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("osv.search_fallback",
							 "Answers searches from the in-database scan while Qdrant cannot answer.",
							 NULL, &osv_search_fallback, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("osv.search_parallel_workers",
							"Sets the maximum number of parallel workers an exact search may start besides its backend.",
							"Also limited by max_parallel_workers_per_gather and by PostgreSQL's rule of when a parallel "
							"scan pays; 0 keeps every search in its backend.",
							&osv_search_parallel_workers, 0, 0, MAX_PARALLEL_WORKER_LIMIT,
							PGC_USERSET, 0, NULL, NULL, NULL);
	define_interval_setting("osv.reconcile_interval",
							"Sets the time between two reconciles of Qdrant with the database by the scheduler worker.",
							&osv_reconcile_interval, "7 days");
}

/*
 * An interval setting's value in milliseconds (a month counts 30 days), or
 * -1 when it does not parse; never raises.
 */
int64
settings_interval_ms(const char *value)
{
	Interval	iv;

	if (value == NULL || !parse_interval_quietly(value, &iv))
		return -1;
	return (int64) iv.month * DAYS_PER_MONTH * SECS_PER_DAY * 1000 +
		(int64) iv.day * SECS_PER_DAY * 1000 + iv.time / 1000;
}

/*
 * Define every setting of osv (from _PG_init).  The PGC_POSTMASTER ones
 * exist only when osv is being preloaded; "osv." is reserved either way.
 */
void
settings_define(void)
{
	osv_preloaded = process_shared_preload_libraries_in_progress;

	DefineCustomStringVariable("osv.qdrant_url",
							   "Sets the base URL of the Qdrant server; empty selects the embedded mode.",
							   NULL, &osv_qdrant_url, "",
							   PGC_SIGHUP, 0,
							   check_qdrant_url, NULL, NULL);
	DefineCustomStringVariable("osv.qdrant_api_key",
							   "Sets the API key sent to Qdrant.",
							   NULL, &osv_qdrant_api_key, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("osv.qdrant_collection",
							   "Sets the name of the Qdrant collection that holds summary embeddings.",
							   NULL, &osv_qdrant_collection, "osv_summaries",
							   PGC_SIGHUP, 0,
							   check_collection_name, NULL, NULL);
	for (int i = 0; i < lengthof(reloadable_ints); i++)
	{
		const IntSetting *setting = &reloadable_ints[i];

		DefineCustomIntVariable(setting->name, setting->short_desc, NULL,
								setting->variable, setting->boot_value,
								setting->min_value, setting->max_value,
								PGC_SIGHUP, setting->flags, NULL, NULL, NULL);
	}

	define_interval_setting("osv.activity_log_retention",
							"Sets the age after which activity logs are archived.",
							&osv_activity_log_retention, "90 days");
	define_interval_setting("osv.room_idle_timeout",
							"Sets the idle time after which a room counts as abandoned and is trashed.",
							&osv_room_idle_timeout, "30 days");
	define_interval_setting("osv.trash_retention",
							"Sets the time trashed rows are kept before they are purged.",
							&osv_trash_retention, "30 days");
	define_interval_setting("osv.job_runs_retention",
							"Sets the time records of retention job runs are kept.",
							&osv_job_runs_retention, "30 days");
	define_interval_setting("osv.recommendation_ttl",
							"Sets the time a stored recommendation stays valid.",
							&osv_recommendation_ttl, "7 days");
	DefineCustomIntVariable("osv.retention_batch_size",
							"Sets the number of rows a retention job changes in one batch.",
							NULL, &osv_retention_batch_size, 10000, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("osv.auth0_roles_claim",
							   "Sets the name of the top-level claim of an Auth0 profile that lists the user's roles.",
							   "Empty means that roles are read from app_metadata.roles only.",
							   &osv_auth0_roles_claim, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	roles_define_settings();
	define_scale_settings();

	if (osv_preloaded)
	{
		DefineCustomStringVariable("osv.database",
								   "Sets the database in which osv's background workers run.",
								   NULL, &osv_database, "postgres",
								   PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomBoolVariable("osv.vector_sync_worker",
								 "Starts the background worker that syncs summary embeddings to Qdrant.",
								 NULL, &osv_vector_sync_worker, true,
								 PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("osv.vector_sync_workers",
								"Sets the number of vector sync workers that drain the outbox together.",
								"The first one also reconciles new targets, sends erasure sweeps and drains the storage queues; the others only sync batches of the outbox.",
								&osv_vector_sync_workers, 1, 1, OSV_MAX_SYNC_WORKERS,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomBoolVariable("osv.scheduler_worker",
								 "Starts the background worker that runs the retention jobs.",
								 NULL, &osv_scheduler_worker, true,
								 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	}

	/* Object storage and the storage sync (src/storage_sync.c). */
	storage_sync_define_settings();

	MarkGUCPrefixReserved("osv");
}

/*
 * osv.setting_interval(name text) RETURNS interval, as defined by the
 * install script of 1.0: the same function as 1.1's, which refuses secret
 * settings and never shows a value (src/roles.c), so that a database not
 * yet updated from 1.0 does not leak either.
 */
PG_FUNCTION_INFO_V1(osv_setting_interval);
Datum
osv_setting_interval(PG_FUNCTION_ARGS)
{
	return osv_setting_interval_1_1(fcinfo);
}
