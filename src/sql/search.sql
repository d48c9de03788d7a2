
/*
 * src/sql/search.sql: embeddings, search and recommendations of the vector
 * layer (DESIGN.md section 5)
 *
 * The public functions osv.search_summaries(), osv.similar_summaries() and
 * osv.refresh_recommendations() choose their engine at run time through
 * osv.vector_search(): with osv.qdrant_url set they ask Qdrant (through
 * osv.qdrant_search(), defined with the Qdrant client), with it empty they
 * run the exact in-database scan osv.search_embedded() (src/embedding.c).
 * PL/pgSQL resolves osv.qdrant_search() only when that branch runs.
 */

/*
 * Keep embeddings inline and uncompressed, so that the embedded search
 * reads them in place in the shared buffer: MAIN compresses or moves a
 * value out of line only when the row cannot fit a page otherwise (the
 * summary text goes first).  At 384 dimensions an embedding takes 1.5 kB
 * and stays inline.
 */
ALTER TABLE osv.summaries ALTER COLUMN embedding SET STORAGE MAIN;

/*
 * A topic filter reads only the pages holding that topic's summaries, found
 * through this index (src/exact_scan.c; a user filter reads the user's
 * through summaries_user_id_created_at_idx).
 */
CREATE INDEX summaries_topic_idx ON osv.summaries (topic);

CREATE FUNCTION osv.embed_text(content text)
RETURNS real[]
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_embed_text';
COMMENT ON FUNCTION osv.embed_text(text) IS 'deterministic, model-free embedding of a text (hashed words and word pairs, normalised) with osv.vector_dimensions dimensions';

/* ------------------------------------------------------------------------
 * Validation of embeddings
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.check_embedding()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_check_embedding';
COMMENT ON FUNCTION osv.check_embedding() IS 'trigger: refuse embeddings of the wrong dimension, with null, NaN or infinite elements, or all zero';

CREATE TRIGGER check_embedding BEFORE INSERT OR UPDATE OF embedding ON osv.summaries
	FOR EACH ROW EXECUTE FUNCTION osv.check_embedding();

CREATE FUNCTION osv.check_search_arguments(query real[], k integer)
RETURNS void
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_check_search_arguments';
COMMENT ON FUNCTION osv.check_search_arguments(real[], integer) IS 'raise the error of a bad query vector or number of results, as every search does';

/* ------------------------------------------------------------------------
 * The embedded search
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.search_embedded(query real[], k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									topic text DEFAULT NULL, exclude_summary_id bigint DEFAULT NULL,
									exclude_user_id bigint DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
AS 'MODULE_PATHNAME', 'osv_search_embedded';
COMMENT ON FUNCTION osv.search_embedded(real[], integer, bigint, text, bigint, bigint) IS 'exact in-database cosine search over live summaries, best first (the embedded mode)';

CREATE FUNCTION osv.embedding_centroid(embeddings real[])
RETURNS real[]
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_embedding_centroid';
COMMENT ON FUNCTION osv.embedding_centroid(real[]) IS 'normalised mean of the normalised rows of a two-dimensional array of embeddings';

/*
 * The engine switch.  In Qdrant mode the answer is checked against the
 * database, so that a summary trashed (or moved) since the last sync is
 * never returned: Qdrant may lag behind the outbox.  Qdrant filters on an
 * owner but not on "not this owner", so an excluded owner's summaries are
 * filtered here after asking for that many more results.
 */
CREATE FUNCTION osv.vector_search(search_query real[], result_limit integer, only_user_id bigint,
								  only_topic text, skip_summary_id bigint, skip_user_id bigint)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE plpgsql STABLE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fetch_limit integer := result_limit;
BEGIN
	/* Also loads osv.so, which defines the settings read below. */
	PERFORM osv.check_search_arguments(search_query, result_limit);

	IF current_setting('osv.qdrant_url') = '' THEN
		RETURN QUERY
			SELECT e.summary_id, e.score
			FROM osv.search_embedded(search_query, result_limit, only_user_id, only_topic,
									 skip_summary_id, skip_user_id) e;
		RETURN;
	END IF;

	IF skip_user_id IS NOT NULL THEN
		SELECT least(1000, result_limit + count(*)) INTO fetch_limit
		FROM osv.summaries s
		WHERE s.user_id = skip_user_id AND s.deleted_at IS NULL AND s.embedding IS NOT NULL;
	END IF;
	RETURN QUERY
		SELECT q.summary_id, q.score
		FROM osv.qdrant_search(search_query, fetch_limit, only_user_id, only_topic, skip_summary_id) q
		JOIN osv.summaries s ON s.id = q.summary_id
		WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL
		  AND (only_user_id IS NULL OR s.user_id = only_user_id)
		  AND (only_topic IS NULL OR s.topic = only_topic)
		  AND (skip_user_id IS NULL OR s.user_id <> skip_user_id)
		ORDER BY q.score DESC, q.summary_id
		LIMIT result_limit;
END
$$;
COMMENT ON FUNCTION osv.vector_search(real[], integer, bigint, text, bigint, bigint) IS 'cosine search by Qdrant when osv.qdrant_url is set, else in-database; only live summaries';

/* ------------------------------------------------------------------------
 * The public search functions (DESIGN.md section 5)
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.search_summaries(query real[], k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									 topic text DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score FROM osv.vector_search($1, $2, $3, $4, NULL, NULL) r
$$;
COMMENT ON FUNCTION osv.search_summaries(real[], integer, bigint, text) IS 'live summaries most similar to a query vector (cosine), best first; optionally of one user or topic';

/* The embedding of a live summary, or the error saying why it has none. */
CREATE FUNCTION osv.summary_embedding(summary_id bigint)
RETURNS real[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target bigint := summary_embedding.summary_id;
	is_live boolean;
	result real[];
BEGIN
	IF target IS NULL THEN
		RAISE EXCEPTION 'summary_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT s.deleted_at IS NULL, s.embedding INTO is_live, result
	FROM osv.summaries s WHERE s.id = target;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'summary % does not exist', target USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT is_live THEN
		RAISE EXCEPTION 'summary % is trashed', target
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Trashed summaries are not searchable until restored with osv.restore().';
	END IF;
	IF result IS NULL THEN
		RAISE EXCEPTION 'summary % has no embedding', target
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Store an embedding in osv.summaries.embedding, for example osv.embed_text(content).';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION osv.summary_embedding(bigint) IS 'embedding of a live summary; an error if the summary is unknown, trashed or not embedded';

/*
 * SQL rather than PL/pgSQL: the contract names both the argument and a
 * result column summary_id, which PL/pgSQL does not allow.
 */
CREATE FUNCTION osv.similar_summaries(summary_id bigint, k integer DEFAULT 10)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score
	FROM osv.vector_search(osv.summary_embedding($1), $2, NULL, NULL, $1, NULL) r
$$;
COMMENT ON FUNCTION osv.similar_summaries(bigint, integer) IS 'live summaries most similar to a summary (cosine), itself excluded, best first';

/*
 * Recommendations: the live summaries of other users closest to the
 * centroid of the user's own most recent live embedded summaries (up to
 * 20, each weighing the same).  One search around the centroid rather than
 * one per summary: it finds what is close to the user's recent interests
 * as a whole, costs one scan, and cannot be dominated by one summary's
 * near duplicates.  The new set replaces the user's unrevoked set, which
 * is revoked (kept for history, not deleted), in one transaction.
 * Concurrent refreshes of one user are serialized by an advisory lock.
 */
CREATE FUNCTION osv.refresh_recommendations(user_id bigint, k integer DEFAULT 10)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target bigint := refresh_recommendations.user_id;
	ttl interval;
	is_live boolean;
	centroid real[];
	stored integer;
BEGIN
	IF target IS NULL THEN
		RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF k IS NULL THEN
		RAISE EXCEPTION 'k must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF k < 1 OR k > 1000 THEN
		RAISE EXCEPTION 'k must be between 1 and 1000'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('k is %s.', k);
	END IF;
	/* Also loads osv.so, which defines osv.vector_dimensions. */
	ttl := osv.setting_interval('osv.recommendation_ttl');

	PERFORM pg_advisory_xact_lock(hashtext('osv.refresh_recommendations'), hashint8(target));
	SELECT u.deleted_at IS NULL INTO is_live FROM osv.users u WHERE u.id = target FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', target USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT is_live THEN
		RAISE EXCEPTION 'user % is trashed', target USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	SELECT osv.embedding_centroid(array_agg(r.embedding)) INTO centroid
	FROM (SELECT s.embedding
		  FROM osv.summaries s
		  WHERE s.user_id = target AND s.deleted_at IS NULL AND s.embedding IS NOT NULL
			AND array_ndims(s.embedding) = 1
			AND array_length(s.embedding, 1) = current_setting('osv.vector_dimensions')::integer
		  ORDER BY s.created_at DESC, s.id DESC
		  LIMIT 20) r;

	/*
	 * Trashed ones too: were they restored later (with the summary they
	 * point to), they would come back as part of a set that was replaced.
	 */
	UPDATE osv.recommendations r SET revoked_at = now()
	WHERE r.user_id = target AND r.revoked_at IS NULL;

	IF centroid IS NULL THEN
		RETURN 0;
	END IF;
	INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at)
	SELECT target, v.summary_id, v.score, now() + ttl
	FROM osv.vector_search(centroid, k, NULL, NULL, NULL, target) v;
	GET DIAGNOSTICS stored = ROW_COUNT;
	RETURN stored;
END
$$;
COMMENT ON FUNCTION osv.refresh_recommendations(bigint, integer) IS 'store the live summaries of other users closest to the user''s recent summaries as their recommendations, revoking the previous set; returns how many';
