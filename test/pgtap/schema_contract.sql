-- pgTAP: the schema contract of DESIGN.md section 3 (tables, columns,
-- types, keys, cascades, indexes, comments).
BEGIN;
SELECT plan(197);

SELECT has_schema('osv');

-- tables and their required columns
SELECT has_table('osv', t, 'table osv.' || t) FROM unnest(ARRAY[
	'users', 'documents', 'summaries', 'recommendations', 'quizzes', 'answers', 'rooms',
	'room_participations', 'activity_logs', 'badges', 'awards', 'points']) t;

SELECT has_column('osv', t, c, 'osv.' || t || '.' || c) FROM (VALUES
	('users', 'id'), ('users', 'auth0_id'), ('users', 'email'), ('users', 'name'), ('users', 'role'),
	('users', 'logging_opt_out'), ('users', 'created_at'), ('users', 'updated_at'), ('users', 'deleted_at'),
	('documents', 'id'), ('documents', 'user_id'), ('documents', 'type'), ('documents', 'title'),
	('documents', 'storage_bucket'), ('documents', 'storage_key'), ('documents', 'created_at'),
	('documents', 'updated_at'), ('documents', 'deleted_at'),
	('summaries', 'id'), ('summaries', 'document_id'), ('summaries', 'user_id'), ('summaries', 'topic'),
	('summaries', 'content'), ('summaries', 'embedding'), ('summaries', 'created_at'), ('summaries', 'updated_at'),
	('summaries', 'deleted_at'),
	('recommendations', 'id'), ('recommendations', 'user_id'), ('recommendations', 'summary_id'),
	('recommendations', 'score'), ('recommendations', 'expires_at'), ('recommendations', 'revoked_at'),
	('recommendations', 'created_at'), ('recommendations', 'updated_at'), ('recommendations', 'deleted_at'),
	('quizzes', 'id'), ('quizzes', 'user_id'), ('quizzes', 'document_id'), ('quizzes', 'title'),
	('quizzes', 'questions'), ('quizzes', 'created_at'), ('quizzes', 'updated_at'), ('quizzes', 'deleted_at'),
	('answers', 'id'), ('answers', 'quiz_id'), ('answers', 'user_id'), ('answers', 'responses'),
	('answers', 'score'), ('answers', 'created_at'), ('answers', 'updated_at'), ('answers', 'deleted_at'),
	('rooms', 'id'), ('rooms', 'user_id'), ('rooms', 'name'), ('rooms', 'last_activity_at'),
	('rooms', 'created_at'), ('rooms', 'updated_at'), ('rooms', 'deleted_at'),
	('room_participations', 'id'), ('room_participations', 'room_id'), ('room_participations', 'user_id'),
	('room_participations', 'joined_at'), ('room_participations', 'left_at'),
	('room_participations', 'last_seen_at'), ('room_participations', 'updated_at'),
	('room_participations', 'deleted_at'),
	('activity_logs', 'id'), ('activity_logs', 'user_id'), ('activity_logs', 'event_type'),
	('activity_logs', 'occurred_at'), ('activity_logs', 'properties'),
	('badges', 'id'), ('badges', 'slug'), ('badges', 'name'), ('badges', 'criteria'),
	('awards', 'id'), ('awards', 'user_id'), ('awards', 'badge_id'), ('awards', 'awarded_at'),
	('points', 'id'), ('points', 'user_id'), ('points', 'amount'), ('points', 'reason'), ('points', 'created_at')
) AS v(t, c);

-- types of the columns others code against
SELECT col_type_is('osv', t, c, ty, 'osv.' || t || '.' || c || ' is ' || ty) FROM (VALUES
	('users', 'id', 'bigint'), ('users', 'logging_opt_out', 'boolean'), ('users', 'deleted_at', 'timestamp with time zone'),
	('documents', 'user_id', 'bigint'), ('summaries', 'document_id', 'bigint'), ('summaries', 'user_id', 'bigint'),
	('summaries', 'embedding', 'real[]'), ('recommendations', 'score', 'real'),
	('recommendations', 'summary_id', 'bigint'), ('quizzes', 'questions', 'jsonb'), ('answers', 'responses', 'jsonb'),
	('activity_logs', 'properties', 'jsonb'), ('activity_logs', 'occurred_at', 'timestamp with time zone'),
	('badges', 'criteria', 'jsonb'), ('points', 'amount', 'integer'), ('room_participations', 'room_id', 'bigint')
) AS v(t, c, ty);

-- identity keys
SELECT ok(a.attidentity IN ('a', 'd'), 'osv.' || t || '.id is an identity column')
FROM unnest(ARRAY['users', 'documents', 'summaries', 'recommendations', 'quizzes', 'answers', 'rooms',
	'room_participations', 'activity_logs', 'badges', 'awards', 'points']) t
JOIN pg_attribute a ON a.attrelid = ('osv.' || t)::regclass AND a.attname = 'id';

-- foreign keys, all ON DELETE CASCADE
SELECT fk_ok('osv', child, col, 'osv', parent, 'id') FROM (VALUES
	('documents', 'user_id', 'users'), ('summaries', 'document_id', 'documents'), ('summaries', 'user_id', 'users'),
	('recommendations', 'user_id', 'users'), ('recommendations', 'summary_id', 'summaries'),
	('quizzes', 'user_id', 'users'), ('quizzes', 'document_id', 'documents'), ('answers', 'quiz_id', 'quizzes'),
	('answers', 'user_id', 'users'), ('rooms', 'user_id', 'users'), ('room_participations', 'room_id', 'rooms'),
	('room_participations', 'user_id', 'users'), ('activity_logs_default', 'user_id', 'users'),
	('awards', 'user_id', 'users'), ('awards', 'badge_id', 'badges'), ('points', 'user_id', 'users')
) AS v(child, col, parent);
SELECT is(count(*), 0::bigint, 'every foreign key cascades on delete')
FROM pg_constraint WHERE contype = 'f' AND connamespace = 'osv'::regnamespace AND confdeltype <> 'c';

-- the source's index table, and the composite (user_id, created_at) indexes
SELECT has_index('osv', t, i, 'index ' || i) FROM (VALUES
	('users', 'users_email_key'), ('users', 'users_role_idx'), ('users', 'users_auth0_id_key'),
	('documents', 'documents_user_id_created_at_idx'), ('documents', 'documents_type_idx'),
	('documents', 'documents_created_at_idx'),
	('summaries', 'summaries_document_id_key'), ('summaries', 'summaries_document_id_created_at_idx'),
	('summaries', 'summaries_created_at_idx'), ('summaries', 'summaries_user_id_created_at_idx'),
	('summaries', 'summaries_topic_idx'),
	('quizzes', 'quizzes_user_id_created_at_idx'), ('quizzes', 'quizzes_created_at_idx'),
	('activity_logs_default', 'activity_logs_default_user_id_occurred_at_idx'),
	('activity_logs_default', 'activity_logs_default_event_type_occurred_at_idx'),
	('activity_logs_default', 'activity_logs_default_occurred_at_idx'),
	('room_participations', 'room_participations_room_id_user_id_idx')
) AS v(t, i);
SELECT index_is_unique('osv', 'users', 'users_email_key');
SELECT index_is_unique('osv', 'summaries', 'summaries_document_id_key');
SELECT index_is_unique('osv', 'badges', 'badges_slug_key');
SELECT index_is_unique('osv', 'awards', 'awards_user_id_badge_id_key');
SELECT is(pg_get_expr(i.indpred, i.indrelid), '(deleted_at IS NULL)', 'unique email holds among live users only')
FROM pg_index i WHERE i.indexrelid = 'osv.users_email_key'::regclass;
SELECT is(pg_get_indexdef('osv.users_email_key'::regclass) LIKE '%lower(email)%', true, 'unique email ignores case');

-- every foreign key column leads an index (cascades and joins never scan)
SELECT is(count(*), 0::bigint, 'every foreign key column leads an index')
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = 'osv'::regnamespace AND c.conparentid = 0
  AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1] AND i.indpred IS NULL);

-- soft deletes: every user-content table has deleted_at and the triggers
SELECT has_trigger('osv', t, 'soft_delete_guard', 'osv.' || t || ' is guarded') FROM unnest(ARRAY[
	'users', 'documents', 'summaries', 'recommendations', 'quizzes', 'answers', 'rooms', 'room_participations']) t;
SELECT has_trigger('osv', t, 'cascade_soft_delete', 'osv.' || t || ' cascades its soft deletes') FROM unnest(ARRAY[
	'users', 'documents', 'summaries', 'quizzes', 'rooms']) t;
SELECT has_trigger('osv', t, 'touch_updated_at', 'osv.' || t || ' keeps updated_at') FROM unnest(ARRAY[
	'users', 'documents', 'summaries', 'recommendations', 'quizzes', 'answers', 'rooms', 'room_participations',
	'badges']) t;

-- comments on every table and column
SELECT is(count(*), 0::bigint, 'every table of osv has a comment')
FROM pg_class c WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
  AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT is(count(*), 0::bigint, 'every column of osv has a comment')
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL;

-- partitioning of activity_logs; keys, the foreign key and indexes are those of
-- each partition (src/sql/activity.sql says why), daily ones included
SELECT osv.create_activity_log_partitions(1);
SELECT is(count(*), 0::bigint, 'every partition of the activity logs has its primary key, foreign key and indexes')
FROM osv.partitions_of('osv.activity_logs') p
WHERE (SELECT count(*) FROM pg_constraint k WHERE k.conrelid = p.partition AND k.contype = 'p') <> 1
   OR (SELECT count(*) FROM pg_constraint k WHERE k.conrelid = p.partition AND k.contype = 'f'
		 AND k.confrelid = 'osv.users'::regclass AND k.confdeltype = 'c') <> 1
   OR (SELECT count(*) FROM pg_index i WHERE i.indrelid = p.partition AND NOT i.indisprimary) <> 3;
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'osv.activity_logs'::regclass), 'p', 'activity_logs is partitioned');
SELECT has_table('osv', 'activity_logs_default', 'activity_logs has a default partition');

-- the functions of the soft delete contract
SELECT has_function('osv', 'soft_delete', ARRAY['regclass', 'bigint']);
SELECT has_function('osv', 'restore', ARRAY['regclass', 'bigint']);
SELECT function_returns('osv', 'soft_delete', ARRAY['regclass', 'bigint'], 'boolean');

SELECT * FROM finish();
ROLLBACK;
