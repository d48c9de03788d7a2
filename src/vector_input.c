/*-------------------------------------------------------------------------
 *
 * vector_input.c
 *		Vector input (and output) in the forms each client sends.
 *
 * Runs in the calling backend, inside the caller's transaction; no locks,
 * no SPI, no catalog access beyond looking up array_in once per call site.
 *
 * osv.summaries.embedding is real[] by contract, so its input function is
 * array_in, which runs when a parameter or literal is coerced to the
 * column, before any trigger: a JSON text '[0.1, 0.2]' (a Laravel array
 * cast, JSON.stringify), the raw bytes of a Float32Array or numpy float32
 * buffer and a float8[] parameter (psycopg, Npgsql) cannot reach it as
 * they are.  The functions here convert them to real[]:
 *	 - osv.vector_from_text(text): JSON '[1, 2.5e-3, ...]' as pgvector
 *	   writes it, or PostgreSQL array text '{1,2.5e-3,...}' (an unknown
 *	   literal passed to a function with a text overload goes there, so the
 *	   array text must keep working: it is read by array_in itself);
 *	 - osv.vector_from_bytes(bytea): little-endian IEEE 754 float4 values,
 *	   4 bytes each;
 *	 - osv.vector_from_float8(float8[]): element by element, refusing values
 *	   out of the range of real as PostgreSQL's own float8-to-real cast does;
 *	 - osv.vector_to_bytes(real[]): the reverse of vector_from_bytes, for
 *	   reads into a Float32Array or numpy.frombuffer.
 * They check representation only (syntax, nesting, byte length, range of
 * real).  The rules of an embedding or a query vector (dimensions, NULL,
 * NaN, infinity, magnitude, zero vector) stay where every path already
 * applies them, vector_check.c: the trigger osv.check_embedding() and the
 * search functions, so that each rule has one wording and one SQLSTATE
 * whatever form the vector arrived in.  A NULL or NaN element is
 * therefore converted, not refused, here.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_input.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"

/* Longest number token read from a JSON vector (digits, sign, exponent). */
#define VECTOR_MAX_TOKEN 128

/*
 * Most elements of a JSON vector: the largest osv.vector_dimensions
 * (src/settings.c), so that a longer one is refused before it is built
 * (no vector_check would accept it).
 */
#define VECTOR_MAX_ELEMENTS 65536

/* How much of the input an error message quotes. */
#define VECTOR_QUOTE_CHARS 20

static inline bool
vector_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *
skip_space(const char *p)
{
	while (vector_isspace(*p))
		p++;
	return p;
}

/* Raise the syntax error of a text vector at position p of str. */
static void
syntax_error(const char *str, const char *p, const char *expected)
{
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for a vector"),
				 errdetail("The text ends where %s was expected.", expected),
				 errhint("Write a vector as JSON \"[0.1, 0.2, ...]\" or as an array \"{0.1,0.2,...}\".")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for a vector"),
			 errdetail("Found \"%.*s\" at character %d where %s was expected.",
					   (int) strnlen(p, VECTOR_QUOTE_CHARS), p, (int) (p - str) + 1, expected),
			 errhint("Write a vector as JSON \"[0.1, 0.2, ...]\" or as an array \"{0.1,0.2,...}\".")));
}

/*
 * Whether the text at p (a '[') starts the dimension decoration of
 * PostgreSQL array text ("[1:3]={...}" or "[3]={...}") rather than a JSON
 * array: a bracketed integer followed by a colon, or by "=" or "[" after
 * the closing bracket.  Neither is valid JSON.
 */
static bool
is_dimension_decoration(const char *p)
{
	p = skip_space(p + 1);
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	p = skip_space(p);
	if (*p == ':')
		return true;
	if (*p != ']')
		return false;
	p = skip_space(p + 1);
	return *p == '=' || *p == '[';
}

/*
 * Length of the JSON number, or of one of the words NaN, Infinity and
 * -Infinity (which Python's json.dumps writes), at p; 0 if there is none.
 */
static int
number_token_length(const char *p)
{
	const char *q = p;

	if (strncmp(p, "NaN", 3) == 0)
		return 3;
	if (strncmp(p, "Infinity", 8) == 0)
		return 8;
	if (strncmp(p, "-Infinity", 9) == 0)
		return 9;
	if (*q == '-')
		q++;
	if (*q == '0')
		q++;
	else if (*q >= '1' && *q <= '9')
	{
		while (isdigit((unsigned char) *q))
			q++;
	}
	else
		return 0;
	if (*q == '.')
	{
		if (!isdigit((unsigned char) q[1]))
			return 0;
		q++;
		while (isdigit((unsigned char) *q))
			q++;
	}
	if (*q == 'e' || *q == 'E')
	{
		const char *e = q + 1;

		if (*e == '+' || *e == '-')
			e++;
		if (!isdigit((unsigned char) *e))
			return 0;
		while (isdigit((unsigned char) *e))
			e++;
		q = e;
	}
	return (int) (q - p);
}

/* A one-dimensional real[] of n values (nulls may be NULL). */
static ArrayType *
build_vector(Datum *values, bool *nulls, int n)
{
	int			dims[1];
	int			lbs[1];

	if (n == 0)
		return construct_empty_array(FLOAT4OID);
	dims[0] = n;
	lbs[0] = 1;
	return construct_md_array(values, nulls, 1, dims, lbs,
							  FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
}

/*
 * Parse a JSON array of numbers into a real[].  Each number goes through
 * float4in, as each element of '{...}' does through array_in, so both
 * forms give the same bits and the same out-of-range errors.  "null"
 * becomes a NULL element.  Errors: 22P02 for syntax, 22000 for a nested
 * array, 22003 (from float4in) for a number out of the range of real.
 */
static ArrayType *
parse_json_vector(const char *str, const char *p)
{
	int			capacity = 64;
	int			n = 0;
	Datum	   *values = palloc(capacity * sizeof(Datum));
	bool	   *nulls = palloc(capacity * sizeof(bool));
	bool		any_null = false;
	char		token[VECTOR_MAX_TOKEN + 1];

	Assert(*p == '[');
	p = skip_space(p + 1);
	if (*p == ']')
		p++;
	else
	{
		for (;;)
		{
			int			len;

			p = skip_space(p);
			if (n == VECTOR_MAX_ELEMENTS)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("vector has too many elements"),
						 errdetail("A vector has at most %d elements.", VECTOR_MAX_ELEMENTS)));
			if (n == capacity)
			{
				capacity *= 2;
				values = repalloc(values, capacity * sizeof(Datum));
				nulls = repalloc(nulls, capacity * sizeof(bool));
			}
			if (*p == '[')
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("vector must be a one-dimensional array"),
						 errdetail("Element %d is an array.", n + 1)));
			if (strncmp(p, "null", 4) == 0)
			{
				values[n] = (Datum) 0;
				nulls[n] = true;
				any_null = true;
				p += 4;
			}
			else
			{
				len = number_token_length(p);
				if (len == 0)
					syntax_error(str, p, "a number");
				if (len > VECTOR_MAX_TOKEN)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("invalid input syntax for a vector"),
							 errdetail("Element %d is a number of more than %d characters.",
									   n + 1, VECTOR_MAX_TOKEN)));
				memcpy(token, p, len);
				token[len] = '\0';
				values[n] = DirectFunctionCall1(float4in, CStringGetDatum(token));
				nulls[n] = false;
				p += len;
			}
			n++;
			p = skip_space(p);
			if (*p == ',')
			{
				p++;
				continue;
			}
			if (*p == ']')
			{
				p++;
				break;
			}
			syntax_error(str, p, "\",\" or \"]\"");
		}
	}
	p = skip_space(p);
	if (*p != '\0')
		syntax_error(str, p, "the end of the vector");
	return build_vector(values, any_null ? nulls : NULL, n);
}

/*
 * osv.vector_from_text(vector text) RETURNS real[]
 *
 * JSON '[...]' or PostgreSQL array text '{...}' (with or without
 * dimension decoration).  The array text goes to array_in unchanged, so a
 * call that used to pass an unknown literal to a real[] parameter gets
 * the same array (and the same errors) through the text overloads.
 */
PG_FUNCTION_INFO_V1(osv_vector_from_text);
Datum
osv_vector_from_text(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *p = skip_space(str);

	if (*p == '{' || (*p == '[' && is_dimension_decoration(p)))
	{
		FmgrInfo   *array_in_info = fcinfo->flinfo->fn_extra;

		if (array_in_info == NULL)
		{
			array_in_info = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
			fmgr_info_cxt(F_ARRAY_IN, array_in_info, fcinfo->flinfo->fn_mcxt);
			fcinfo->flinfo->fn_extra = array_in_info;
		}
		PG_RETURN_DATUM(InputFunctionCall(array_in_info, str, FLOAT4OID, -1));
	}
	if (*p != '[')
		syntax_error(str, p, "\"[\" or \"{\"");
	PG_RETURN_ARRAYTYPE_P(parse_json_vector(str, p));
}

/*
 * osv.vector_from_bytes(vector bytea) RETURNS real[]
 *
 * The bytes of a Float32Array, of numpy's astype('<f4').tobytes() or of a
 * C float array on a little-endian machine: 4 bytes per element,
 * little-endian whatever the server's byte order.  A length that is not a
 * multiple of 4 is 22P03 (invalid binary representation).
 */
PG_FUNCTION_INFO_V1(osv_vector_from_bytes);
Datum
osv_vector_from_bytes(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	int			len = VARSIZE_ANY_EXHDR(bytes);
	const char *data = VARDATA_ANY(bytes);
	int			n;
	Datum	   *values;

	if (len % sizeof(float4) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("vector bytes must be a multiple of 4 bytes long"),
				 errdetail("The value is %d bytes long.", len),
				 errhint("Send the bytes of a Float32Array or of a float32 buffer, 4 little-endian bytes per element.")));
	n = len / sizeof(float4);
	values = palloc(Max(n, 1) * sizeof(Datum));
	for (int i = 0; i < n; i++)
	{
		uint32		bits;
		float4		f;

		memcpy(&bits, data + i * sizeof(float4), sizeof(bits));
#ifdef WORDS_BIGENDIAN
		bits = pg_bswap32(bits);
#endif
		memcpy(&f, &bits, sizeof(f));
		values[i] = Float4GetDatum(f);
	}
	PG_RETURN_ARRAYTYPE_P(build_vector(values, NULL, n));
}

/*
 * osv.vector_from_float8(vector double precision[]) RETURNS real[]
 *
 * Keeps the shape and the NULL elements (vector_check judges them);
 * refuses a finite value that real cannot hold, as the cast does (22003).
 */
PG_FUNCTION_INFO_V1(osv_vector_from_float8);
Datum
osv_vector_from_float8(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *values;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT4OID));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &values, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		float8		d;
		float4		f;

		if (nulls[i])
			continue;
		d = DatumGetFloat8(values[i]);
		f = (float4) d;
		if ((isinf(f) && !isinf(d)) || (f == 0.0f && d != 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("vector element is out of range for type real"),
					 errdetail("Element %d is %g.", i + 1, d)));
		values[i] = Float4GetDatum(f);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, ARR_NDIM(arr), ARR_DIMS(arr),
											 ARR_LBOUND(arr), FLOAT4OID, sizeof(float4),
											 true, TYPALIGN_INT));
}

/*
 * osv.vector_to_bytes(vector real[]) RETURNS bytea
 *
 * 4 little-endian bytes per element; refuses what has no such form: more
 * than one dimension (22000) and NULL elements (22004).
 */
PG_FUNCTION_INFO_V1(osv_vector_to_bytes);
Datum
osv_vector_to_bytes(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	bytea	   *result;
	char	   *out;
	const float4 *v;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(arr))));
	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("vector must not contain null values")));
	n = (ARR_NDIM(arr) == 0) ? 0 : ARR_DIMS(arr)[0];
	result = palloc(VARHDRSZ + n * sizeof(float4));
	SET_VARSIZE(result, VARHDRSZ + n * sizeof(float4));
	out = VARDATA(result);
	v = (const float4 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
	{
		uint32		bits;

		memcpy(&bits, &v[i], sizeof(bits));
#ifdef WORDS_BIGENDIAN
		bits = pg_bswap32(bits);
#endif
		memcpy(out + i * sizeof(float4), &bits, sizeof(bits));
	}
	PG_RETURN_BYTEA_P(result);
}
