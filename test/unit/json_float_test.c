/*-------------------------------------------------------------------------
 *
 * json_float_test.c
 *		Unit test of src/json_float.c: every float4 it writes reads back
 *		identically, as JSON.
 *
 * Checks, for each value: the text is a JSON number (RFC 8259 grammar),
 * at most JSON_FLOAT4_MAX_LEN long, nothing written past that, and parses back to the same bits both
 * directly (strtof) and through double (strtod, then a cast), the way
 * Qdrant's serde_json reads an f32.  Values: the edges (zeros, subnormals,
 * FLT_MAX, every power of ten and its neighbours, the notation switches),
 * every float4 of one binade in full, and random bit patterns.
 *
 * Usage: json_float_test [RANDOM_COUNT]; prints "N values checked" or the
 * first failures, exit status 1 on failure.  Built and run by test/run.
 * "json_float_test all [FIRST LAST]" checks every bit pattern from FIRST to
 * LAST (default: all 2^32, about 8 minutes a core), for a run by hand.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		test/unit/json_float_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "json_float.h"

static long checked = 0;
static long failures = 0;

/* Whether s (length len) matches -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
is_json_number(const char *s, int len)
{
	int			i = 0;
	int			start;

	if (i < len && s[i] == '-')
		i++;
	if (i < len && s[i] == '0')
		i++;
	else if (i < len && s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < len && s[i] == '.')
	{
		start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	return i == len;
}

static void
check(float4 value)
{
	char		text[JSON_FLOAT4_MAX_LEN + 8];
	int			len;
	float4		direct;
	float4		via_double;
	uint32		bits;

	if (!isfinite(value))
		return;
	memset(text, 'X', sizeof(text));
	len = json_float4_out(value, text);
	checked++;
	memcpy(&bits, &value, sizeof(bits));
	if (len < 1 || len > JSON_FLOAT4_MAX_LEN || text[JSON_FLOAT4_MAX_LEN] != 'X')
	{
		if (failures++ < 20)
			fprintf(stderr, "0x%08x: length %d, or wrote past %d bytes\n",
					bits, len, JSON_FLOAT4_MAX_LEN);
		return;
	}
	text[len] = '\0';
	direct = strtof(text, NULL);
	via_double = (float4) strtod(text, NULL);
	if (!is_json_number(text, len) ||
		memcmp(&direct, &value, sizeof(value)) != 0 ||
		memcmp(&via_double, &value, sizeof(value)) != 0)
	{
		if (failures++ < 20)
			fprintf(stderr, "0x%08x (%.9g): wrote \"%s\", read back %.9g / %.9g\n",
					bits, value, text, direct, via_double);
	}
}

static void
check_bits(uint32 bits)
{
	float4		value;

	memcpy(&value, &bits, sizeof(value));
	check(value);
}

int
main(int argc, char **argv)
{
	long		random_count = argc > 1 ? atol(argv[1]) : 20000000;
	uint64		state = UINT64CONST(0x9e3779b97f4a7c15);

	if (argc > 1 && strcmp(argv[1], "all") == 0)
	{
		uint64		first = argc > 2 ? strtoull(argv[2], NULL, 0) : 0;
		uint64		last = argc > 3 ? strtoull(argv[3], NULL, 0) : UINT64CONST(0xffffffff);

		for (uint64 bits = first; bits <= last; bits++)
			check_bits((uint32) bits);
		if (failures > 0)
		{
			fprintf(stderr, "%ld of %ld values failed\n", failures, checked);
			return 1;
		}
		printf("%ld values checked (every bit pattern from 0x%08llx to 0x%08llx)\n",
			   checked, (unsigned long long) first, (unsigned long long) last);
		return 0;
	}

	/* Edges. */
	check(0.0f);
	check(-0.0f);
	check(FLT_MIN);
	check(FLT_MAX);
	check(-FLT_MAX);
	check(FLT_TRUE_MIN);
	check(FLT_EPSILON);
	for (uint32 bits = 1; bits < 100000; bits++)
	{
		check_bits(bits);				/* smallest subnormals */
		check_bits(0x00800000 - bits);	/* largest subnormals */
		check_bits(0x7f800000 - bits);	/* largest finite */
		check_bits(0x80000000 | bits);
	}
	/* Powers of ten and their neighbours, where the digit count changes. */
	for (int e = -46; e <= 39; e++)
	{
		char		power[16];
		float4		p;
		float4		up;
		float4		down;

		snprintf(power, sizeof(power), "1e%d", e);
		p = up = down = strtof(power, NULL);
		for (int k = 0; k < 1000; k++)
		{
			check(up);
			check(down);
			check(-up);
			up = nextafterf(up, INFINITY);
			down = nextafterf(down, 0.0f);
		}
		check(p * 9.99999999f);
	}
	/* One whole binade, [0.5, 1), where embedding elements live. */
	for (uint32 bits = 0x3f000000; bits < 0x3f800000; bits++)
		check_bits(bits);
	/* Random bit patterns (xorshift64*). */
	for (long i = 0; i < random_count; i++)
	{
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		check_bits((uint32) ((state * UINT64CONST(2685821657736338717)) >> 32));
	}

	if (failures > 0)
	{
		fprintf(stderr, "%ld of %ld values failed\n", failures, checked);
		return 1;
	}
	printf("%ld values checked\n", checked);
	return 0;
}
