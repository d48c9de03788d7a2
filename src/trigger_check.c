/*-------------------------------------------------------------------------
 *
 * trigger_check.c
 *		The one check that a C trigger function is fired as declared.
 *
 * Runs in the backend that fires the trigger; no locks, no catalog
 * access.  Every C trigger of osv calls trigger_check() first, so a
 * function called by hand or from a trigger of the wrong kind always
 * fails with the same SQLSTATE (E_R_I_E_TRIGGER_PROTOCOL_VIOLATED) and
 * the same wording as PostgreSQL's own triggers.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/trigger_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "trigger_check.h"

/*
 * Raise an error unless the function was called by the trigger manager,
 * BEFORE ("before") or AFTER, for an event of row_events FOR EACH ROW or
 * of statement_events FOR EACH STATEMENT (masks of TRIGGER_CHECK_*).
 * "funcname" is the SQL name, "expected" says how it must be fired
 * ("BEFORE INSERT or UPDATE FOR EACH ROW").  Returns the trigger data.
 */
TriggerData *
trigger_check(FunctionCallInfo fcinfo, const char *funcname, bool before,
			  int row_events, int statement_events, const char *expected)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	int			op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						funcname)));
	event = trigdata->tg_event;
	op = 1 << (event & TRIGGER_EVENT_OPMASK);
	if ((before ? !TRIGGER_FIRED_BEFORE(event) : !TRIGGER_FIRED_AFTER(event)) ||
		!(op & (TRIGGER_FIRED_FOR_ROW(event) ? row_events : statement_events)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired %s", funcname, expected)));
	return trigdata;
}
