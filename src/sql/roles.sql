/*
 * src/sql/roles.sql: roles, privileges, row-level security and the acting
 * user (DESIGN.md section 9)
 *
 * Loaded last, after every domain file, and repeated word for word as the
 * update fragment src/sql/updates/1.0--1.1/90_roles.sql (a link to this
 * file, which must stay the last fragment as this file stays the last
 * domain file): every statement works the same on a fresh install and on
 * a 1.0 database being updated.
 *
 * The model:
 *   osv_app      the app's workflow, acting for one platform user at a time
 *                (SET osv.acting_user_id); row-level security shows it only
 *                that user's rows and the shared ones; no right on the
 *                internal tables (outbox, secrets, receipts, job records).
 *   osv_analyst  osv.analytics_events only.
 *   osv_monitor  the status views and job records.
 *   osv_admin    what an operator runs by hand, and every table except the
 *                analytics secret; its members see every row.
 *   osv_worker   the default osv.worker_role of the background workers:
 *                LOGIN without a password (background workers connect
 *                without authentication), a member of osv_admin.
 * Roles are cluster-wide: created when absent, never dropped by DROP
 * EXTENSION (another database may use them).
 *
 * Triggers and the functions that must touch internal tables or other
 * users' rows run as the extension owner (SECURITY DEFINER with a pinned
 * search_path; their SQL qualifies every operator or runs with that path),
 * so osv_app needs no right on what they touch.  Those that take a user id
 * refuse any user but the acting one through osv.check_acting_user().
 */

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'osv_worker') THEN
		CREATE ROLE osv_worker LOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('osv_worker', 'osv_admin', 'MEMBER') THEN
		GRANT osv_admin TO osv_worker;
	END IF;
END
$$;

/* ------------------------------------------------------------------------
 * The acting user
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.acting_user_id()
RETURNS bigint
LANGUAGE C STABLE LEAKPROOF PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_acting_user_id_fn';
COMMENT ON FUNCTION osv.acting_user_id() IS 'the platform user the session acts for (setting osv.acting_user_id); NULL while unset or 0';

CREATE FUNCTION osv.check_acting_user(user_id bigint)
RETURNS bigint
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_check_acting_user';
COMMENT ON FUNCTION osv.check_acting_user(bigint) IS 'user_id if the session may act for that user (superusers and osv_admin members act for anyone, others for osv.acting_user_id only), else an insufficient_privilege error';

/*
 * Settings: only non-secret ones, and errors that never show a value.
 */
CREATE OR REPLACE FUNCTION osv.setting_interval(name text)
RETURNS interval
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_setting_interval_1_1';

/* The guard at the start of every function that acts for a live user. */
CREATE OR REPLACE FUNCTION osv.require_live_user(user_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
BEGIN
	PERFORM osv.check_acting_user(require_live_user.user_id);
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = require_live_user.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END
$$;

/*
 * Search for the app: the engine (osv.vector_search, which must read every
 * live summary) runs as the owner, and a user filter is the acting user's
 * memory, no one else's.  Results name summaries by id and score; their
 * content stays behind row-level security.
 */
CREATE FUNCTION osv.summary_search(query real[], k integer, user_id bigint, topic text, exclude_summary_id bigint)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.summary_id, r.score FROM osv.vector_search($1, $2, osv.check_acting_user($3), $4, $5, NULL) r
$$;
COMMENT ON FUNCTION osv.summary_search(real[], integer, bigint, text, bigint) IS 'osv.vector_search as the owner, for the acting user (a user filter must name the acting user)';

CREATE OR REPLACE FUNCTION osv.search_summaries(query real[], k integer DEFAULT 10, user_id bigint DEFAULT NULL,
												topic text DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score FROM osv.summary_search($1, $2, $3, $4, NULL) r
$$;

/* The summary's embedding is read with the caller's rights: it must be visible. */
CREATE OR REPLACE FUNCTION osv.similar_summaries(summary_id bigint, k integer DEFAULT 10)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score
	FROM osv.summary_search(osv.summary_embedding($1), $2, NULL, NULL, $1) r
$$;

/*
 * Recommendations read other users' summaries and write rows the app may
 * not write itself (a recommendation makes a summary readable to its
 * recipient): run as the owner, for the acting user only.
 */
CREATE OR REPLACE FUNCTION osv.refresh_recommendations(user_id bigint, k integer DEFAULT 10)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
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
	PERFORM osv.check_acting_user(target);
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
			AND array_length(s.embedding, 1) = osv.embedding_dimensions()
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

/*
 * Erasing a user: osv.data_delete() runs as the owner (it queues stored
 * files, sweeps Qdrant and writes receipts); deleting the user row is
 * where a session restricted to its acting user is stopped, whether by
 * data_delete() or by a DELETE of its own.  Changing a user row is
 * stopped the same way once the session acts for someone: a sign-in
 * (osv.upsert_auth0_user, which runs as the owner) happens before the app
 * knows whom it acts for, a session acting for A changes no other user.
 */
CREATE FUNCTION osv.users_check_acting_user()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM osv.check_acting_user(OLD.id);
		RETURN OLD;
	END IF;
	IF osv.acting_user_id() IS NOT NULL THEN
		PERFORM osv.check_acting_user(OLD.id);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.users_check_acting_user() IS 'trigger: refuse to delete a user the session does not act for, or to change one while it acts for another';

CREATE TRIGGER check_acting_user BEFORE UPDATE OR DELETE ON osv.users
	FOR EACH ROW EXECUTE FUNCTION osv.users_check_acting_user();

/*
 * Analytics: the token is computed inside the view, whose owner reads the
 * secret; analysts need no right on osv.analytics_token(), which would let
 * them compute the token of any user id.  security_barrier keeps a
 * caller's functions from seeing rows the view filters out.
 */
CREATE OR REPLACE VIEW osv.analytics_events WITH (security_barrier) AS
SELECT pg_catalog.encode(pg_catalog.sha256(s.secret OPERATOR(pg_catalog.||)
			pg_catalog.convert_to(l.user_id::text, 'UTF8')), 'hex') AS user_token,
	   l.event_type,
	   l.occurred_at,
	   l.properties
FROM osv.activity_logs l
JOIN osv.users u ON u.id OPERATOR(pg_catalog.=) l.user_id
CROSS JOIN osv.analytics_secret s
WHERE u.deleted_at IS NULL;

/* ------------------------------------------------------------------------
 * Owner's rights
 * ------------------------------------------------------------------------
 */

/* Every trigger function: triggers touch internal tables and other users' rows. */
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
			   AND p.prorettype OPERATOR(pg_catalog.=) 'trigger'::regtype
			 ORDER BY p.oid LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
	END LOOP;
END
$$;

/* The app's functions that write internal tables or read other users' rows. */
ALTER FUNCTION osv.upsert_auth0_user(jsonb) SECURITY DEFINER;
ALTER FUNCTION osv.award_points(bigint, integer, text) SECURITY DEFINER;
ALTER FUNCTION osv.submit_answer(bigint, bigint, jsonb) SECURITY DEFINER;
ALTER FUNCTION osv.touch_room(bigint, bigint) SECURITY DEFINER;
ALTER FUNCTION osv.leaderboard(integer) SECURITY DEFINER;
ALTER FUNCTION osv.data_delete(bigint) SECURITY DEFINER;
/* Administration that needs the owner of activity_logs (partition DDL). */
ALTER FUNCTION osv.create_activity_log_partitions(integer, date) SECURITY DEFINER;
ALTER FUNCTION osv.archive_activity_logs(interval, integer) SECURITY DEFINER;

/* ------------------------------------------------------------------------
 * Privileges
 * ------------------------------------------------------------------------
 */
REVOKE ALL ON ALL ROUTINES IN SCHEMA osv FROM PUBLIC;
GRANT USAGE ON SCHEMA osv TO osv_app, osv_analyst, osv_monitor, osv_admin;

/* osv_app: the workflow of one acting user. */
GRANT SELECT, UPDATE, DELETE ON osv.users TO osv_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON osv.documents, osv.summaries, osv.quizzes, osv.rooms,
	osv.room_participations TO osv_app;
GRANT SELECT, UPDATE, DELETE ON osv.recommendations, osv.answers TO osv_app;
GRANT SELECT, INSERT ON osv.activity_logs TO osv_app;
GRANT SELECT ON osv.activity_logs_archive, osv.awards, osv.points, osv.point_totals, osv.badges,
	osv.soft_delete_tables TO osv_app;
/* Trigger WHEN clauses call osv.restoring() as the writer: every role may. */
GRANT EXECUTE ON FUNCTION osv.restoring() TO PUBLIC;
GRANT EXECUTE ON FUNCTION
	osv.acting_user_id(), osv.check_acting_user(bigint),
	osv.soft_delete(regclass, bigint), osv.restore(regclass, bigint), osv.set_trashed(regclass, bigint, boolean),
	osv.upsert_auth0_user(jsonb), osv.require_live_user(bigint),
	osv.register_upload(bigint, text, text, text, bigint, text, text, text), osv.document_type_of(text),
	osv.create_quiz(bigint, text, jsonb, bigint, integer), osv.check_quiz_questions(jsonb),
	osv.submit_answer(bigint, bigint, jsonb),
	osv.create_room(bigint, text), osv.join_room(bigint, bigint), osv.leave_room(bigint, bigint),
	osv.room_heartbeat(bigint, bigint), osv.touch_room(bigint, bigint),
	osv.log_activity(bigint, text, jsonb),
	osv.award_points(bigint, integer, text), osv.leaderboard(integer),
	osv.embed_text(text), osv.embedding_dimensions(), osv.search_summaries(real[], integer, bigint, text),
	osv.similar_summaries(bigint, integer), osv.summary_embedding(bigint),
	osv.summary_search(real[], integer, bigint, text, bigint),
	osv.refresh_recommendations(bigint, integer),
	osv.data_export(bigint), osv.data_delete(bigint),
	osv.check_user_exists(bigint, boolean), osv.user_rows_json(regclass, text, bigint)
	TO osv_app;
/* Vector input in each client's form (src/sql/vector_input.sql). */
GRANT EXECUTE ON FUNCTION
	osv.vector_from_text(text), osv.vector_from_bytes(bytea), osv.vector_from_float8(double precision[]),
	osv.vector_to_bytes(real[]), osv.search_summaries(text, integer, bigint, text),
	osv.search_summaries(bytea, integer, bigint, text)
	TO osv_app;

/*
 * osv_monitor: osv.vector_sync_status calls osv.search_fallback_stats(),
 * which runs with the reader's rights (a view checks only its tables as the
 * owner).
 */
GRANT EXECUTE ON FUNCTION osv.search_fallback_stats() TO osv_monitor;

/* osv_analyst: tokenized activity only. */
GRANT SELECT ON osv.analytics_events TO osv_analyst;

/*
 * osv_monitor: the status views and job records (those of later features
 * too, when they exist at this point).
 */
DO $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
			 WHERE c.relnamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
			   AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['vector_sync_status', 'job_runs',
					'storage_sync_status', 'reembedding_progress', 'progress'])
			 ORDER BY c.relname LOOP
		EXECUTE pg_catalog.format('GRANT SELECT ON %s TO osv_monitor', v);
	END LOOP;
END
$$;
/* The functions those views call (worker liveness, progress: src/health.c, src/progress.c). */
GRANT EXECUTE ON FUNCTION osv.worker_status(), osv.progress_slots(), osv.archive_backlog(),
	osv.storage_sync_blocked_by(text) TO osv_monitor;

/*
 * osv_admin: every function but the token function, every table and view
 * but the analytics secret (partitions are reached through their parents),
 * every sequence.
 */
DO $$
DECLARE
	obj text;
BEGIN
	FOR obj IN SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
			   WHERE p.pronamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
				 AND p.prokind OPERATOR(pg_catalog.=) 'f'
				 AND p.oid OPERATOR(pg_catalog.<>) 'osv.analytics_token(bigint)'::regprocedure
			   ORDER BY 1 LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO osv_admin', obj);
	END LOOP;
	FOR obj IN SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
			   WHERE p.pronamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
				 AND p.prokind OPERATOR(pg_catalog.=) 'p'
			   ORDER BY 1 LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON PROCEDURE %s TO osv_admin', obj);
	END LOOP;
	FOR obj IN SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
			   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
				 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v'])
				 AND NOT c.relispartition
				 AND c.relname OPERATOR(pg_catalog.<>) 'analytics_secret'
			   ORDER BY 1 LOOP
		EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO osv_admin', obj);
	END LOOP;
END
$$;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA osv TO osv_admin;

/* ------------------------------------------------------------------------
 * Row-level security
 *
 * osv_app sees and changes the rows of its acting user (trashed ones
 * included, so that the app can restore them); quizzes, rooms and room
 * participations are shared while live; another user's summary is
 * readable through a live recommendation to the acting user.  With
 * osv.acting_user_id unset or 0, osv.acting_user_id() is NULL and no
 * policy of osv_app holds.  osv_admin (and so the workers) sees every row;
 * the owner and superusers bypass row-level security.  A reference to a
 * document written by the app must name a document of the acting user.
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.users TO osv_app
	USING (id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.documents TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.summaries TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id())
	WITH CHECK (user_id OPERATOR(pg_catalog.=) osv.acting_user_id()
				AND EXISTS (SELECT FROM osv.documents d WHERE d.id OPERATOR(pg_catalog.=) document_id));
CREATE POLICY app_recommended ON osv.summaries FOR SELECT TO osv_app
	USING (deleted_at IS NULL
		   AND EXISTS (SELECT FROM osv.recommendations r
					   WHERE r.summary_id OPERATOR(pg_catalog.=) summaries.id
						 AND r.user_id OPERATOR(pg_catalog.=) osv.acting_user_id()
						 AND r.revoked_at IS NULL AND r.deleted_at IS NULL
						 AND r.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()));

ALTER TABLE osv.recommendations ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.recommendations TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.quizzes ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.quizzes TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id())
	WITH CHECK (user_id OPERATOR(pg_catalog.=) osv.acting_user_id()
				AND (document_id IS NULL
					 OR EXISTS (SELECT FROM osv.documents d WHERE d.id OPERATOR(pg_catalog.=) document_id)));
CREATE POLICY app_shared ON osv.quizzes FOR SELECT TO osv_app
	USING (deleted_at IS NULL AND osv.acting_user_id() IS NOT NULL);

ALTER TABLE osv.answers ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.answers TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.rooms ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.rooms TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());
CREATE POLICY app_shared ON osv.rooms FOR SELECT TO osv_app
	USING (deleted_at IS NULL AND osv.acting_user_id() IS NOT NULL);

ALTER TABLE osv.room_participations ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.room_participations TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());
CREATE POLICY app_shared ON osv.room_participations FOR SELECT TO osv_app
	USING (deleted_at IS NULL AND osv.acting_user_id() IS NOT NULL);

ALTER TABLE osv.activity_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.activity_logs TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.activity_logs_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.activity_logs_archive TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.awards ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.awards TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.points ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.points TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

ALTER TABLE osv.point_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_own ON osv.point_totals TO osv_app
	USING (user_id OPERATOR(pg_catalog.=) osv.acting_user_id());

/* Operators and workers see every row. */
DO $$
DECLARE
	t regclass;
BEGIN
	FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
			 WHERE c.relnamespace OPERATOR(pg_catalog.=) 'osv'::regnamespace
			   AND c.relrowsecurity AND NOT c.relispartition
			 ORDER BY c.relname LOOP
		EXECUTE pg_catalog.format('CREATE POLICY admin_all ON %s TO osv_admin USING (true) WITH CHECK (true)', t);
	END LOOP;
END
$$;

/* A table, column or user that is NULL has no rows (data_export never passes one). */
ALTER FUNCTION osv.user_rows_json(regclass, text, bigint) STRICT;
