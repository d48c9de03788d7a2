/*-------------------------------------------------------------------------
 *
 * embed_text.c
 *		The model-free text embedder and the centroid of embeddings.
 *
 * Both run in the backend of the calling session, inside the caller's
 * transaction; no locks, no SPI, no network.
 *
 * osv.embed_text() is a deterministic, model-free text embedding: feature
 * hashing of the lower-cased words and word pairs of the text, with a
 * second hash choosing the sign, L2-normalised.  It reads the setting
 * osv.vector_dimensions, hence STABLE rather than IMMUTABLE.
 *
 * osv.embedding_centroid() averages the normalised rows of a
 * two-dimensional array: the query vector of osv.refresh_recommendations().
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/embed_text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "reembedding.h"
#include "settings.h"

/* 64-bit FNV-1a. */
#define FNV_OFFSET_BASIS	UINT64CONST(0xcbf29ce484222325)
#define FNV_PRIME			UINT64CONST(0x100000001b3)

/* ------------------------------------------------------------------------
 * osv.embed_text()
 * ------------------------------------------------------------------------
 */

/* Word characters: ASCII letters and digits, and every non-ASCII byte. */
static inline bool
is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c >= 0x80;
}

static inline unsigned char
ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Continue an FNV-1a hash over a word, lower-casing ASCII letters. */
static inline uint64
fnv1a_word(uint64 h, const unsigned char *word, int len)
{
	for (int i = 0; i < len; i++)
	{
		h ^= ascii_lower(word[i]);
		h *= FNV_PRIME;
	}
	return h;
}

/* The 64-bit finalizer of MurmurHash3, so that every output bit mixes. */
static inline uint64
fmix64(uint64 h)
{
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/* Add one hashed feature to the vector: a bucket and a sign. */
static inline void
add_feature(double *vec, int dims, uint64 h)
{
	h = fmix64(h);
	if (h >> 63)
		vec[h % (uint64) dims] -= 1.0;
	else
		vec[h % (uint64) dims] += 1.0;
}

/*
 * osv.embed_text(content text) RETURNS real[]
 *
 * Words are maximal runs of ASCII letters and digits and non-ASCII bytes
 * (so that letters of other scripts, in any server encoding, stay inside
 * words); ASCII letters are lower-cased, other characters are taken as
 * written, which keeps the result independent of the database's locale.
 * Each word and each pair of adjacent words ("w1 w2") is a feature; a
 * feature adds +1 or -1, chosen by the top bit of its mixed FNV-1a hash, to
 * the bucket given by the hash modulo osv.vector_dimensions.  The vector is
 * then L2-normalised.  A text of n words has 2n - 1 features with odd
 * total count, so some bucket is odd and the vector is never zero; a text
 * without words is refused.
 */
PG_FUNCTION_INFO_V1(osv_embed_text);
Datum
osv_embed_text(PG_FUNCTION_ARGS)
{
	text	   *content = PG_GETARG_TEXT_PP(0);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(content);
	int			len = VARSIZE_ANY_EXHDR(content);
	int			dims = reembedding_dimensions();
	double	   *vec = palloc0(sizeof(double) * dims);
	Datum	   *elems = palloc(sizeof(Datum) * dims);
	const unsigned char *prev = NULL;
	int			prev_len = 0;
	int			words = 0;
	double		norm = 0.0;
	int			i = 0;

	while (i < len)
	{
		int			start;

		while (i < len && !is_word_byte(p[i]))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && is_word_byte(p[i]))
			i++;

		add_feature(vec, dims, fnv1a_word(FNV_OFFSET_BASIS, p + start, i - start));
		if (prev != NULL)
		{
			uint64		h = fnv1a_word(FNV_OFFSET_BASIS, prev, prev_len);

			h = fnv1a_word(h, (const unsigned char *) " ", 1);
			add_feature(vec, dims, fnv1a_word(h, p + start, i - start));
		}
		prev = p + start;
		prev_len = i - start;
		words++;
		if ((words & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}

	if (words == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot embed a text without words"),
				 errdetail("Words are runs of letters and digits; the text (%d bytes) has none.", len),
				 errhint("A zero vector cannot be compared by cosine similarity; store a NULL embedding instead.")));

	for (int d = 0; d < dims; d++)
		norm += vec[d] * vec[d];
	norm = sqrt(norm);
	for (int d = 0; d < dims; d++)
		elems[d] = Float4GetDatum((float4) (vec[d] / norm));

	PG_RETURN_ARRAYTYPE_P(construct_array(elems, dims, FLOAT4OID,
										  sizeof(float4), true,
										  TYPALIGN_INT));
}

/*
 * osv.embedding_centroid(embeddings real[]) RETURNS real[]
 *
 * Given a two-dimensional array whose rows are embeddings (as array_agg()
 * builds from one-dimensional arrays of equal length), returns the mean of
 * the L2-normalised rows, itself normalised, so that every row weighs the
 * same whatever its norm.  Rows with NULL elements, non-finite values or a
 * zero norm are skipped.  Returns NULL when no row counts or the mean is
 * the zero vector (rows that cancel out).
 */
PG_FUNCTION_INFO_V1(osv_embedding_centroid);
Datum
osv_embedding_centroid(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int			nrows;
	int			dims;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	double	   *sum;
	double		norm = 0.0;
	int			used = 0;
	Datum	   *result;

	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		elog(ERROR, "expected an array of type real, got element type %u",
			 ARR_ELEMTYPE(arr));
	if (ARR_NDIM(arr) == 0)
		PG_RETURN_NULL();
	if (ARR_NDIM(arr) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embeddings must be a two-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(arr))));
	nrows = ARR_DIMS(arr)[0];
	dims = ARR_DIMS(arr)[1];
	deconstruct_array(arr, FLOAT4OID, sizeof(float4), true,
					  TYPALIGN_INT, &elems, &nulls, &nelems);
	sum = palloc0(sizeof(double) * dims);

	for (int r = 0; r < nrows; r++)
	{
		double		row_norm = 0.0;
		bool		ok = true;

		for (int d = 0; d < dims && ok; d++)
		{
			double		x;

			if (nulls[r * dims + d])
			{
				ok = false;
				break;
			}
			x = DatumGetFloat4(elems[r * dims + d]);
			if (isnan(x) || isinf(x))
				ok = false;
			row_norm += x * x;
		}
		if (!ok || row_norm == 0.0)
			continue;
		row_norm = sqrt(row_norm);
		for (int d = 0; d < dims; d++)
			sum[d] += DatumGetFloat4(elems[r * dims + d]) / row_norm;
		used++;
	}
	if (used == 0)
		PG_RETURN_NULL();
	for (int d = 0; d < dims; d++)
		norm += sum[d] * sum[d];
	if (norm == 0.0)
		PG_RETURN_NULL();
	norm = sqrt(norm);

	result = palloc(sizeof(Datum) * dims);
	for (int d = 0; d < dims; d++)
		result[d] = Float4GetDatum((float4) (sum[d] / norm));
	PG_RETURN_ARRAYTYPE_P(construct_array(result, dims, FLOAT4OID,
										  sizeof(float4), true,
										  TYPALIGN_INT));
}
