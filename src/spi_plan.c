/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *		SPI connection and the one cache of prepared plans.
 *
 * Runs in whichever process calls it (backends and both workers), inside
 * a transaction; takes no locks beyond those of the statements it runs.
 *
 * Every statement that osv's C code runs more than once goes through
 * spi_plan(): it is prepared on first use in a process, kept
 * (SPI_keepplan) and found again by its text, so one cache serves literal
 * statements and statements built once from trigger arguments alike.  The
 * plan cache revalidates kept plans after DDL (a new partition, DROP and
 * CREATE EXTENSION): the statements name their tables schema-qualified, so
 * they are found again.  The cache lives in CacheMemoryContext for the
 * life of the process; osv runs a few dozen distinct statements.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/spi_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "spi_plan.h"

/* An entry of the cache: the statement's text and its kept plan. */
typedef struct OsvCachedPlan
{
	uint64		hash;			/* hash key: hash of the text */
	char	   *sql;			/* in CacheMemoryContext */
	SPIPlanPtr	plan;
} OsvCachedPlan;

static HTAB *cached_plans = NULL;

/*
 * SPI_connect(), raising an error when it fails.
 */
void
spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

/*
 * The kept plan of "sql" with the given parameter types, prepared on
 * first use.  SPI connected.  Two statements of equal text must have
 * equal parameter types (the types are not part of the key).  A hash
 * collision of two texts, which is never expected, is served with an
 * unkept plan that SPI_finish frees.
 */
SPIPlanPtr
spi_plan(const char *sql, int nargs, const Oid *argtypes)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) sql,
										   strlen(sql), 0);
	OsvCachedPlan *entry;
	bool		found;
	SPIPlanPtr	plan;

	if (cached_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(OsvCachedPlan);
		ctl.hcxt = CacheMemoryContext;
		cached_plans = hash_create("osv SPI plans", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(cached_plans, &hash, HASH_ENTER, &found);
	if (found && entry->plan != NULL && strcmp(entry->sql, sql) == 0)
		return entry->plan;
	if (!found)
	{
		entry->sql = NULL;
		entry->plan = NULL;
	}

	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (entry->plan != NULL)
		return plan;			/* a collision: the slot is taken */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	entry->sql = MemoryContextStrdup(CacheMemoryContext, sql);
	entry->plan = plan;
	return plan;
}

/*
 * Execute "sql" with its cached plan; raises an ERROR unless SPI answers
 * "expected" (such as SPI_OK_UPDATE).  SPI connected.
 */
void
spi_execute(int expected, const char *sql, int nargs, const Oid *argtypes,
			const Datum *values, bool read_only, long tcount)
{
	int			rc = SPI_execute_plan(spi_plan(sql, nargs, argtypes),
									  (Datum *) values, NULL, read_only, tcount);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}
