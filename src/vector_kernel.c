/*-------------------------------------------------------------------------
 *
 * vector_kernel.c
 *		The distance kernel of the exact scan (exact_scan.c): dot product
 *		of the query and a stored embedding and the embedding's squared
 *		norm, in one pass.
 *
 * Runs in whichever process calls it (the backend of a search); takes no
 * locks, allocates nothing and needs no server: test/unit builds it alone.
 *
 * Two variants with bit-identical results, so that a search returns the
 * same scores and the same order on every machine (a primary and its
 * replica, an old and a new server):
 *
 * - portable: four 4-float accumulators per sum (GCC/Clang vector
 *   extensions: SSE2 on x86-64, NEON on ARM), i.e. 16 lanes, lane j
 *   summing the products of elements j, j + 16, j + 32 ... in float; the
 *   lanes are then added pairwise, (0-3 + 4-7) + (8-11 + 12-15), and the
 *   four results and the tail (n not a multiple of 16) in double.
 * - avx2 (x86-64 CPUs with AVX2, checked at run time with cpuid, so the
 *   module stays portable: no -march): the same 16 lanes as two 8-float
 *   registers, added in the same order, with half the instructions.
 *
 * Fused multiply-add is deliberately not used: it rounds a*b+c once
 * instead of twice, which changes the last bits of the scores and hence,
 * between near-equal scores, the order of results, depending on the CPU.
 * The scan is bound by memory, not by these instructions (bench/README.md).
 * test/unit/vector_kernel_test.c checks the variants agree bit for bit.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_kernel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "vector_kernel.h"

#if defined(__GNUC__) || defined(__clang__)
typedef float float4x4 __attribute__((vector_size(16)));

static inline float4x4
load4(const float *p)
{
	float4x4	v;

	memcpy(&v, p, sizeof(v));
	return v;
}
#endif

/* The scalar tail, elements i .. n - 1, and the result. */
static inline void
finish(const float *q, const float *v, int i, int n,
	   double dd, double ss, double *dot, double *norm)
{
	for (; i < n; i++)
	{
		dd += (double) q[i] * v[i];
		ss += (double) v[i] * v[i];
	}
	*dot = dd;
	*norm = ss;
}

void
vector_dot_norm_portable(const float *pg_restrict q, const float *pg_restrict v,
						 int n, double *dot, double *norm)
{
	double		dd = 0.0;
	double		ss = 0.0;
	int			i = 0;

#if defined(__GNUC__) || defined(__clang__)
	float4x4	d0 = {0},
				d1 = {0},
				d2 = {0},
				d3 = {0};
	float4x4	s0 = {0},
				s1 = {0},
				s2 = {0},
				s3 = {0};

	for (; i + 16 <= n; i += 16)
	{
		float4x4	v0 = load4(v + i),
					v1 = load4(v + i + 4),
					v2 = load4(v + i + 8),
					v3 = load4(v + i + 12);

		d0 += load4(q + i) * v0;
		d1 += load4(q + i + 4) * v1;
		d2 += load4(q + i + 8) * v2;
		d3 += load4(q + i + 12) * v3;
		s0 += v0 * v0;
		s1 += v1 * v1;
		s2 += v2 * v2;
		s3 += v3 * v3;
	}
	d0 = (d0 + d1) + (d2 + d3);
	s0 = (s0 + s1) + (s2 + s3);
	for (int j = 0; j < 4; j++)
	{
		dd += d0[j];
		ss += s0[j];
	}
#endif
	finish(q, v, i, n, dd, ss, dot, norm);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_AVX2_KERNEL 1
#include <immintrin.h>

/*
 * target("avx2") without "fma": the compiler cannot contract the multiply
 * and the add into one rounding.
 */
__attribute__((target("avx2")))
static void
vector_dot_norm_avx2(const float *pg_restrict q, const float *pg_restrict v,
					 int n, double *dot, double *norm)
{
	double		dd = 0.0;
	double		ss = 0.0;
	int			i = 0;
	__m256		d01 = _mm256_setzero_ps(),
				d23 = _mm256_setzero_ps();
	__m256		s01 = _mm256_setzero_ps(),
				s23 = _mm256_setzero_ps();
	__m128		d,
				s;
	float		dl[4],
				sl[4];

	for (; i + 16 <= n; i += 16)
	{
		__m256		v01 = _mm256_loadu_ps(v + i),
					v23 = _mm256_loadu_ps(v + i + 8);

		d01 = _mm256_add_ps(d01, _mm256_mul_ps(_mm256_loadu_ps(q + i), v01));
		d23 = _mm256_add_ps(d23, _mm256_mul_ps(_mm256_loadu_ps(q + i + 8), v23));
		s01 = _mm256_add_ps(s01, _mm256_mul_ps(v01, v01));
		s23 = _mm256_add_ps(s23, _mm256_mul_ps(v23, v23));
	}
	/* (lanes 0-3 + 4-7) + (8-11 + 12-15), as the portable kernel adds them */
	d = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(d01), _mm256_extractf128_ps(d01, 1)),
				   _mm_add_ps(_mm256_castps256_ps128(d23), _mm256_extractf128_ps(d23, 1)));
	s = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(s01), _mm256_extractf128_ps(s01, 1)),
				   _mm_add_ps(_mm256_castps256_ps128(s23), _mm256_extractf128_ps(s23, 1)));
	_mm_storeu_ps(dl, d);
	_mm_storeu_ps(sl, s);
	for (int j = 0; j < 4; j++)
	{
		dd += dl[j];
		ss += sl[j];
	}
	finish(q, v, i, n, dd, ss, dot, norm);
}
#endif

vector_dot_norm_fn
vector_dot_norm_avx2_if_supported(void)
{
#ifdef HAVE_AVX2_KERNEL
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		return vector_dot_norm_avx2;
#endif
	return NULL;
}

static vector_dot_norm_fn chosen = NULL;

vector_dot_norm_fn
vector_dot_norm_kernel(void)
{
	if (chosen == NULL)
	{
		chosen = vector_dot_norm_avx2_if_supported();
		if (chosen == NULL)
			chosen = vector_dot_norm_portable;
	}
	return chosen;
}

const char *
vector_dot_norm_kernel_name(void)
{
	return vector_dot_norm_kernel() == vector_dot_norm_portable ? "portable" : "avx2";
}
