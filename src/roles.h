/*-------------------------------------------------------------------------
 *
 * roles.h
 *		The acting platform user of a session (src/roles.c).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/roles.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_ROLES_H
#define OSV_ROLES_H

/* Define osv.acting_user_id (from _PG_init, before the prefix is reserved). */
extern void roles_define_settings(void);

/* Raise insufficient_privilege unless the session may act for user_id. */
extern void roles_check_acting_user(int64 user_id);

#endif							/* OSV_ROLES_H */
