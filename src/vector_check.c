/*-------------------------------------------------------------------------
 *
 * vector_check.c
 *		The one validator of embeddings, query vectors and k.
 *
 * Runs in the calling backend, inside the caller's transaction; no locks,
 * no SPI.  One set of rules serves every path, so that an embedding that
 * can be stored can be searched and sent, and a query is refused alike in
 * the embedded mode and in the Qdrant mode:
 *	 - a one-dimensional real[] of exactly as many elements as the current
 *	   embedding model has (reembedding.c: osv.vector_dimensions until a
 *	   re-embedding finished; osv.summaries.embedding_next: the running
 *	   re-embedding's),
 *	 - no NULL elements, no NaN or infinity,
 *	 - no element of magnitude above VECTOR_MAX_ABS (1e15), so that sums
 *	   of squares cannot overflow single precision,
 *	 - not the zero vector (cosine similarity is undefined for it);
 *	 - k between 1 and VECTOR_MAX_K (1000).
 * Users of vector_problem(): the trigger osv.check_embedding() on writes
 * of osv.summaries.embedding, the search functions (exact_scan.c,
 * vector_sql.c and osv.check_search_arguments(), which the public search
 * functions call first), and the sync engine, which parks an entry whose
 * stored embedding breaks the rules (written with the trigger disabled or
 * before osv.vector_dimensions changed).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/rel.h"

#include "reembedding.h"
#include "settings.h"
#include "trigger_check.h"
#include "vector_check.h"

/* Fill *problem; returns true, for vector_problem() to return it. */
static bool
refuse(VectorProblem *problem, int sqlstate, char *message, char *detail)
{
	problem->sqlstate = sqlstate;
	problem->message = message;
	problem->detail = detail;
	return true;
}

/*
 * Whether "arr" breaks the rules of the file header; if so, *problem says
 * why (messages in the current memory context), else *norm (when not
 * NULL) gets the squared L2 norm.  Never raises an error.
 */
bool
vector_problem(ArrayType *arr, VectorRole role, VectorProblem *problem,
			   double *norm)
{
	ReembeddingLayout layout;

	reembedding_layout(&layout);
	if (layout.cur_dims > 0)
		return vector_problem_dims(arr, role, layout.cur_dims,
								   psprintf("the current embedding model (version %d) has", layout.cur_version),
								   problem, norm);
	return vector_problem_dims(arr, role, osv_vector_dimensions,
							   "osv.vector_dimensions is", problem, norm);
}

/*
 * vector_problem() for "dims" dimensions; "dims_source" names them in the
 * error detail ("... but <dims_source> <dims>.").
 */
bool
vector_problem_dims(ArrayType *arr, VectorRole role, int dims,
					const char *dims_source, VectorProblem *problem, double *norm)
{
	const char *what = (role == VECTOR_QUERY) ? "query vector" : "embedding";
	int			ndim = ARR_NDIM(arr);
	int			n;
	const float4 *v;
	double		sum = 0.0;

	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		return refuse(problem, ERRCODE_DATATYPE_MISMATCH,
					  psprintf("%s must be an array of type real", what),
					  psprintf("The element type has OID %u.", ARR_ELEMTYPE(arr)));
	if (ndim > 1)
		return refuse(problem, ERRCODE_DATA_EXCEPTION,
					  psprintf("%s must be a one-dimensional array", what),
					  psprintf("The array has %d dimensions.", ndim));
	n = (ndim == 0) ? 0 : ARR_DIMS(arr)[0];
	if (n != dims)
		return refuse(problem, ERRCODE_DATA_EXCEPTION,
					  psprintf("%s has the wrong number of dimensions", what),
					  psprintf("It has %d elements, but %s %d.", n, dims_source, dims));
	if (ARR_HASNULL(arr))
	{
		bits8	   *bitmap = ARR_NULLBITMAP(arr);

		for (int i = 0; i < n; i++)
		{
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				return refuse(problem, ERRCODE_NULL_VALUE_NOT_ALLOWED,
							  psprintf("%s must not contain null values", what),
							  psprintf("Element %d is null.", i + 1));
		}
	}
	v = (const float4 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
	{
		if (isnan(v[i]) || isinf(v[i]))
			return refuse(problem, ERRCODE_DATA_EXCEPTION,
						  psprintf("%s must contain only finite values", what),
						  psprintf("Element %d is %s.", i + 1,
								   isnan(v[i]) ? "NaN" : (v[i] > 0 ? "Infinity" : "-Infinity")));
		if (fabs(v[i]) > VECTOR_MAX_ABS)
			return refuse(problem, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
						  psprintf("%s has an element out of range", what),
						  psprintf("Element %d is %g; elements must lie between %g and %g.",
								   i + 1, (double) v[i], -VECTOR_MAX_ABS, VECTOR_MAX_ABS));
		sum += (double) v[i] * (double) v[i];
	}
	if (sum == 0.0)
		return refuse(problem, ERRCODE_DATA_EXCEPTION,
					  psprintf("%s must not be the zero vector", what),
					  psprintf("All %d elements are zero; cosine similarity is undefined for the zero vector.", n));
	if (norm != NULL)
		*norm = sum;
	return false;
}

/*
 * Raise an error unless "arr" passes vector_problem().  "rel" and "attnum"
 * (or NULL and 0) name the column being written, for the error fields.
 * Returns the squared norm.
 */
double
vector_check(ArrayType *arr, VectorRole role, Relation rel, int attnum)
{
	VectorProblem problem;
	double		norm = 0.0;

	if (vector_problem(arr, role, &problem, &norm))
		vector_refuse(&problem, rel, attnum);
	return norm;
}

/* Raise the error of a problem found; "rel" and "attnum" as vector_check(). */
void
vector_refuse(const VectorProblem *problem, Relation rel, int attnum)
{
	ereport(ERROR,
			(errcode(problem->sqlstate),
			 errmsg_internal("%s", problem->message),
			 errdetail_internal("%s", problem->detail),
			 rel ? errtablecol(rel, attnum) : 0));
}


/* Fetch and check the query vector argument; returns its squared norm. */
double
vector_check_query_argument(FunctionCallInfo fcinfo, int argno, ArrayType **query)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query vector must not be null")));
	*query = PG_GETARG_ARRAYTYPE_P(argno);
	return vector_check(*query, VECTOR_QUERY, NULL, 0);
}

/* Fetch and check the argument k, the number of results; returns it. */
int32
vector_check_k(FunctionCallInfo fcinfo, int argno)
{
	int32		k;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(argno);
	if (k < 1 || k > VECTOR_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", VECTOR_MAX_K),
				 errdetail("k is %d.", k)));
	return k;
}

/*
 * The start of a BEFORE INSERT OR UPDATE FOR EACH ROW trigger "fname" that
 * checks the real[] column "column" of the new row: *rel, *attnum and the
 * column's value (NULL: *isnull).  Returns the new row.
 */
HeapTuple
vector_trigger_column(FunctionCallInfo fcinfo, const char *fname, const char *column,
					  Relation *rel, int *attnum, Datum *value, bool *isnull)
{
	TriggerData *trigdata;
	HeapTuple	tuple;

	trigdata = trigger_check(fcinfo, fname, true,
							 TRIGGER_CHECK_INSERT | TRIGGER_CHECK_UPDATE, 0,
							 "BEFORE INSERT or UPDATE FOR EACH ROW");
	*rel = trigdata->tg_relation;
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	*attnum = SPI_fnumber(RelationGetDescr(*rel), column);
	if (*attnum <= 0 ||
		TupleDescAttr(RelationGetDescr(*rel), *attnum - 1)->atttypid != FLOAT4ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("table \"%s\" has no column \"%s\" of type real[]",
						RelationGetRelationName(*rel), column)));
	*value = heap_getattr(tuple, *attnum, RelationGetDescr(*rel), isnull);
	return tuple;
}

/*
 * osv.check_embedding() RETURNS trigger
 *
 * BEFORE INSERT OR UPDATE OF embedding FOR EACH ROW on osv.summaries.
 * Refuses embeddings that could not be searched; a NULL embedding passes.
 */
PG_FUNCTION_INFO_V1(osv_check_embedding);
Datum
osv_check_embedding(PG_FUNCTION_ARGS)
{
	Relation	rel;
	HeapTuple	tuple;
	int			attnum;
	bool		isnull;
	Datum		value;

	tuple = vector_trigger_column(fcinfo, "osv.check_embedding", "embedding",
								  &rel, &attnum, &value, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);

		(void) vector_check(arr, VECTOR_EMBEDDING, rel, attnum);
		if ((Pointer) arr != DatumGetPointer(value))
			pfree(arr);
	}
	return PointerGetDatum(tuple);
}

/*
 * osv.check_search_arguments(query real[], k integer) RETURNS void
 *
 * The argument checks shared by every search, whichever mode runs it: the
 * public search functions (src/sql/search.sql) call it before choosing
 * between Qdrant and the embedded scan, so both report bad input alike.
 */
PG_FUNCTION_INFO_V1(osv_check_search_arguments);
Datum
osv_check_search_arguments(PG_FUNCTION_ARGS)
{
	ArrayType  *query;

	(void) vector_check_query_argument(fcinfo, 0, &query);
	(void) vector_check_k(fcinfo, 1);
	PG_RETURN_VOID();
}
