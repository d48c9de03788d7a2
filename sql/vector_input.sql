--
-- Vector input in each client's form (src/vector_input.c,
-- src/sql/vector_input.sql): JSON text '[...]', array text '{...}',
-- float8[] and little-endian float4 bytes, for writes of
-- osv.summaries.embedding and for osv.search_summaries(); every call form
-- that worked before the text and bytea overloads existed still resolves
-- and gives the same result; each wrong shape has its error.
--
SET client_min_messages = warning;
TRUNCATE osv.users RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|vi', 'vi@example.org', 'vi');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT 1, 'text', t, 'osv-docs', 'vi/' || md5(t)
FROM unnest(ARRAY['cell membranes control what enters the cell', 'photosynthesis turns light into energy',
				  'the french revolution began in 1789', 'quantum mechanics of small particles']) t;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'misc', d.title, osv.embed_text(d.title) FROM osv.documents d ORDER BY d.id;

-- the query in every form
CREATE TEMP TABLE q AS SELECT osv.embed_text('the cell membrane') AS v;
SELECT v::text AS qarray, '[' || array_to_string(v, ', ') || ']' AS qjson,
	   'ARRAY[' || array_to_string(v::numeric[], ', ') || ']' AS qnumeric,
	   'ARRAY[' || array_to_string(ARRAY(SELECT round(x * 100)::int FROM unnest(v) x), ', ') || ']' AS qint
FROM q \gset
CREATE TEMP TABLE expected AS
SELECT r.summary_id, r.score FROM q, osv.search_summaries(q.v, 3) r;
SELECT count(*) AS expected_hits FROM expected;
CREATE FUNCTION pg_temp.same(label text, got_ids bigint[], got_scores real[])
RETURNS text LANGUAGE sql AS $$
	SELECT label || CASE WHEN got_ids = (SELECT array_agg(summary_id ORDER BY score DESC, summary_id) FROM expected)
							  AND got_scores = (SELECT array_agg(score ORDER BY score DESC, summary_id) FROM expected)
						 THEN ': same result' ELSE ': DIFFERENT ' || got_ids::text END
$$;

-- calls that worked before resolve as before and give the same result
SELECT pg_temp.same('real[] value', array_agg(summary_id), array_agg(score)) FROM q, osv.search_summaries(q.v, 3);
SELECT pg_temp.same('unknown literal {...}', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries(:'qarray', 3);
SELECT pg_temp.same('osv.embed_text()', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries(osv.embed_text('the cell membrane'), 3);
SELECT pg_temp.same('named arguments, real[]', array_agg(summary_id), array_agg(score)) FROM q, osv.search_summaries(k => 3, query => q.v);
SELECT pg_temp.same('named arguments, unknown literal', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries(query => :'qarray', k => 3);
-- ARRAY[numeric] and ARRAY[integer] still resolve to the real[] function (as an explicit cast does)
SELECT (SELECT array_agg(summary_id) FROM osv.search_summaries(:qnumeric, 3))
	 = (SELECT array_agg(summary_id) FROM osv.search_summaries((:qnumeric)::real[], 3)) AS numeric_array_same;
SELECT (SELECT array_agg(score) FROM osv.search_summaries(:qint, 3))
	 = (SELECT array_agg(score) FROM osv.search_summaries((:qint)::real[], 3)) AS integer_array_same;
SELECT * FROM osv.search_summaries(NULL);
SELECT * FROM osv.search_summaries(NULL::real[]);
SELECT * FROM osv.search_summaries(query => NULL, k => 3);
-- the function an untyped literal and a bytea reach (EXPLAIN does not run the search)
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM osv.search_summaries('{1,2,3}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM osv.search_summaries('\x0000803f'::bytea);

-- the new forms give the same result
SELECT pg_temp.same('JSON text', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries(:'qjson', 3);
SELECT pg_temp.same('JSON text, named', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries(k => 3, query => :'qjson');
SELECT pg_temp.same('text value', array_agg(summary_id), array_agg(score)) FROM osv.search_summaries((:'qjson')::text, 3);
SELECT pg_temp.same('bytes', array_agg(summary_id), array_agg(score)) FROM q, osv.search_summaries(osv.vector_to_bytes(q.v), 3);
SELECT pg_temp.same('float8[] converted', array_agg(summary_id), array_agg(score)) FROM q, osv.search_summaries(osv.vector_from_float8(q.v::float8[]), 3);
SELECT pg_temp.same('float8[] cast', array_agg(summary_id), array_agg(score)) FROM q, osv.search_summaries(q.v::float8[]::real[], 3);
SELECT osv.vector_from_text(:'qjson') = v AS json_exact, osv.vector_from_text(:'qarray') = v AS array_text_exact,
	   osv.vector_from_bytes(osv.vector_to_bytes(v)) = v AS bytes_exact,
	   osv.vector_from_float8(v::float8[]) = v AS float8_exact,
	   length(osv.vector_to_bytes(v)) AS bytes_length
FROM q;
-- no float8[] overload: with one, ARRAY[numeric] and '{...}' calls would be "not unique"
SELECT * FROM osv.search_summaries(ARRAY[0.5, 1.5]::float8[]);
CREATE SCHEMA overload_probe;
CREATE FUNCTION overload_probe.search(real[]) RETURNS text LANGUAGE sql AS $$SELECT 'real[]'$$;
CREATE FUNCTION overload_probe.search(float8[]) RETURNS text LANGUAGE sql AS $$SELECT 'float8[]'$$;
SELECT overload_probe.search(ARRAY[0.5, 1.5]);
DROP SCHEMA overload_probe CASCADE;

-- the forms of the conversion functions
SELECT osv.vector_from_text('[1, -2.5e-3, 0.1]') AS json, osv.vector_from_text(E' \n[ 1 ,2 ] \t') AS spaces,
	   osv.vector_from_text('{1,-2.5e-3,0.1}') AS array_text, osv.vector_from_text('[0:1]={1,2}') AS decorated,
	   osv.vector_from_text('[3]') AS one, osv.vector_from_text('[]') AS empty,
	   osv.vector_from_text('[null, NaN, Infinity, -Infinity]') AS specials;
SELECT osv.vector_from_bytes('\x0000803f000000c0') AS bytes, osv.vector_from_bytes('') AS no_bytes,
	   osv.vector_to_bytes('{1,-2}') AS to_bytes, osv.vector_to_bytes('{}') AS to_no_bytes,
	   osv.vector_from_float8('{1,0.1,NULL}') AS float8, osv.vector_from_float8('{{1,2},{3,4}}') AS float8_2d,
	   osv.vector_from_float8('{}') AS float8_empty;

-- writes of the column through the conversions
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
VALUES (1, 'text', 'json', 'osv-docs', 'vi/json'), (1, 'text', 'bytes', 'osv-docs', 'vi/bytes'),
	   (1, 'text', 'float8', 'osv-docs', 'vi/float8');
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'io', d.title, osv.vector_from_text(:'qjson') FROM osv.documents d WHERE d.title = 'json';
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'io', d.title, osv.vector_from_bytes(osv.vector_to_bytes(q.v)) FROM osv.documents d, q WHERE d.title = 'bytes';
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'io', d.title, osv.vector_from_float8(q.v::float8[]) FROM osv.documents d, q WHERE d.title = 'float8';
SELECT s.content, s.embedding = q.v AS stored_exact FROM osv.summaries s, q WHERE s.topic = 'io' ORDER BY s.content;
UPDATE osv.summaries SET embedding = osv.vector_from_text('[' || array_to_string(osv.embed_text('glaciers'), ',') || ']')
WHERE content = 'json';
SELECT embedding = osv.embed_text('glaciers') AS updated_exact FROM osv.summaries WHERE content = 'json';
-- the bare column still takes array text only (its input function is array_in)
UPDATE osv.summaries SET embedding = '[1,2,3]' WHERE content = 'json';

-- errors of the text form: syntax (22P02), nesting (22000), range (22003)
\set VERBOSITY default
SELECT osv.vector_from_text('');
SELECT osv.vector_from_text('1, 2, 3');
SELECT osv.vector_from_text('[1, 2,]');
SELECT osv.vector_from_text('[1, 2');
SELECT osv.vector_from_text('[1 2]');
SELECT osv.vector_from_text('[1, 2] extra');
SELECT osv.vector_from_text('["1", "2"]');
SELECT osv.vector_from_text('[.5]');
SELECT osv.vector_from_text('[1.]');
SELECT osv.vector_from_text('[nan]');
SELECT osv.vector_from_text('[' || repeat('1', 129) || ']');
SELECT osv.vector_from_text('[[1, 2], [3, 4]]');
SELECT osv.vector_from_text('[1, [2]]');
SELECT osv.vector_from_text('[1e39]');
SELECT cardinality(osv.vector_from_text('[' || repeat('1,', 65535) || '1]')) AS most_elements;
SELECT osv.vector_from_text('[' || repeat('1,', 65536) || '1]');
SELECT osv.vector_from_text('[1e-50]');
SELECT osv.vector_from_text('{1,2');
-- errors of the bytes and float8[] forms and of vector_to_bytes
SELECT osv.vector_from_bytes('\x0000803f000000');
SELECT osv.vector_from_float8('{1e300}');
SELECT osv.vector_from_float8('{1,-1e-300}');
SELECT osv.vector_to_bytes('{{1,2},{3,4}}');
SELECT osv.vector_to_bytes('{1,NULL}');
\set VERBOSITY terse

-- the SQLSTATE of each kind of error, as a client sees it
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
SELECT s AS statement, pg_temp.sqlstate_of(s) AS sqlstate FROM unnest(ARRAY[
	$$SELECT osv.vector_from_text('[1, 2,]')$$,
	$$SELECT osv.vector_from_text('[1, 2] extra')$$,
	$$SELECT osv.vector_from_text('[[1, 2]]')$$,
	$$SELECT osv.vector_from_text('[1e39]')$$,
	$$SELECT osv.vector_from_bytes('\x0000803f000000')$$,
	$$SELECT osv.vector_from_float8('{1e300}')$$,
	$$SELECT osv.vector_to_bytes('{{1,2},{3,4}}')$$,
	$$SELECT osv.vector_to_bytes('{1,NULL}')$$,
	$$SELECT * FROM osv.search_summaries('[1, 2, 3]')$$,
	$$SELECT * FROM osv.search_summaries('[NaN' || repeat(', 0.5', 383) || ']')$$,
	$$SELECT * FROM osv.search_summaries('[null' || repeat(', 0.5', 383) || ']')$$,
	$$SELECT * FROM osv.search_summaries('\x0000803f0000'::bytea)$$]) s;

-- the rules of a query vector, whatever its form
SELECT * FROM osv.search_summaries('[]');
SELECT * FROM osv.search_summaries('[1, 2, 3]');
SELECT * FROM osv.search_summaries('[[1, 2], [3, 4]]');
SELECT * FROM osv.search_summaries('[NaN' || repeat(', 0.5', 383) || ']');
SELECT * FROM osv.search_summaries('[0.5, -Infinity' || repeat(', 0.5', 382) || ']');
SELECT * FROM osv.search_summaries('[0.5, 0.5, null' || repeat(', 0.5', 381) || ']');
SELECT * FROM osv.search_summaries('[0' || repeat(', 0', 383) || ']');
SELECT * FROM osv.search_summaries('{{1,2},{3,4}}');
SELECT * FROM osv.search_summaries(''::bytea);
SELECT * FROM osv.search_summaries('\x0000803f0000'::bytea);
SELECT * FROM osv.search_summaries(decode(repeat('0000c07f', 384), 'hex'));
SELECT * FROM osv.search_summaries(osv.vector_from_float8(array_fill(0.5::float8, ARRAY[2, 192])));
SELECT * FROM osv.search_summaries(osv.vector_from_float8(array_fill(NULL::float8, ARRAY[384])));
SELECT * FROM osv.search_summaries(:'qjson', 0);
-- and of an embedding
UPDATE osv.summaries SET embedding = osv.vector_from_text('[]') WHERE content = 'json';
UPDATE osv.summaries SET embedding = osv.vector_from_text('[1, 2, 3]') WHERE content = 'json';
UPDATE osv.summaries SET embedding = osv.vector_from_text('[Infinity' || repeat(', 0.5', 383) || ']') WHERE content = 'json';
UPDATE osv.summaries SET embedding = osv.vector_from_text('[null' || repeat(', 0.5', 383) || ']') WHERE content = 'json';
UPDATE osv.summaries SET embedding = osv.vector_from_bytes(decode(repeat('0000807f', 384), 'hex')) WHERE content = 'bytes';
UPDATE osv.summaries SET embedding = osv.vector_from_bytes('\x0000803f00') WHERE content = 'bytes';
UPDATE osv.summaries SET embedding = osv.vector_from_float8(array_fill(1e20::float8, ARRAY[384])) WHERE content = 'float8';
SELECT s.content, s.embedding = q.v AS unchanged FROM osv.summaries s, q WHERE s.topic = 'io' AND s.content <> 'json' ORDER BY s.content;
