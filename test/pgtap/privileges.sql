-- pgTAP: privileges of the shipped roles (DESIGN.md section 9).  Every
-- function, procedure, table, view and sequence of schema osv is checked
-- for each role against the expected rights below, so a new object that
-- nobody granted shows up here as "no privileges", and a grant that the
-- lists below do not name fails; the lists themselves must name existing
-- objects only.
BEGIN;
SELECT * FROM no_plan();

-- roles
SELECT has_role(r) FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin', 'osv_worker']) r;
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = r), false, r || ' cannot log in (a login role is granted it)')
FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin']) r;
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'osv_worker'), true, 'osv_worker can log in (background workers need it)');
SELECT is((SELECT rolpassword FROM pg_authid WHERE rolname = 'osv_worker'), NULL, 'osv_worker has no password');
SELECT is((SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = r), false,
		  r || ' has no superuser, bypassrls, createrole or createdb attribute')
FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin', 'osv_worker']) r;
SELECT ok(pg_has_role('osv_worker', 'osv_admin', 'MEMBER'), 'osv_worker is a member of osv_admin');
SELECT ok(NOT pg_has_role(a, b, 'MEMBER'), a || ' is not a member of ' || b)
FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor']) a, unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin']) b
WHERE a <> b;

-- schema
SELECT schema_privs_are('osv', r, ARRAY['USAGE']) FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin']) r;
SELECT schema_privs_are('osv', 'public', ARRAY[]::name[]);

-- expected rights on routines
CREATE TEMP TABLE expected_routine (role name, routine text);
INSERT INTO expected_routine
SELECT 'osv_app', unnest(ARRAY[
	'osv.acting_user_id()', 'osv.check_acting_user(bigint)',
	'osv.soft_delete(regclass,bigint)', 'osv.restore(regclass,bigint)', 'osv.set_trashed(regclass,bigint,boolean)',
	'osv.upsert_auth0_user(jsonb)', 'osv.require_live_user(bigint)',
	'osv.register_upload(bigint,text,text,text,bigint,text,text,text)', 'osv.document_type_of(text)',
	'osv.create_quiz(bigint,text,jsonb,bigint,integer)', 'osv.check_quiz_questions(jsonb)',
	'osv.submit_answer(bigint,bigint,jsonb)',
	'osv.create_room(bigint,text)', 'osv.join_room(bigint,bigint)', 'osv.leave_room(bigint,bigint)',
	'osv.room_heartbeat(bigint,bigint)', 'osv.touch_room(bigint,bigint)',
	'osv.log_activity(bigint,text,jsonb)',
	'osv.award_points(bigint,integer,text)', 'osv.leaderboard(integer)',
	'osv.embed_text(text)', 'osv.embedding_dimensions()', 'osv.search_summaries(real[],integer,bigint,text)',
	'osv.similar_summaries(bigint,integer)', 'osv.summary_embedding(bigint)',
	'osv.summary_search(real[],integer,bigint,text,bigint)',
	'osv.refresh_recommendations(bigint,integer)',
	'osv.data_export(bigint)', 'osv.data_delete(bigint)',
	'osv.check_user_exists(bigint,boolean)', 'osv.user_rows_json(regclass,text,bigint)']);
INSERT INTO expected_routine
SELECT 'osv_app', unnest(ARRAY[
	'osv.vector_from_text(text)', 'osv.vector_from_bytes(bytea)', 'osv.vector_from_float8(double precision[])',
	'osv.vector_to_bytes(real[])', 'osv.search_summaries(text,integer,bigint,text)',
	'osv.search_summaries(bytea,integer,bigint,text)']);
-- osv_monitor: the fallback counters that osv.vector_sync_status shows
INSERT INTO expected_routine VALUES ('osv_monitor', 'osv.search_fallback_stats()');
-- PUBLIC (so every role): osv.restoring(), which trigger WHEN clauses call as the writer
INSERT INTO expected_routine
SELECT r, 'osv.restoring()' FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'public']) r;
-- osv_monitor: the functions the status views call
INSERT INTO expected_routine
SELECT 'osv_monitor', unnest(ARRAY['osv.worker_status()', 'osv.progress_slots()', 'osv.archive_backlog()',
	'osv.storage_sync_blocked_by(text)']);
-- osv_admin: every routine but the analytics token
INSERT INTO expected_routine
SELECT 'osv_admin', p.oid::regprocedure::text FROM pg_proc p
WHERE p.pronamespace = 'osv'::regnamespace AND p.oid <> 'osv.analytics_token(bigint)'::regprocedure;

SELECT ok(to_regprocedure(routine) IS NOT NULL, 'expected routine ' || routine || ' exists')
FROM expected_routine WHERE role IN ('osv_app', 'osv_monitor');

SELECT function_privs_are('osv', p.proname,
						  ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, n) ORDER BY n)::name[],
						  r.role,
						  CASE WHEN EXISTS (SELECT FROM expected_routine e
											WHERE e.role = r.role AND to_regprocedure(e.routine) = p.oid)
							   THEN ARRAY['EXECUTE'] ELSE ARRAY[]::name[] END)
FROM pg_proc p, (VALUES ('osv_app'::name), ('osv_analyst'), ('osv_monitor'), ('osv_admin'), ('public')) r(role)
WHERE p.pronamespace = 'osv'::regnamespace
ORDER BY p.oid::regprocedure::text, r.role;

-- the token function: nobody
SELECT ok(NOT has_function_privilege(r, 'osv.analytics_token(bigint)', 'EXECUTE'), r || ' cannot compute analytics tokens')
FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin', 'osv_worker']) r;

-- expected rights on relations
CREATE TEMP TABLE expected_relation (role name, relation text, privs name[]);
INSERT INTO expected_relation VALUES
	('osv_app', 'osv.users', '{SELECT,UPDATE,DELETE}'),
	('osv_app', 'osv.documents', '{SELECT,INSERT,UPDATE,DELETE}'),
	('osv_app', 'osv.summaries', '{SELECT,INSERT,UPDATE,DELETE}'),
	('osv_app', 'osv.quizzes', '{SELECT,INSERT,UPDATE,DELETE}'),
	('osv_app', 'osv.rooms', '{SELECT,INSERT,UPDATE,DELETE}'),
	('osv_app', 'osv.room_participations', '{SELECT,INSERT,UPDATE,DELETE}'),
	('osv_app', 'osv.recommendations', '{SELECT,UPDATE,DELETE}'),
	('osv_app', 'osv.answers', '{SELECT,UPDATE,DELETE}'),
	('osv_app', 'osv.activity_logs', '{SELECT,INSERT}'),
	('osv_app', 'osv.activity_logs_archive', '{SELECT}'),
	('osv_app', 'osv.awards', '{SELECT}'),
	('osv_app', 'osv.points', '{SELECT}'),
	('osv_app', 'osv.point_totals', '{SELECT}'),
	('osv_app', 'osv.badges', '{SELECT}'),
	('osv_app', 'osv.soft_delete_tables', '{SELECT}'),
	('osv_analyst', 'osv.analytics_events', '{SELECT}');
INSERT INTO expected_relation
SELECT 'osv_monitor', c.oid::regclass::text, '{SELECT}' FROM pg_class c
WHERE c.relnamespace = 'osv'::regnamespace
  AND c.relname IN ('vector_sync_status', 'job_runs', 'storage_sync_status', 'reembedding_progress', 'progress');
INSERT INTO expected_relation
SELECT 'osv_admin', c.oid::regclass::text,
	   CASE WHEN c.relkind = 'S' THEN '{USAGE,SELECT,UPDATE}'::name[] ELSE '{SELECT,INSERT,UPDATE,DELETE}' END
FROM pg_class c
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
  AND NOT c.relispartition AND c.relname <> 'analytics_secret';

SELECT ok(to_regclass(relation) IS NOT NULL, 'expected relation ' || relation || ' exists')
FROM expected_relation WHERE role <> 'osv_admin';

SELECT CASE WHEN c.relkind = 'S'
			THEN sequence_privs_are('osv', c.relname, r.role, coalesce(e.privs, ARRAY[]::name[]))
			ELSE table_privs_are('osv', c.relname, r.role, coalesce(e.privs, ARRAY[]::name[])) END
FROM pg_class c
CROSS JOIN (VALUES ('osv_app'::name), ('osv_analyst'), ('osv_monitor'), ('osv_admin'), ('public')) r(role)
LEFT JOIN expected_relation e ON e.role = r.role AND to_regclass(e.relation) = c.oid
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
ORDER BY c.relname, r.role;

-- row-level security: on for every table osv_app reads that holds user rows
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = t::regclass), t || ' has row-level security')
FROM unnest(ARRAY['osv.users', 'osv.documents', 'osv.summaries', 'osv.recommendations', 'osv.quizzes',
				  'osv.answers', 'osv.rooms', 'osv.room_participations', 'osv.activity_logs',
				  'osv.activity_logs_archive', 'osv.awards', 'osv.points', 'osv.point_totals']) t;
SELECT ok((SELECT c.relrowsecurity OR c.relname IN ('badges', 'soft_delete_tables')
		   FROM pg_class c WHERE c.oid = e.relation::regclass),
		  e.relation || ' is shared by design or has row-level security')
FROM expected_relation e WHERE e.role = 'osv_app';
SELECT ok(EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND 'osv_admin'::regrole = ANY (p.polroles)),
		  c.oid::regclass || ' lets osv_admin (and so the workers) see every row')
FROM pg_class c WHERE c.relnamespace = 'osv'::regnamespace AND c.relrowsecurity AND NOT c.relispartition;

-- owner's rights: every trigger function, with a pinned search_path
SELECT ok(p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'],
		  'trigger function ' || p.oid::regprocedure || ' runs as the owner with a pinned search_path')
FROM pg_proc p WHERE p.pronamespace = 'osv'::regnamespace AND p.prorettype = 'trigger'::regtype;
-- and every SECURITY DEFINER function pins its search_path
SELECT ok(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%',
		  'SECURITY DEFINER function ' || p.oid::regprocedure || ' pins search_path')
FROM pg_proc p WHERE p.pronamespace = 'osv'::regnamespace AND p.prosecdef;

-- osv_monitor reads the new columns of the status view, which call
-- osv.search_fallback_stats() with the reader's rights; osv_app may not
SET ROLE osv_monitor;
SELECT lives_ok('SELECT collection_mismatch, search_fallbacks, last_search_fallback_at FROM osv.vector_sync_status',
				'osv_monitor reads the collection mismatch and the search fallbacks');
SELECT lives_ok('SELECT details FROM osv.job_runs', 'osv_monitor reads what job runs found');
RESET ROLE;
SET ROLE osv_app;
SELECT throws_ok('SELECT osv.search_fallback_stats()', '42501', NULL, 'osv_app cannot read the fallback counters');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
