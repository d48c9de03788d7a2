
/*
 * src/sql/vector_input.sql: vector input that fits each client
 *
 * osv.summaries.embedding is real[] and osv.search_summaries() takes a
 * real[] (DESIGN.md sections 3 and 5); these functions (src/vector_input.c)
 * accept the other forms clients send: JSON text '[...]' (a Laravel array
 * cast, JSON.stringify, pgvector's form), float8[] (psycopg, Npgsql) and
 * the raw little-endian float4 bytes of a Float32Array or numpy buffer.
 *
 * Writes convert explicitly (the column's input function runs before any
 * trigger):  INSERT ... VALUES (..., osv.vector_from_text($1)).
 * Search takes text and bytea overloads.  There is deliberately no
 * float8[] overload: with one, ARRAY[0.1, ...] (numeric[]) and ARRAY[1, ...]
 * (integer[]) would coerce equally well to real[] and float8[], and such
 * calls would fail as "not unique"; a float8[] query goes through
 * osv.vector_from_float8() or a cast to real[].  An unknown literal
 * '{...}' or NULL now resolves to the text overload, which reads array
 * text with array_in and passes NULL through, so such calls give the same
 * results and errors as before.  The bytea overload is reached by a bytea
 * parameter or a cast ($1::bytea): an untyped parameter, as node-postgres
 * sends a Buffer, resolves to text.
 */
CREATE FUNCTION osv.vector_from_text(vector text)
RETURNS real[]
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_vector_from_text';
COMMENT ON FUNCTION osv.vector_from_text(text) IS 'a vector written as JSON ''[0.1, 0.2, ...]'' or as array text ''{0.1,0.2,...}'', as real[]';

CREATE FUNCTION osv.vector_from_bytes(vector bytea)
RETURNS real[]
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_vector_from_bytes';
COMMENT ON FUNCTION osv.vector_from_bytes(bytea) IS 'a vector sent as little-endian 4-byte floats (a Float32Array, a numpy float32 buffer), as real[]';

CREATE FUNCTION osv.vector_from_float8(vector double precision[])
RETURNS real[]
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_vector_from_float8';
COMMENT ON FUNCTION osv.vector_from_float8(double precision[]) IS 'a vector sent as double precision[], as real[]; values beyond the range of real are refused';

CREATE FUNCTION osv.vector_to_bytes(vector real[])
RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_vector_to_bytes';
COMMENT ON FUNCTION osv.vector_to_bytes(real[]) IS 'a one-dimensional real[] as little-endian 4-byte floats, for a Float32Array or numpy.frombuffer';

CREATE FUNCTION osv.search_summaries(query text, k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									 topic text DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.summary_id, r.score FROM osv.search_summaries(osv.vector_from_text($1), $2, $3, $4) r
$$;
COMMENT ON FUNCTION osv.search_summaries(text, integer, bigint, text) IS 'osv.search_summaries with the query vector as JSON ''[...]'' or array text ''{...}''';

CREATE FUNCTION osv.search_summaries(query bytea, k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									 topic text DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.summary_id, r.score FROM osv.search_summaries(osv.vector_from_bytes($1), $2, $3, $4) r
$$;
COMMENT ON FUNCTION osv.search_summaries(bytea, integer, bigint, text) IS 'osv.search_summaries with the query vector as little-endian 4-byte floats';
