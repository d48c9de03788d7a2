/*-------------------------------------------------------------------------
 *
 * json_float.c
 *		float4 as JSON number text that reads back as the same float4.
 *
 * The sync worker writes 384 numbers per summary, so this is the inner
 * loop of a backfill: PostgreSQL's shortest round-trip formatting (Ryu,
 * float_to_shortest_decimal_bufn) costs about 35 ns a number here, more
 * than everything else the worker does for a summary together.  Shortest
 * is not needed, only exact: nine significant decimal digits identify
 * every float4 (the spacing of 9-digit decimals, at most 1e-8 of the
 * value, is below half a float4 ulp, at least 2^-25 = 2.98e-8 of it).
 *
 * So the value is widened to double (exact), scaled by a power of ten
 * into [1e8, 1e9) and rounded to an integer, whose digits are written
 * two at a time.  The scaling's rounding error (a few 1e-16 of the value)
 * can move the ninth digit by one, which is still closer than 1e-8 of the
 * value: any reader that rounds correctly, directly to float4 or through
 * double (Qdrant's serde_json), gets the original float4 back.  Trailing
 * zeros are dropped; the exponent form is used outside 1e-5 .. 1e9.
 *
 * Pure computation: no memory allocation, no errors, any process.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/json_float.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "json_float.h"

/* Powers of ten 1e-54 .. 1e54 (float4 values and the 9-digit scaling need -37 .. 53). */
#define POW10_MIN (-54)
#define POW10_MAX 54
static double pow10_table[POW10_MAX - POW10_MIN + 1];
static bool pow10_ready = false;

static const char digit_pairs[201] =
"00010203040506070809"
"10111213141516171819"
"20212223242526272829"
"30313233343536373839"
"40414243444546474849"
"50515253545556575859"
"60616263646566676869"
"70717273747576777879"
"80818283848586878889"
"90919293949596979899";

/*
 * The table is computed rather than written out: strtod of "1eN" is the
 * correctly rounded power, the same value a literal would give.
 */
static void
init_pow10(void)
{
	for (int e = POW10_MIN; e <= POW10_MAX; e++)
	{
		char		literal[8];

		snprintf(literal, sizeof(literal), "1e%d", e);
		pow10_table[e - POW10_MIN] = strtod(literal, NULL);
	}
	pow10_ready = true;
}

/*
 * v * 10^(8 - e10) rounded to an integer, v > 0 (adding one half and
 * truncating may round a tie up: the one-digit slack covers it).
 */
static inline uint64
scaled_digits(double v, int e10)
{
	return (uint64) (int64) (v * pow10_table[8 - e10 - POW10_MIN] + 0.5);
}

/*
 * Write the 9 digits of d (1e8 <= d < 1e9) to out.  Each pair comes from
 * d by its own division by a constant (a multiplication), so that the CPU
 * computes them side by side rather than one after the other.
 */
static inline void
write_nine_digits(char *out, uint32 d)
{
	memcpy(out, &digit_pairs[2 * (d / 10000000)], 2);
	memcpy(out + 2, &digit_pairs[2 * (d / 100000 % 100)], 2);
	memcpy(out + 4, &digit_pairs[2 * (d / 1000 % 100)], 2);
	memcpy(out + 6, &digit_pairs[2 * (d / 10 % 100)], 2);
	out[8] = (char) ('0' + d % 10);
}

/* Digits of nine (1 to 9) left once trailing zeros are dropped. */
static inline int
significant_digits(const char *nine)
{
	int			n = 9;

	while (nine[n - 1] == '0')
		n--;
	return n;
}

static inline int
float4_out(float4 value, char *out)
{
	char	   *p = out;
	double		v = fabs((double) value);
	uint32		bits;
	int			e2;
	int			e10;
	uint64		d;

	Assert(isfinite(value));

	/* The sign without a branch: signs of embeddings are coin flips. */
	memcpy(&bits, &value, sizeof(bits));
	*p = '-';
	p += bits >> 31;
	if (v == 0)
	{
		*p++ = '0';
		return p - out;
	}

	/*
	 * Decimal exponent: v is in [2^(e2-1), 2^e2), so floor(log10(v)) is
	 * floor((e2 - 1) * log10(2)) or one more, which one comparison with the
	 * next power of ten tells; (k * 78913) >> 18 is floor(k * log10(2)) for
	 * |k| < 1000 (the shift of a negative number rounds down too).  e2 comes
	 * from the float's exponent field, or from frexp() for a subnormal.  The
	 * loops after the scaling (each runs at most once) catch a power of ten
	 * that double does not hold exactly, and 9.999999995 rounding up to 10.
	 */
	if ((bits & 0x7f800000) != 0)
		e2 = (int) ((bits >> 23) & 0xff) - 126;
	else
		(void) frexp(v, &e2);
	e10 = ((e2 - 1) * 78913) >> 18;
	e10 += (v >= pow10_table[e10 + 1 - POW10_MIN]);
	d = scaled_digits(v, e10);
	while (unlikely(d >= UINT64CONST(1000000000)))
		d = scaled_digits(v, ++e10);
	while (unlikely(d < UINT64CONST(100000000)))
		d = scaled_digits(v, --e10);

	/*
	 * The digits are written in place and the point moved in, so that every
	 * copy has a constant size (a call of memcpy per number would cost as
	 * much as the rest).
	 */
	if (e10 < 0 && e10 >= -5)
	{
		/* 0.000ddd */
		memcpy(p, "0.00000", 7);
		p += 1 - e10;
		write_nine_digits(p, (uint32) d);
		p += significant_digits(p);
	}
	else if (e10 >= 0 && e10 < 9)
	{
		/* ddd or ddd.ddd: the zeros of a whole number are digits already */
		int			whole = e10 + 1;
		int			ndigits;

		write_nine_digits(p, (uint32) d);
		ndigits = significant_digits(p);
		if (ndigits <= whole)
			p += whole;
		else
		{
			for (int i = ndigits; i > whole; i--)
				p[i] = p[i - 1];
			p[whole] = '.';
			p += ndigits + 1;
		}
	}
	else
	{
		/* d.ddde-XX */
		int			e = e10;
		int			ndigits;

		write_nine_digits(p + 1, (uint32) d);
		ndigits = significant_digits(p + 1);
		p[0] = p[1];
		p[1] = '.';
		p += ndigits > 1 ? ndigits + 1 : 1;
		*p++ = 'e';
		if (e < 0)
		{
			*p++ = '-';
			e = -e;
		}
		if (e >= 10)
		{
			memcpy(p, &digit_pairs[2 * e], 2);
			p += 2;
		}
		else
			*p++ = (char) ('0' + e);
	}
	return p - out;
}

int
json_float4_out(float4 value, char *out)
{
	if (unlikely(!pow10_ready))
		init_pow10();
	return float4_out(value, out);
}

int
json_float4_array_out(const float4 *values, int n, char *out)
{
	char	   *p = out;

	if (unlikely(!pow10_ready))
		init_pow10();
	*p++ = '[';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float4_out(values[i], p);
	}
	*p++ = ']';
	return p - out;
}
