/*-------------------------------------------------------------------------
 *
 * vector_kernel.h
 *		The distance kernel of the exact scan: dot product and squared
 *		norm in one pass, the best SIMD variant chosen at run time.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_kernel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_VECTOR_KERNEL_H
#define OSV_VECTOR_KERNEL_H

typedef void (*vector_dot_norm_fn) (const float *q, const float *v, int n,
									double *dot, double *norm);

/* The kernel for this CPU (chosen once, on the first call). */
extern vector_dot_norm_fn vector_dot_norm_kernel(void);

/* Its name, for messages and benchmarks: "avx2" or "portable". */
extern const char *vector_dot_norm_kernel_name(void);

/* The variants, for the unit test; the AVX2 one is NULL where unavailable. */
extern void vector_dot_norm_portable(const float *q, const float *v, int n,
									 double *dot, double *norm);
extern vector_dot_norm_fn vector_dot_norm_avx2_if_supported(void);

#endif							/* OSV_VECTOR_KERNEL_H */
