
/* src/sql/reembedding.sql: changing the embedding model without downtime (DESIGN.md section 10) */

/*
 * A re-embedding run moves every summary from the current embedding model
 * to a new one (possibly of another size) while search keeps serving the
 * current one:
 *  - osv.qdrant_collection names a Qdrant alias; the collections behind it
 *    are versioned, <alias>_v<N>.  Version 1 is the first one; a 1.0
 *    install that already has a plain collection called <alias> keeps
 *    using it as version 1 (Qdrant cannot rename a collection, and an alias
 *    cannot share the name of a collection) until its first re-embedding
 *    finishes, which deletes it and creates the alias.
 *  - osv.start_reembedding(dimensions) records version N+1 here; the sync
 *    worker creates <alias>_v<N+1> with that size.
 *  - The AI pipeline writes the new embedding of each summary into
 *    osv.summaries.embedding_next (a column, so that soft deletes, RLS,
 *    erasure, data_export and backups cover it as they cover the row); the
 *    outbox carries it to the new collection, while embedding keeps going
 *    to the current one; deletes go to both.
 *  - Search (Qdrant through the alias, or the embedded scan of embedding)
 *    keeps serving the current model.  osv.reembedding_progress shows how
 *    far the run is.
 *  - osv.finish_reembedding() refuses while a live summary that has an
 *    embedding has no new one; otherwise, in one transaction, it marks the
 *    run finished (the active dimension becomes the run's: see below),
 *    moves embedding_next into embedding, and switches the alias in one
 *    request (delete_alias + create_alias, applied atomically by Qdrant),
 *    then deletes the old collection.
 * The active dimension is the dimensions of the last finished run, or
 * osv.vector_dimensions when no run ever finished; a setting cannot change
 * in the same instant as the data, so after a switch the table wins (and
 * osv.vector_dimensions only sizes the first collection).
 */
CREATE TABLE osv.reembeddings (
	version integer NOT NULL,
	dimensions integer NOT NULL,
	started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	finished_at timestamptz,
	CONSTRAINT reembeddings_pkey PRIMARY KEY (version),
	CONSTRAINT reembeddings_version_check CHECK (version OPERATOR(pg_catalog.>=) 2),
	CONSTRAINT reembeddings_dimensions_check CHECK (dimensions OPERATOR(pg_catalog.>=) 1 AND dimensions OPERATOR(pg_catalog.<=) 65536)
);
COMMENT ON TABLE osv.reembeddings IS 'runs that moved the summaries to a new embedding model (Qdrant collection <alias>_v<version>); no row: version 1, osv.vector_dimensions';
COMMENT ON COLUMN osv.reembeddings.version IS 'version of the collection the run fills (2 for the first run)';
COMMENT ON COLUMN osv.reembeddings.dimensions IS 'dimensions of the new embeddings; the active dimension once the run finished';
COMMENT ON COLUMN osv.reembeddings.started_at IS 'when osv.start_reembedding() started the run';
COMMENT ON COLUMN osv.reembeddings.finished_at IS 'when osv.finish_reembedding() switched to the new collection; NULL while the run goes on';
CREATE UNIQUE INDEX reembeddings_running_idx ON osv.reembeddings ((true)) WHERE finished_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('osv.reembeddings', '');

CREATE FUNCTION osv.embedding_dimensions()
RETURNS integer
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_embedding_dimensions';
COMMENT ON FUNCTION osv.embedding_dimensions() IS 'dimensions of the current embedding model: those of the last finished re-embedding, else osv.vector_dimensions';

CREATE FUNCTION osv.check_embedding_next()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_check_embedding_next';
COMMENT ON FUNCTION osv.check_embedding_next() IS 'trigger: refuse a new embedding while no re-embedding runs, or one of the wrong dimension, with null, NaN or infinite elements, or all zero';

CREATE TRIGGER check_embedding_next BEFORE INSERT OR UPDATE OF embedding_next ON osv.summaries
	FOR EACH ROW WHEN (NEW.embedding_next IS NOT NULL AND NOT osv.restoring()) EXECUTE FUNCTION osv.check_embedding_next();

CREATE FUNCTION osv.qdrant_switch_alias(version integer)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_qdrant_switch_alias';
COMMENT ON FUNCTION osv.qdrant_switch_alias(integer) IS 'point the alias osv.qdrant_collection at collection <alias>_v<version> in one request and delete the collection it named before; nothing in the embedded mode';

CREATE FUNCTION osv.start_reembedding(dimensions integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v integer;
BEGIN
	IF dimensions IS NULL THEN
		RAISE EXCEPTION 'dimensions must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF dimensions < 1 OR dimensions > 65536 THEN
		RAISE EXCEPTION 'dimensions must be between 1 and 65536'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('dimensions is %s.', dimensions);
	END IF;
	LOCK TABLE osv.reembeddings IN EXCLUSIVE MODE;
	SELECT r.version INTO v FROM osv.reembeddings r WHERE r.finished_at IS NULL;
	IF FOUND THEN
		RAISE EXCEPTION 're-embedding to version % is already running', v
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Finish it with osv.finish_reembedding() first; osv.reembedding_progress shows how far it is.';
	END IF;
	SELECT coalesce(max(r.version), 1) + 1 INTO v FROM osv.reembeddings r;
	INSERT INTO osv.reembeddings (version, dimensions) VALUES (v, start_reembedding.dimensions);
	RETURN v;
END
$$;
COMMENT ON FUNCTION osv.start_reembedding(integer) IS 'start moving the summaries to a new embedding model of that many dimensions (Qdrant collection <alias>_v<N>, filled from summaries.embedding_next); returns N';

CREATE FUNCTION osv.finish_reembedding()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run osv.reembeddings;
	missing bigint;
	pending bigint[];
	lo bigint;
	hi bigint;
BEGIN
	/*
	 * Writers of summaries and the sync wait until the switch commits: the
	 * entries the switch itself enqueues are told apart from those that
	 * were pending before it.  Summaries first: a writer holding a row of
	 * them may still need the outbox, and so must finish before the outbox
	 * is locked.
	 */
	LOCK TABLE osv.reembeddings IN EXCLUSIVE MODE;
	LOCK TABLE osv.summaries IN SHARE ROW EXCLUSIVE MODE;
	LOCK TABLE osv.vector_outbox IN EXCLUSIVE MODE;
	SELECT * INTO run FROM osv.reembeddings r WHERE r.finished_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no re-embedding is running'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Start one with osv.start_reembedding(dimensions).';
	END IF;
	SELECT count(*) INTO missing FROM osv.summaries s
	WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL AND s.embedding_next IS NULL;
	IF missing > 0 THEN
		RAISE EXCEPTION 're-embedding to version % is not complete', run.version
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('%s live summaries have an embedding but no new embedding (embedding_next).', missing),
				  HINT = 'Write embedding_next of every live summary (osv.reembedding_progress shows how many are left), then call osv.finish_reembedding() again.';
	END IF;

	UPDATE osv.reembeddings r SET finished_at = now() WHERE r.version = run.version;
	pending := ARRAY(SELECT o.summary_id FROM osv.vector_outbox o);
	/*
	 * Trashed summaries without a new embedding lose the old one: it no
	 * longer fits.  In slices of 1000 ids: the statement trigger of the
	 * soft-delete cascade joins the transition tables of each UPDATE, which
	 * costs the square of the rows of one statement (measured with
	 * bench/reembedding.sh).
	 */
	SELECT min(s.id), max(s.id) INTO lo, hi FROM osv.summaries s;
	WHILE lo <= hi LOOP
		UPDATE osv.summaries s SET embedding = s.embedding_next, embedding_next = NULL
		WHERE s.id >= lo AND s.id < lo + 1000
		  AND (s.embedding IS NOT NULL OR s.embedding_next IS NOT NULL);
		lo := lo + 1000;
	END LOOP;
	/*
	 * The new collection holds every summary whose entry was not pending
	 * (its embedding_next reached it): what the swap enqueued is sent
	 * already.
	 */
	DELETE FROM osv.vector_outbox o
	WHERE o.summary_id <> 0 AND o.claim_id IS NULL AND NOT (o.summary_id = ANY (pending));
	PERFORM osv.qdrant_switch_alias(run.version);
	RETURN run.version;
END
$$;
COMMENT ON FUNCTION osv.finish_reembedding() IS 'switch to the new embedding model: new embeddings become summaries.embedding, the alias points at the new collection, the old one is deleted; returns the new version';

CREATE VIEW osv.reembedding_progress AS
SELECT r.version,
	   r.dimensions,
	   r.started_at,
	   c.total,
	   c.embedded,
	   CASE WHEN pg_catalog.current_setting('osv.qdrant_url', true) IS DISTINCT FROM '' THEN c.synced END AS synced,
	   CASE WHEN c.total OPERATOR(pg_catalog.>) 0
			THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*) c.embedded OPERATOR(pg_catalog./) c.total, 1)
			ELSE 100.0 END AS percent,
	   CASE WHEN c.embedded OPERATOR(pg_catalog.>) 0 AND c.embedded OPERATOR(pg_catalog.<) c.total
			THEN r.started_at OPERATOR(pg_catalog.+) ((pg_catalog.now() OPERATOR(pg_catalog.-) r.started_at)
				 OPERATOR(pg_catalog.*) (c.total::float8 OPERATOR(pg_catalog./) c.embedded)) END AS expected_end
  FROM osv.reembeddings r,
	   LATERAL (SELECT pg_catalog.count(*) FILTER (WHERE s.embedding IS NOT NULL OR s.embedding_next IS NOT NULL) AS total,
					   pg_catalog.count(*) FILTER (WHERE s.embedding_next IS NOT NULL) AS embedded,
					   pg_catalog.count(*) FILTER (WHERE s.embedding_next IS NOT NULL
						   AND NOT EXISTS (SELECT FROM osv.vector_outbox o WHERE o.summary_id OPERATOR(pg_catalog.=) s.id)) AS synced
				  FROM osv.summaries s WHERE s.deleted_at IS NULL) c
 WHERE r.finished_at IS NULL;
COMMENT ON VIEW osv.reembedding_progress IS 'the re-embedding that runs, if any: live summaries to move, how many have a new embedding and reached the new collection, expected end';
COMMENT ON COLUMN osv.reembedding_progress.version IS 'version of the new collection';
COMMENT ON COLUMN osv.reembedding_progress.dimensions IS 'dimensions of the new embeddings';
COMMENT ON COLUMN osv.reembedding_progress.started_at IS 'when the run started';
COMMENT ON COLUMN osv.reembedding_progress.total IS 'live summaries with an embedding, old or new';
COMMENT ON COLUMN osv.reembedding_progress.embedded IS 'live summaries with a new embedding (embedding_next)';
COMMENT ON COLUMN osv.reembedding_progress.synced IS 'live summaries whose new embedding reached the new Qdrant collection; NULL in the embedded mode';
COMMENT ON COLUMN osv.reembedding_progress.percent IS 'embedded as a percentage of total';
COMMENT ON COLUMN osv.reembedding_progress.expected_end IS 'when every live summary will have a new embedding at the rate so far; NULL before the first and after the last';
