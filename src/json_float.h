/*-------------------------------------------------------------------------
 *
 * json_float.h
 *		float4 as JSON number text that reads back as the same float4.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/json_float.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_JSON_FLOAT_H
#define OSV_JSON_FLOAT_H

/* Longest text json_float4_out() writes ("-0.0000ddddddddd"), no NUL. */
#define JSON_FLOAT4_MAX_LEN 16

/*
 * Write finite "value" to out, not terminated; returns the length.  out
 * must have room for JSON_FLOAT4_MAX_LEN bytes, which may all be written
 * (digits past the returned length are scratch).
 */
extern int	json_float4_out(float4 value, char *out);

/*
 * Write finite "values" as a JSON array to out, not terminated; returns
 * the length.  out must have room for n * (JSON_FLOAT4_MAX_LEN + 1) + 2
 * bytes.
 */
extern int	json_float4_array_out(const float4 *values, int n, char *out);

#endif							/* OSV_JSON_FLOAT_H */
