/*-------------------------------------------------------------------------
 *
 * json_float.c
 *		Benchmark of src/json_float.c against PostgreSQL's shortest
 *		round-trip formatting (Ryu, float_to_shortest_decimal_bufn, what
 *		float4out uses), in the same process on the same numbers.
 *
 * Formats N (default 38,400,000: 100,000 embeddings of 384 dimensions)
 * random float4 in [-1, 1] three times each way, alternating, and prints
 * the best time of each, ns per number, bytes per number and the ratios:
 * number by number with both, and as the sync worker does it, a vector of
 * 384 at a time with json_float4_array_out().
 * Run by bench/json_float.sh.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		bench/json_float.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "common/shortest_dec.h"
#include "json_float.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	long		n = argc > 1 ? atol(argv[1]) : 38400000;
	float4	   *values = malloc(sizeof(float4) * n);
	char		out[64];
	uint64		state = UINT64CONST(88172645463325252);
	double		best[3] = {1e9, 1e9, 1e9};
	long		bytes[3] = {0, 0, 0};
	char	   *vector_out = malloc(384 * (JSON_FLOAT4_MAX_LEN + 1) + 2);

	for (long i = 0; i < n; i++)
	{
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		values[i] = (float4) ((double) (state >> 11) / (double) (UINT64CONST(1) << 53) * 2.0 - 1.0);
	}
	for (int round = 0; round < 3; round++)
	{
		for (int which = 0; which < 3; which++)
		{
			double		t0 = now();
			long		total = 0;

			if (which == 0)
				for (long i = 0; i < n; i++)
					total += float_to_shortest_decimal_bufn(values[i], out);
			else if (which == 1)
				for (long i = 0; i < n; i++)
					total += json_float4_out(values[i], out);
			else
				for (long i = 0; i + 384 <= n; i += 384)
					total += json_float4_array_out(values + i, 384, vector_out) - 385;
			t0 = now() - t0;
			if (t0 < best[which])
				best[which] = t0;
			bytes[which] = total;
		}
	}
	printf("%ld random float4 in [-1, 1], best of 3:\n", n);
	printf("  shortest (Ryu, float4out): %.3f s  %5.1f ns/number  %.2f bytes/number\n",
		   best[0], best[0] * 1e9 / n, (double) bytes[0] / n);
	printf("  json_float4_out (9 digits): %.3f s  %5.1f ns/number  %.2f bytes/number\n",
		   best[1], best[1] * 1e9 / n, (double) bytes[1] / n);
	printf("  json_float4_array_out, 384 a call: %.3f s  %5.1f ns/number  %.2f bytes/number\n",
		   best[2], best[2] * 1e9 / n, (double) bytes[2] / n);
	printf("  ratio: %.1fx faster number by number, %.1fx as vectors\n",
		   best[0] / best[1], best[0] / best[2]);
	return 0;
}
