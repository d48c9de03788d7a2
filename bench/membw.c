/*-------------------------------------------------------------------------
 *
 * membw.c
 *		The physical baseline of the exact scan: how long this machine takes
 *		to read the bytes a search reads, from memory, on one core.
 *
 *	  membw ROWS DIMS HEAP_BYTES [PASSES [THREADS [huge]]]
 *
 * With "huge" the arrays lie in 2 MB pages (transparent huge pages asked
 * for by madvise(MADV_HUGEPAGE) on 2 MB-aligned memory), as shared buffers
 * do with huge_pages = on, instead of 4 kB pages; the first line says how
 * much of them the kernel gave in huge pages.
 *
 * Times, best and median of PASSES (default 15) passes each, in one
 * process on one core (as a search runs in one backend):
 *
 *	floats   a contiguous float array of ROWS x DIMS (the embeddings alone,
 *			 154 MB at 100,000 x 384) summed by the best SIMD loop of this CPU
 *			 (AVX2, chosen at run time, else SSE2/NEON): the memory-bandwidth
 *			 limit of any exact scan of those embeddings;
 *	heap	 the same loop over HEAP_BYTES contiguous bytes (the size of
 *			 osv.summaries, which holds more than the embeddings);
 *	pages	 HEAP_BYTES as 8 kB pages scattered at random over twice as much
 *			 memory, read in page order (as the table's pages lie in shared
 *			 buffers), the next page prefetched: what the layout costs;
 *	floats_threads
 *			 the floats read by THREADS (default 2) threads at once, each a
 *			 contiguous share, on as many cores: the memory-bandwidth limit
 *			 of a parallel scan with THREADS participants (the leader and
 *			 THREADS - 1 workers);
 *	kernel	 the scan's own kernel (src/vector_kernel.c, dot product and norm
 *			 of each row against one query) over the contiguous floats: the
 *			 arithmetic at memory speed, without PostgreSQL.
 *
 * Prints one line per measurement: name, best ms, median ms, GB/s at best.
 * Run by bench/search.sh.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		bench/membw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include "vector_kernel.h"

#define PAGE 8192

typedef float float8x __attribute__((vector_size(32)));

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* (a macro: a function returning a 32-byte vector has no portable ABI) */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(float8x))

/* Sum of n floats (n a multiple of 32): four independent 8-float sums. */
#define SUM_BODY \
	float8x		a = {0}, b = {0}, c = {0}, d = {0}; \
	float		s = 0; \
	for (size_t i = 0; i + 32 <= n; i += 32) \
	{ \
		float8x		w, x, y, z; \
		LOAD8(w, p + i); \
		LOAD8(x, p + i + 8); \
		LOAD8(y, p + i + 16); \
		LOAD8(z, p + i + 24); \
		a += w; b += x; c += y; d += z; \
	} \
	a = (a + b) + (c + d); \
	for (int j = 0; j < 8; j++) \
		s += a[j]; \
	return s;

static float
sum_portable(const float *p, size_t n)
{
SUM_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static float
sum_avx2(const float *p, size_t n)
{
SUM_BODY
}
#endif

static float (*sum) (const float *p, size_t n) = sum_portable;

/* One thread's share of the floats_threads read. */
typedef struct SumPart
{
	const float *p;
	size_t		n;
	float		s;
} SumPart;

static void *
sum_part(void *arg)
{
	SumPart    *part = (SumPart *) arg;

	part->s = sum(part->p, part->n);
	return NULL;
}

#define HUGE_PAGE ((size_t) 2 * 1024 * 1024)

/*
 * Memory for the arrays: 64-byte aligned in 4 kB pages, or with "huge",
 * 2 MB-aligned and advised into transparent huge pages.
 */
static void *
alloc_array(size_t bytes, bool huge)
{
	char	   *p;
	size_t		size;

	if (!huge)
		return aligned_alloc(64, (bytes + 63) / 64 * 64);
	size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	/* one huge page more, to start at a 2 MB boundary */
	p = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	p = (char *) (((uintptr_t) p + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1));
	if (madvise(p, size, MADV_HUGEPAGE) != 0)
	{
		perror("membw: madvise(MADV_HUGEPAGE)");
		return NULL;
	}
	return p;
}

/* kB of this process's memory in transparent huge pages. */
static long
anon_huge_kb(void)
{
	FILE	   *f = fopen("/proc/self/smaps_rollup", "r");
	char		line[256];
	long		kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *ms, int passes, size_t bytes, double sink)
{
	qsort(ms, passes, sizeof(double), cmp_double);
	printf("%s\t%.2f\t%.2f\t%.1f\t(%zu bytes, check %g)\n", name, ms[0], ms[passes / 2],
		   bytes / ms[0] / 1e6, bytes, sink);
}

int
main(int argc, char **argv)
{
	size_t		rows,
				dims,
				heap_bytes,
				npages,
				nslots;
	int			passes;
	int			threads;
	bool		huge;
	pthread_t  *tids;
	SumPart    *parts;
	float	   *floats;
	const char *heap;
	char	   *pool;
	size_t	   *slot;
	double	   *ms;
	double		sink = 0;
	float	   *query;
	vector_dot_norm_fn kernel = vector_dot_norm_kernel();

	if (argc < 4)
	{
		fprintf(stderr, "usage: membw ROWS DIMS HEAP_BYTES [PASSES [THREADS [huge]]]\n");
		return 2;
	}
	rows = strtoul(argv[1], NULL, 10);
	dims = strtoul(argv[2], NULL, 10);
	heap_bytes = strtoul(argv[3], NULL, 10);
	passes = argc > 4 ? atoi(argv[4]) : 15;
	threads = argc > 5 ? atoi(argv[5]) : 2;
	huge = argc > 6 && strcmp(argv[6], "huge") == 0;
	npages = heap_bytes / PAGE;
	nslots = npages * 2;
	if (rows == 0 || dims == 0 || dims % 32 != 0 || npages == 0 || passes < 1 ||
		threads < 1 || threads > 64 || (argc > 6 && !huge && strcmp(argv[6], "4k") != 0))
	{
		fprintf(stderr, "membw: ROWS > 0, DIMS a multiple of 32, HEAP_BYTES >= 8192, PASSES >= 1, THREADS 1 to 64, pages huge or 4k\n");
		return 2;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		sum = sum_avx2;
#endif
	printf("# loop: %s; kernel: %s\n", sum == sum_portable ? "portable" : "avx2",
		   vector_dot_norm_kernel_name());

	floats = alloc_array(rows * dims * sizeof(float), huge);
	pool = alloc_array(nslots * PAGE, huge);
	heap = pool;				/* the contiguous read: the first npages */
	slot = malloc(sizeof(size_t) * nslots);
	ms = malloc(sizeof(double) * passes);
	query = malloc(sizeof(float) * dims);
	tids = malloc(sizeof(pthread_t) * threads);
	parts = malloc(sizeof(SumPart) * threads);
	if (!floats || !pool || !slot || !ms || !query || !tids || !parts)
	{
		fprintf(stderr, "membw: out of memory\n");
		return 1;
	}
	srandom(42);
	for (size_t i = 0; i < rows * dims; i++)
		floats[i] = (float) random() / RAND_MAX - 0.5f;
	for (size_t i = 0; i < nslots * PAGE / sizeof(float); i++)
		((float *) pool)[i] = (float) random() / RAND_MAX - 0.5f;
	for (size_t i = 0; i < dims; i++)
		query[i] = (float) random() / RAND_MAX - 0.5f;
	if (huge)
		printf("# pages: 2 MB (transparent huge pages): %ld of %zu MB of the arrays\n",
			   anon_huge_kb() / 1024, (rows * dims * sizeof(float) + nslots * PAGE) >> 20);
	else
		printf("# pages: 4 kB\n");
	/* a random choice of npages of the nslots page slots, in random order */
	for (size_t i = 0; i < nslots; i++)
		slot[i] = i;
	for (size_t i = nslots - 1; i > 0; i--)
	{
		size_t		j = (size_t) random() % (i + 1),
					t = slot[i];

		slot[i] = slot[j];
		slot[j] = t;
	}

	for (int p = 0; p < passes; p++)
	{
		double		t0 = now_ms();

		sink += sum(floats, rows * dims);
		ms[p] = now_ms() - t0;
	}
	report("floats", ms, passes, rows * dims * sizeof(float), sink);

	for (int p = 0; p < passes; p++)
	{
		double		t0 = now_ms();
		size_t		share = rows * dims / threads / 32 * 32;

		for (int t = 0; t < threads; t++)
		{
			parts[t].p = floats + share * t;
			parts[t].n = t < threads - 1 ? share : rows * dims - share * t;
			if (pthread_create(&tids[t], NULL, sum_part, &parts[t]) != 0)
			{
				fprintf(stderr, "membw: could not create a thread\n");
				return 1;
			}
		}
		for (int t = 0; t < threads; t++)
		{
			pthread_join(tids[t], NULL);
			sink += parts[t].s;
		}
		ms[p] = now_ms() - t0;
	}
	report("floats_threads", ms, passes, rows * dims * sizeof(float), sink);

	for (int p = 0; p < passes; p++)
	{
		double		t0 = now_ms();

		sink += sum((float *) heap, npages * PAGE / sizeof(float));
		ms[p] = now_ms() - t0;
	}
	report("heap", ms, passes, npages * PAGE, sink);

	for (int p = 0; p < passes; p++)
	{
		double		t0 = now_ms();

		for (size_t i = 0; i < npages; i++)
		{
			if (i + 1 < npages)
				for (int off = 0; off < PAGE; off += 64)
					__builtin_prefetch(pool + slot[i + 1] * PAGE + off);
			sink += sum((float *) (pool + slot[i] * PAGE), PAGE / sizeof(float));
		}
		ms[p] = now_ms() - t0;
	}
	report("pages", ms, passes, npages * PAGE, sink);

	for (int p = 0; p < passes; p++)
	{
		double		t0 = now_ms(),
					dot,
					norm;

		for (size_t r = 0; r < rows; r++)
		{
			kernel(query, floats + r * dims, (int) dims, &dot, &norm);
			sink += dot / norm;
		}
		ms[p] = now_ms() - t0;
	}
	report("kernel", ms, passes, rows * dims * sizeof(float), sink);
	return 0;
}
