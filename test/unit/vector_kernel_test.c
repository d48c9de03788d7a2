/*-------------------------------------------------------------------------
 *
 * vector_kernel_test.c
 *		Unit test of src/vector_kernel.c: the kernels agree bit for bit.
 *
 * For random vectors of every length from 0 to 1,100 (384, the default
 * dimensions, among them; lengths that are not multiples of 16 exercise
 * the tail) and of several magnitudes, checks that
 *
 * - the portable kernel equals, bit for bit, a scalar model of its order of
 *   summation (16 float lanes, lane j summing elements j, j + 16, ...;
 *   lanes added (0-3 + 4-7) + (8-11 + 12-15); the four sums and the tail
 *   in double): the order every release since 1.0 used, so scores do not
 *   change;
 * - the AVX2 kernel, where the CPU has AVX2, equals the portable one bit
 *   for bit (else it says it could check only the portable one);
 * - both are within float tolerance of the exact value (long double);
 * - the kernel chosen for this CPU is one of them.
 *
 * Usage: vector_kernel_test [VECTORS_PER_LENGTH]; prints the count checked
 * or the first failures; exit status 1 on failure.  Built and run by
 * test/run.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		test/unit/vector_kernel_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "vector_kernel.h"

static long checked = 0;
static long failures = 0;

/* xorshift64*: reproducible across platforms */
static uint64 rng_state = 0x9E3779B97F4A7C15ULL;

static double
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* The summation order of the portable kernel, one lane at a time. */
static void
model(const float *q, const float *v, int n, double *dot, double *norm)
{
	float		dl[16] = {0},
				sl[16] = {0},
				d4[4],
				s4[4];
	double		dd = 0.0,
				ss = 0.0;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++)
		{
			float		p = q[i + j] * v[i + j];
			float		s = v[i + j] * v[i + j];

			dl[j] = dl[j] + p;
			sl[j] = sl[j] + s;
		}
	for (int j = 0; j < 4; j++)
	{
		d4[j] = (dl[j] + dl[j + 4]) + (dl[j + 8] + dl[j + 12]);
		s4[j] = (sl[j] + sl[j + 4]) + (sl[j + 8] + sl[j + 12]);
		dd += d4[j];
		ss += s4[j];
	}
	for (; i < n; i++)
	{
		dd += (double) q[i] * v[i];
		ss += (double) v[i] * v[i];
	}
	*dot = dd;
	*norm = ss;
}

static bool
same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(double)) == 0;
}

static void
fail(const char *what, int n, double got, double want)
{
	if (failures++ < 20)
		printf("n = %d: %s: %.17g, expected %.17g\n", n, what, got, want);
}

static void
check(const float *q, const float *v, int n, vector_dot_norm_fn avx2)
{
	double		md,
				mn,
				pd,
				pn,
				ad,
				an;
	long double ed = 0,
				en = 0,
				scale_d = 0;

	model(q, v, n, &md, &mn);
	vector_dot_norm_portable(q, v, n, &pd, &pn);
	if (!same_bits(pd, md))
		fail("portable dot differs from the model", n, pd, md);
	if (!same_bits(pn, mn))
		fail("portable norm differs from the model", n, pn, mn);
	if (avx2 != NULL)
	{
		avx2(q, v, n, &ad, &an);
		if (!same_bits(ad, pd))
			fail("avx2 dot differs from portable", n, ad, pd);
		if (!same_bits(an, pn))
			fail("avx2 norm differs from portable", n, an, pn);
	}
	for (int i = 0; i < n; i++)
	{
		ed += (long double) q[i] * v[i];
		en += (long double) v[i] * v[i];
		scale_d += fabsl((long double) q[i] * v[i]);
	}
	/* float accumulation of up to n / 16 terms a lane: a loose bound */
	if (fabsl(pd - ed) > 1e-6L * (n + 16) * scale_d + 1e-30L)
		fail("portable dot too far from the exact value", n, pd, (double) ed);
	if (fabsl(pn - en) > 1e-6L * (n + 16) * en + 1e-30L)
		fail("portable norm too far from the exact value", n, pn, (double) en);
	checked++;
}

int
main(int argc, char **argv)
{
	int			per_length = argc > 1 ? atoi(argv[1]) : 20;
	vector_dot_norm_fn avx2 = vector_dot_norm_avx2_if_supported();
	vector_dot_norm_fn chosen = vector_dot_norm_kernel();
	static float q[1100],
				v[1100];

	if (chosen != vector_dot_norm_portable && chosen != avx2)
	{
		printf("the chosen kernel is neither variant\n");
		return 1;
	}
	for (int n = 0; n <= 1100; n++)
		for (int r = 0; r < per_length; r++)
		{
			/* magnitudes from 1e-3 to 1e3, and up to VECTOR_MAX_ABS */
			double		scale = r % 5 == 4 ? 1e15 : pow(10.0, (r % 5) * 1.5 - 3);

			for (int i = 0; i < n; i++)
			{
				q[i] = (float) ((rnd() * 2 - 1) * scale);
				v[i] = (float) ((rnd() * 2 - 1) * scale);
			}
			/* ties and cancellation: a copy, a negated copy */
			if (r % 7 == 6)
				for (int i = 0; i < n; i++)
					v[i] = (i % 2) ? q[i] : -q[i];
			check(q, v, n, avx2);
		}
	if (failures > 0)
	{
		printf("%ld failures in %ld vectors\n", failures, checked);
		return 1;
	}
	printf("%ld vectors checked (%s), kernel chosen: %s\n", checked,
		   avx2 != NULL ? "portable = avx2 = model" : "portable = model; no AVX2 on this CPU",
		   vector_dot_norm_kernel_name());
	return 0;
}
