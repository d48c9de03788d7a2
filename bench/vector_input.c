/*-------------------------------------------------------------------------
 *
 * vector_input.c
 *		Benchmark client of bench/vector_input.sh: single-row inserts of a
 *		document and its summary with a 384-dimension embedding, the
 *		embedding sent in one of four forms.
 *
 * A libpq loop, one connection, one transaction per insert (autocommit),
 * each statement sent with PQexecParams (an unnamed statement parsed each
 * time, as node-postgres and PDO send a parameterised query):
 *	 text:   '{...}' array text into the real[] column (a Laravel cast, a
 *	         node-postgres JS array), numbers written as a client holding
 *	         doubles writes them ("%.17g");
 *	 json:   '[...]' JSON text through osv.vector_from_text($1) (JSON.stringify,
 *	         a Laravel array cast), the same numbers;
 *	 bytes:  the 1,536 raw little-endian float4 bytes, a binary bytea
 *	         parameter, through osv.vector_from_bytes($1) (a Float32Array,
 *	         numpy's tobytes());
 *	 binary: the real[] in PostgreSQL's binary array format (what psycopg's
 *	         binary dumper and Npgsql send), for reference.
 * Within a round the forms alternate in blocks of 50 inserts (the order
 * rotating) so that the noise of a shared machine falls on all of them;
 * it prints one line per form and round: "FORM ROUND INSERTS_PER_SECOND
 * PARAMETER_BYTES".
 *
 *	 vector_input CONNINFO ROUNDS INSERTS_PER_ROUND
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		bench/vector_input.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define DIMS 384
#define FORMS 4
#define BLOCK 50
#define BYTEAOID 17
#define FLOAT4OID 700
#define FLOAT4ARRAYOID 1021

static const char *const form_names[FORMS] = {"text", "json", "bytes", "binary"};

/* The summary insert; $1 is the embedding, $2 the document's key. */
#define INSERT_SQL(embedding) \
	"WITH d AS (INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key) " \
	"VALUES (1, 'pdf', 'bench', 'bench-docs', $2) RETURNING id) " \
	"INSERT INTO osv.summaries (document_id, topic, content, embedding) " \
	"SELECT id, 'topic', 'a summary of the bench document', " embedding " FROM d"

static const char *const form_sql[FORMS] = {
	INSERT_SQL("$1"),
	INSERT_SQL("osv.vector_from_text($1)"),
	INSERT_SQL("osv.vector_from_bytes($1)"),
	INSERT_SQL("$1::real[]"),
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
put32(char **p, uint32_t v)
{
	v = htonl(v);
	memcpy(*p, &v, 4);
	*p += 4;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	float		v[DIMS];
	double		norm = 0;
	char	   *value[FORMS];
	int			length[FORMS];
	int			format[FORMS] = {0, 0, 1, 1};
	unsigned int type[FORMS] = {0, 0, BYTEAOID, FLOAT4ARRAYOID};
	int			rounds,
				per_round;
	long		key = 0;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s CONNINFO ROUNDS INSERTS_PER_ROUND\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[2]);
	per_round = atoi(argv[3]);
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}

	/* A normalised random vector, as an embedding model gives. */
	srand(1);
	for (int i = 0; i < DIMS; i++)
	{
		v[i] = (float) rand() / RAND_MAX * 2 - 1;
		norm += (double) v[i] * v[i];
	}
	for (int i = 0; i < DIMS; i++)
		v[i] = (float) (v[i] / sqrt(norm));

	/* text and json: the float4 values as the doubles a client holds */
	for (int f = 0; f < 2; f++)
	{
		char	   *p = value[f] = malloc(DIMS * 32);

		*p++ = (f == 0) ? '{' : '[';
		for (int i = 0; i < DIMS; i++)
			p += sprintf(p, "%s%.17g", i ? "," : "", (double) v[i]);
		*p++ = (f == 0) ? '}' : ']';
		*p = '\0';
		length[f] = (int) (p - value[f]);
	}
	/* bytes: little-endian float4 (this client runs on a little-endian machine) */
	value[2] = malloc(DIMS * 4);
	memcpy(value[2], v, DIMS * 4);
	length[2] = DIMS * 4;
	/* binary: array_send's format, 1 dimension, no nulls, float4 elements */
	{
		char	   *p = value[3] = malloc(20 + DIMS * 8);

		put32(&p, 1);
		put32(&p, 0);
		put32(&p, FLOAT4OID);
		put32(&p, DIMS);
		put32(&p, 1);
		for (int i = 0; i < DIMS; i++)
		{
			uint32_t	bits;

			memcpy(&bits, &v[i], 4);
			put32(&p, 4);
			put32(&p, bits);
		}
		length[3] = (int) (p - value[3]);
	}

	for (int round = 1; round <= rounds; round++)
	{
		double		elapsed[FORMS] = {0};

		/*
		 * Blocks of BLOCK inserts per form, the forms' order rotating, so
		 * that a burst of load from elsewhere falls on every form alike.
		 */
		for (int block = 0; block < per_round / BLOCK; block++)
		{
			for (int step = 0; step < FORMS; step++)
			{
				int			f = (step + block + round) % FORMS;
				double		start = now_seconds();

				for (int n = 0; n < BLOCK; n++)
				{
					char		keybuf[32];
					const char *values[2];
					int			lengths[2];
					int			formats[2];
					Oid			types[2];
					PGresult   *res;

					snprintf(keybuf, sizeof(keybuf), "vi-%ld", ++key);
					values[0] = value[f];
					lengths[0] = length[f];
					formats[0] = format[f];
					types[0] = type[f];
					values[1] = keybuf;
					lengths[1] = 0;
					formats[1] = 0;
					types[1] = 0;
					res = PQexecParams(conn, form_sql[f], 2, types, values, lengths, formats, 0);
					if (PQresultStatus(res) != PGRES_COMMAND_OK)
					{
						fprintf(stderr, "%s: %s", form_names[f], PQerrorMessage(conn));
						return 1;
					}
					PQclear(res);
				}
				elapsed[f] += now_seconds() - start;
			}
		}
		for (int f = 0; f < FORMS; f++)
			printf("%s %d %.1f %d\n", form_names[f], round,
				   (per_round / BLOCK) * BLOCK / elapsed[f], length[f]);
		fflush(stdout);
	}
	PQfinish(conn);
	return 0;
}
