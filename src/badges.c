/*-------------------------------------------------------------------------
 *
 * badges.c
 *		The badge trigger of hot insert paths, with a per-backend cache of
 *		the criteria that badges name.
 *
 * Inserting documents or room participations fires a statement trigger,
 * osv.evaluate_badges_after_insert(criterion), that evaluates for each
 * user of the new rows the badges naming the criterion (documents_at_least,
 * rooms_joined_at_least).  Most of the time no badge names it, and learning
 * that with a query from PL/pgSQL cost about a tenth of the insert of a
 * document.  So each backend keeps the set of criterion names that some
 * badge has (and whether some badge has no criteria at all, which any fact
 * may complete), read once through SPI, and drops it when osv.badges
 * changes: the statement trigger osv.badges_changed() on osv.badges
 * registers a relcache invalidation of the table, which PostgreSQL applies
 * in this backend at the next command and in every other backend at commit
 * (and undoes locally at abort), where a relcache callback drops the
 * cache; the trigger accepts pending invalidations before it looks.  The
 * read takes a fresh snapshot, and a counter of invalidations keeps a read
 * that raced with one from being kept.  The invalidating trigger is ENABLE
 * ALWAYS, so it fires under session_replication_role = replica (logical
 * replication, restores) too.  (A badge whose creation commits while an
 * insert's trigger runs is evaluated from the user's next insert on.)
 *
 * Runs in ordinary backends, inside the caller's transaction; no locks
 * beyond those of its queries (AccessShareLock on osv.badges to read it).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/badges.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "spi_plan.h"
#include "trigger_check.h"

PG_FUNCTION_INFO_V1(osv_badges_changed);
PG_FUNCTION_INFO_V1(osv_evaluate_badges_after_insert);

/* The cache: valid while no invalidation of osv.badges came since the read. */
static bool criteria_valid = false;
static bool criteria_any_empty = false;
static List *criteria_names = NIL;	/* of char *, in CacheMemoryContext */
static uint64 criteria_invalidations = 0;
static Oid	badges_relid = InvalidOid;	/* osv.badges when the cache was read */
static bool criteria_callback_registered = false;

/* No catalog access here: callbacks run while invalidations are processed. */
static void
badges_relcache_callback(Datum arg, Oid relid)
{
	/* InvalidOid: every relation (a cache reset). */
	if (relid == InvalidOid || relid == badges_relid)
	{
		criteria_invalidations++;
		criteria_valid = false;
	}
}

/* Read the criteria that badges name into the cache, through SPI. */
static void
load_criteria(void)
{
	uint64		invalidations_before = criteria_invalidations;
	int			rc;
	List	   *names = NIL;
	bool		any_empty = false;
	MemoryContext old;

	badges_relid = get_relname_relid("badges", get_namespace_oid("osv", false));

	/*
	 * A snapshot of its own, taken now: the statement's may be older than the
	 * invalidation just accepted (a badge committed while the statement ran,
	 * or at any time in a REPEATABLE READ transaction), and a read with it
	 * would be kept as valid.
	 */
	spi_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute("SELECT DISTINCT k.name FROM osv.badges b"
					 " LEFT JOIN LATERAL pg_catalog.jsonb_object_keys(b.criteria) AS k(name) ON true",
					 true, 0);
	PopActiveSnapshot();
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (name == NULL)
			any_empty = true;	/* a badge with criteria {} */
		else
		{
			old = MemoryContextSwitchTo(CacheMemoryContext);
			names = lappend(names, pstrdup(name));
			MemoryContextSwitchTo(old);
		}
	}

	SPI_finish();

	list_free_deep(criteria_names);
	criteria_names = names;
	criteria_any_empty = any_empty;
	/* An invalidation during the read may have come after its snapshot. */
	criteria_valid = (criteria_invalidations == invalidations_before);
}

/* Whether some badge names "criterion" (or has none). */
static bool
criterion_in_use(const char *criterion)
{
	ListCell   *lc;

	if (!criteria_callback_registered)
	{
		CacheRegisterRelcacheCallback(badges_relcache_callback, (Datum) 0);
		criteria_callback_registered = true;
	}

	/*
	 * A badge committed since this transaction last took a new lock: its
	 * invalidation is applied only when invalidations are accepted, so accept
	 * them now, as a new statement's snapshot would see the badge.
	 */
	AcceptInvalidationMessages();
	if (!criteria_valid)
		load_criteria();
	if (criteria_any_empty)
		return true;
	foreach(lc, criteria_names)
	{
		if (strcmp((const char *) lfirst(lc), criterion) == 0)
			return true;
	}
	return false;
}

/*
 * osv.badges_changed(): AFTER ... FOR EACH STATEMENT trigger on osv.badges;
 * every backend's cache of criteria is dropped.
 */
Datum
osv_badges_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "osv.badges_changed", false, 0,
										  TRIGGER_CHECK_INSERT | TRIGGER_CHECK_UPDATE |
										  TRIGGER_CHECK_DELETE | TRIGGER_CHECK_TRUNCATE,
										  "AFTER ... FOR EACH STATEMENT");

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * osv.evaluate_badges_after_insert(criterion): AFTER INSERT ... REFERENCING
 * NEW TABLE ... FOR EACH STATEMENT trigger on a table with user_id and
 * deleted_at; runs osv.evaluate_badges(user_id, criterion) once per user of
 * the live new rows, in user order, when some badge names the criterion.
 */
Datum
osv_evaluate_badges_after_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	const char *criterion;
	const char *new_table;
	Oid			argtype = TEXTOID;
	Datum		arg;
	int			rc;

	trigdata = trigger_check(fcinfo, "osv.evaluate_badges_after_insert", false,
							 0, TRIGGER_CHECK_INSERT,
							 "AFTER INSERT ... FOR EACH STATEMENT");
	if (trigdata->tg_trigger->tgnargs != 1 || trigdata->tg_trigger->tgnewtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be given a criterion and a NEW TABLE transition relation",
						"osv.evaluate_badges_after_insert")));
	criterion = trigdata->tg_trigger->tgargs[0];
	new_table = trigdata->tg_trigger->tgnewtable;

	/* The usual case, no badge naming the criterion, needs no SPI. */
	if (!criterion_in_use(criterion))
		return PointerGetDatum(NULL);

	spi_connect();
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	arg = CStringGetTextDatum(criterion);
	rc = SPI_execute_with_args(psprintf("SELECT osv.evaluate_badges(n.user_id, $1)"
										" FROM (SELECT DISTINCT r.user_id FROM %s r"
										"       WHERE r.deleted_at IS NULL ORDER BY r.user_id) n",
										quote_identifier(new_table)),
							   1, &argtype, &arg, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}
