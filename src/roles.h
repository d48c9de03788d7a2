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

#include "fmgr.h"

/* Define osv.acting_user_id (from _PG_init, before the prefix is reserved). */
extern void roles_define_settings(void);

/* Raise insufficient_privilege unless the session may act for user_id. */
extern void roles_check_acting_user(int64 user_id);

/* osv.setting_interval() of 1.1 (the 1.0 symbol calls it too). */
extern Datum osv_setting_interval_1_1(PG_FUNCTION_ARGS);

/* The role osv's background workers connect as (osv.worker_role). */
extern char *osv_worker_role;

/* The API key to send to Qdrant (key file, else the inline setting). */
extern const char *roles_qdrant_api_key(void);

/* The object storage's secret key (osv.s3_secret_access_key_file), or NULL. */
extern const char *roles_s3_secret_access_key(void);

/* Connect a background worker as osv.worker_role with a pinned search_path. */
extern void roles_worker_connect(const char *worker_name);

#endif							/* OSV_ROLES_H */
