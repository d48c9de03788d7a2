/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The settings (GUCs) of osv, defined in settings.c.
 *
 * Every variable declared here is a GUC; nothing here is process-specific:
 * backends and osv's background workers include it alike.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_SETTINGS_H
#define OSV_SETTINGS_H

/* Most vector sync workers osv.vector_sync_workers may start. */
#define OSV_MAX_SYNC_WORKERS 16

/* Startup settings (shared_preload_libraries only). */
extern char *osv_database;
extern bool osv_vector_sync_worker;
extern int	osv_vector_sync_workers;
extern bool osv_scheduler_worker;

/* Vector layer settings (reloadable). */
extern char *osv_qdrant_url;
extern char *osv_qdrant_api_key;
extern char *osv_qdrant_collection;
extern int	osv_vector_dimensions;
extern int	osv_qdrant_timeout;
extern int	osv_qdrant_connect_timeout;
extern int	osv_vector_sync_batch_size;
extern int	osv_vector_sync_naptime;
extern int	osv_vector_sync_max_attempts;
extern int	osv_vector_sync_backoff;
extern int	osv_vector_sync_backoff_max;
extern int	osv_vector_sync_in_doubt_fence;

/* Retention settings. */
extern int	osv_retention_interval;
extern char *osv_activity_log_retention;
extern char *osv_room_idle_timeout;
extern char *osv_trash_retention;
extern char *osv_job_runs_retention;
extern char *osv_recommendation_ttl;
extern int	osv_retention_batch_size;

/* Domain settings. */
extern char *osv_auth0_roles_claim;

/* Vector layer at scale (reloadable). */
extern int	osv_qdrant_shard_number;
extern int	osv_qdrant_replication_factor;
extern int	osv_qdrant_write_consistency_factor;
extern bool osv_search_fallback;
extern int	osv_search_parallel_workers;
extern char *osv_reconcile_interval;

extern int64 settings_interval_ms(const char *value);

/* Whether _PG_init ran from shared_preload_libraries. */
extern bool osv_preloaded;

extern void settings_define(void);

#endif							/* OSV_SETTINGS_H */
