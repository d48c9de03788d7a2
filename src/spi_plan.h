/*-------------------------------------------------------------------------
 *
 * spi_plan.h
 *		SPI connection and the one cache of prepared plans.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/spi_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_SPI_PLAN_H
#define OSV_SPI_PLAN_H

#include "executor/spi.h"

extern void spi_connect(void);
extern SPIPlanPtr spi_plan(const char *sql, int nargs, const Oid *argtypes);
extern void spi_execute(int expected, const char *sql, int nargs,
						const Oid *argtypes, const Datum *values,
						bool read_only, long tcount);

#endif							/* OSV_SPI_PLAN_H */
