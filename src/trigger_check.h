/*-------------------------------------------------------------------------
 *
 * trigger_check.h
 *		The one check that a C trigger function is fired as declared.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/trigger_check.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_TRIGGER_CHECK_H
#define OSV_TRIGGER_CHECK_H

#include "commands/trigger.h"

/* Events, as bits of the masks of trigger_check(). */
#define TRIGGER_CHECK_INSERT	(1 << TRIGGER_EVENT_INSERT)
#define TRIGGER_CHECK_DELETE	(1 << TRIGGER_EVENT_DELETE)
#define TRIGGER_CHECK_UPDATE	(1 << TRIGGER_EVENT_UPDATE)
#define TRIGGER_CHECK_TRUNCATE	(1 << TRIGGER_EVENT_TRUNCATE)

extern TriggerData *trigger_check(FunctionCallInfo fcinfo, const char *funcname,
								  bool before, int row_events,
								  int statement_events, const char *expected);

#endif							/* OSV_TRIGGER_CHECK_H */
