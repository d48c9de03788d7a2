/*-------------------------------------------------------------------------
 *
 * vector_check.h
 *		The one validator of embeddings, query vectors and k.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_check.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_VECTOR_CHECK_H
#define OSV_VECTOR_CHECK_H

#include "access/htup.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/relcache.h"

/* Largest k (number of results) of every search, in either mode. */
#define VECTOR_MAX_K 1000

/*
 * Largest magnitude of an element.  Squares and products of elements are
 * then at most 1e30, and sums of 65,536 of them (the most dimensions
 * osv.vector_dimensions allows) stay far below FLT_MAX (3.4e38), so the
 * single-precision accumulators of the exact scan (exact_scan.c) and of
 * Qdrant's cosine normalisation cannot overflow.
 */
#define VECTOR_MAX_ABS 1e15

/* What a vector being checked is, for the wording of the errors. */
typedef enum VectorRole
{
	VECTOR_EMBEDDING,			/* osv.summaries.embedding */
	VECTOR_QUERY				/* a query vector passed to a search */
} VectorRole;

/* Why a vector was refused. */
typedef struct VectorProblem
{
	int			sqlstate;
	char	   *message;		/* primary message, palloc'd */
	char	   *detail;			/* a sentence, palloc'd */
} VectorProblem;

extern bool vector_problem(ArrayType *arr, VectorRole role,
						   VectorProblem *problem, double *norm);
extern bool vector_problem_dims(ArrayType *arr, VectorRole role, int dims,
								const char *dims_source, VectorProblem *problem,
								double *norm);
extern void vector_refuse(const VectorProblem *problem, Relation rel, int attnum) pg_attribute_noreturn();
extern HeapTuple vector_trigger_column(FunctionCallInfo fcinfo, const char *fname,
									   const char *column, Relation *rel, int *attnum,
									   Datum *value, bool *isnull);
extern double vector_check(ArrayType *arr, VectorRole role, Relation rel,
						   int attnum);
extern double vector_check_query_argument(FunctionCallInfo fcinfo, int argno,
										  ArrayType **query);
extern int32 vector_check_k(FunctionCallInfo fcinfo, int argno);

#endif							/* OSV_VECTOR_CHECK_H */
