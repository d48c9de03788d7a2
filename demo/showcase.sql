-- demo/showcase.sql: osv's main job on sample study data, in embedded mode
-- (no Qdrant).  Run by demo/run on a throwaway cluster; psql stops at the
-- first error.
\pset footer off
\set ON_ERROR_STOP on

\echo
\echo '== 1. CREATE EXTENSION osv'
CREATE EXTENSION osv;
SELECT extversion AS osv_version, current_setting('osv.qdrant_url') = '' AS embedded_mode,
       current_setting('osv.vector_dimensions') AS dimensions
FROM pg_extension WHERE extname = 'osv';

\echo
\echo '== 2. Sample study data, built the way the app builds it (demo/sample_data.sql)'
\i sample_data.sql

\echo
\echo '== 3. The AI pipeline summarizes every document (osv.embed_text stands in for the embedding model)'
CREATE TEMP TABLE summary_texts (topic text, variant integer, content text);
INSERT INTO summary_texts VALUES
	('algebra', 0, 'solving linear equations with matrices and determinants'),
	('algebra', 1, 'polynomials, factoring and quadratic equations'),
	('algebra', 2, 'systems of linear equations in two variables, substitution and elimination'),
	('biology', 0, 'photosynthesis in plant cells: chlorophyll, light and glucose'),
	('biology', 1, 'genetics: DNA, genes and how proteins are made in cells'),
	('biology', 2, 'evolution by natural selection across populations of organisms'),
	('chemistry', 0, 'atoms, electrons and the periodic table of the elements'),
	('chemistry', 1, 'acids and bases, pH and neutralisation reactions'),
	('chemistry', 2, 'chemical bonds between atoms: ionic, covalent and metallic'),
	('history', 0, 'the roman empire from augustus to its fall in the west'),
	('history', 1, 'medieval kingdoms, feudal lords and the crusades'),
	('history', 2, 'the french revolution and the wars that followed in europe');
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, t.topic, d.title || ': ' || t.content, osv.embed_text(d.title || ': ' || t.content)
FROM osv.documents d
JOIN summary_texts t ON t.topic = lower(split_part(d.title, ' ', 1)) AND t.variant = d.id % 3;
SELECT topic, count(*) AS summaries FROM osv.summaries GROUP BY topic ORDER BY topic;

\echo
\echo '== 4. Similarity search: "equations with matrices" over every live summary'
SELECT r.summary_id, s.topic, d.title, round(r.score::numeric, 3) AS score
FROM osv.search_summaries(osv.embed_text('equations with matrices'), 5) r
JOIN osv.summaries s ON s.id = r.summary_id JOIN osv.documents d ON d.id = s.document_id
ORDER BY r.score DESC, r.summary_id;

\echo
\echo '== 5. The AI assistant''s memory: a search within one user''s summaries'
SELECT r.summary_id, s.topic, round(r.score::numeric, 3) AS score
FROM osv.search_summaries(osv.embed_text('how do plant cells make glucose'), 3,
                          (SELECT user_id FROM osv.summaries WHERE topic = 'biology' ORDER BY id LIMIT 1)) r
JOIN osv.summaries s ON s.id = r.summary_id
ORDER BY r.score DESC, r.summary_id;

\echo
\echo '== 6. Neighbours of a summary (itself excluded)'
SELECT r.summary_id, s.topic, round(r.score::numeric, 3) AS score
FROM osv.similar_summaries((SELECT min(id) FROM osv.summaries WHERE topic = 'history'), 3) r
JOIN osv.summaries s ON s.id = r.summary_id
ORDER BY r.score DESC, r.summary_id;

\echo
\echo '== 7. Contextual recommendations: other users'' summaries closest to what Ada studies'
SELECT osv.refresh_recommendations((SELECT id FROM osv.users WHERE auth0_id = 'auth0|ada'), 3) AS stored;
SELECT s.topic, d.title, u.name AS author, round(r.score::numeric, 3) AS score, r.expires_at > now() AS valid
FROM osv.recommendations r
JOIN osv.summaries s ON s.id = r.summary_id JOIN osv.documents d ON d.id = s.document_id
JOIN osv.users u ON u.id = s.user_id
WHERE r.user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|ada') AND r.revoked_at IS NULL
ORDER BY r.score DESC, s.id;

\echo
\echo '== 8. Soft delete: trashing a document hides its summary from search; restore brings it back'
SELECT osv.soft_delete('osv.documents', (SELECT document_id FROM osv.search_summaries(osv.embed_text('equations with matrices'), 1) r
                                          JOIN osv.summaries s ON s.id = r.summary_id)) AS trashed;
SELECT count(*) AS results_after_trash, bool_and(s.deleted_at IS NULL) AS all_live
FROM osv.search_summaries(osv.embed_text('equations with matrices'), 100) r JOIN osv.summaries s ON s.id = r.summary_id;
SELECT osv.restore('osv.documents', (SELECT id FROM osv.documents WHERE deleted_at IS NOT NULL)) AS restored;
SELECT count(*) AS results_after_restore
FROM osv.search_summaries(osv.embed_text('equations with matrices'), 100);

\echo
\echo '== 9. Gamification: the leaderboard (live users only)'
SELECT * FROM osv.leaderboard(5);
SELECT b.slug AS badge, count(*) AS holders FROM osv.awards a JOIN osv.badges b ON b.id = a.badge_id
GROUP BY b.slug ORDER BY holders DESC, badge;

\echo
\echo '== 10. GDPR: what osv holds about Barbara (art. 15/20), then her erasure'
SELECT key AS part, CASE jsonb_typeof(value) WHEN 'array' THEN jsonb_array_length(value)::text ELSE jsonb_typeof(value) END AS rows
FROM jsonb_each(osv.data_export((SELECT id FROM osv.users WHERE auth0_id = 'auth0|barbara'))) ORDER BY key;
SELECT jsonb_pretty(osv.data_delete((SELECT id FROM osv.users WHERE auth0_id = 'auth0|barbara')) - 'receipt' - 'erased_at') AS receipt;
SELECT count(*) AS analytics_events, count(DISTINCT user_token) AS pseudonymous_users FROM osv.analytics_events;

\echo
\echo '== 11. Retention: one run of every job (what the scheduler worker or pg_cron runs every osv.retention_interval), and its record'
-- an event imported from 100 days ago: older than osv.activity_log_retention (90 days)
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'demo.imported', now() - interval '100 days' FROM osv.users WHERE auth0_id = 'auth0|ada';
SELECT * FROM osv.run_retention();
SELECT job, affected, outcome, error, finished_at - started_at < interval '1 minute' AS quick
FROM (SELECT * FROM osv.job_runs ORDER BY id DESC LIMIT 6) r ORDER BY id;
SELECT event_type, archived_at IS NOT NULL AS archived FROM osv.activity_logs_archive;
