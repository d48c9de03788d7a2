/*-------------------------------------------------------------------------
 *
 * reembedding.h
 *		Versions of the embedding model and of the Qdrant collection.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/reembedding.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_REEMBEDDING_H
#define OSV_REEMBEDDING_H

/* The versions of osv.reembeddings as a transaction sees them. */
typedef struct ReembeddingLayout
{
	int			cur_version;	/* version of the current collection (1: no
								 * run finished) */
	int			cur_dims;		/* its dimensions; 0: osv.vector_dimensions */
	int			next_version;	/* version of the running re-embedding, 0:
								 * none */
	int			next_dims;		/* its dimensions */
} ReembeddingLayout;

extern void reembedding_layout(ReembeddingLayout *layout);
extern int	reembedding_dimensions(void);
extern void reembedding_qdrant_layout(void);

#endif							/* OSV_REEMBEDDING_H */
