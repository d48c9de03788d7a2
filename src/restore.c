/*-------------------------------------------------------------------------
 *
 * restore.c
 *		osv.restoring(): whether the current statement loads rows of a dump.
 *
 * Every table of osv that holds data is marked for pg_dump
 * (pg_extension_config_dump), so a dump carries its rows, and pg_dump and
 * pg_restore load them with COPY ... FROM stdin into the tables that
 * CREATE EXTENSION has just made, triggers included.  Those rows come with
 * everything derived from them: the outbox entries, point totals, awards,
 * trash batches.  The triggers that derive such state (the soft-delete
 * guard, the outbox, badges, point totals) therefore skip a restore, with
 * WHEN (NOT osv.restoring()); triggers that only check a row's content
 * still run.
 *
 * A statement is taken for a restore when it is a COPY by a superuser
 * (restoring osv needs one: CREATE EXTENSION osv does) in a session with
 * row_security = off.  pg_dump's plain scripts and pg_restore
 * (each of its connections, also with --jobs) set row_security = off
 * unless --enable-row-security is given; an application cannot work with
 * it, since any query that a policy would filter fails instead, and the
 * superuser condition keeps any other role from skipping the triggers by
 * copying rows in that mode.  A restore
 * with --enable-row-security, or a COPY by hand in such a session, is not
 * recognised, and the triggers run as for any insert.
 *
 * Runs in any backend, as part of a trigger's WHEN clause; reads only
 * process-local state, takes no lock.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "utils/portal.h"
#include "utils/rls.h"

PG_FUNCTION_INFO_V1(osv_restoring);

/*
 * osv.restoring() RETURNS boolean: true while a superuser's COPY runs in a
 * session with row_security = off, as pg_dump's scripts and pg_restore
 * load data.
 */
Datum
osv_restoring(PG_FUNCTION_ARGS)
{
	bool		restoring;

	restoring = !row_security &&
		ActivePortal != NULL &&
		ActivePortal->commandTag == CMDTAG_COPY &&
		superuser();
	PG_RETURN_BOOL(restoring);
}
