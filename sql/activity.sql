--
-- osv.log_activity(): events of users, honouring the logging opt-out.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
SELECT osv.upsert_auth0_user('{"sub": "auth0|ada", "email": "ada@example.org", "name": "Ada"}') AS ada \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|bob", "email": "bob@example.org", "name": "Bob"}') AS bob \gset
UPDATE osv.users SET logging_opt_out = true WHERE id = :bob;

-- a logged event returns its id; properties default to {}; it lands in the
-- partition of its day (or the default partition until the day has one)
SELECT osv.create_activity_log_partitions(0) AS created;
SELECT osv.log_activity(:ada, 'page.view', '{"path": "/home"}') IS NOT NULL AS logged;
SELECT osv.log_activity(:ada, 'session.start') IS NOT NULL AS logged;
SELECT osv.log_activity(:ada, 'session.end', NULL) IS NOT NULL AS logged;
SELECT user_id = :ada AS by_ada, event_type, properties, occurred_at <= now() AS past,
	   tableoid::regclass::text = 'osv.' || osv.activity_log_partition_name((now() AT TIME ZONE 'UTC')::date) AS in_todays_partition
FROM osv.activity_logs ORDER BY id;

-- opted out: NULL and nothing stored
SELECT osv.log_activity(:bob, 'page.view', '{"path": "/home"}') AS logged;
SELECT count(*) AS bob_logs FROM osv.activity_logs WHERE user_id = :bob;
-- opting back in logs again
UPDATE osv.users SET logging_opt_out = false WHERE id = :bob;
SELECT osv.log_activity(:bob, 'page.view') IS NOT NULL AS logged;

-- a trashed user: NULL and nothing stored (their data is on its way out)
SELECT osv.soft_delete('osv.users', :bob);
SELECT osv.log_activity(:bob, 'page.view') AS logged;
SELECT count(*) AS bob_logs FROM osv.activity_logs WHERE user_id = :bob;

-- the domain functions log through log_activity, so the opt-out holds for them too
SELECT osv.restore('osv.users', :bob);
UPDATE osv.users SET logging_opt_out = true WHERE id = :bob;
SELECT osv.register_upload(:bob, 'osv-docs', 'bob/a.pdf', 'application/pdf', 1, repeat('a', 64)) IS NOT NULL AS registered;
SELECT count(*) AS bob_logs FROM osv.activity_logs WHERE user_id = :bob;

-- errors: unknown user, null user, bad event type, properties not an object
SELECT osv.log_activity(999999, 'page.view');
SELECT osv.log_activity(NULL, 'page.view');
SELECT osv.log_activity(:ada, 'no spaces');
SELECT osv.log_activity(:ada, NULL);
SELECT osv.log_activity(:ada, 'page.view', '[1, 2]');
SELECT osv.log_activity(:ada, repeat('x', 101));
-- input errors are reported for opted-out users too
SELECT osv.log_activity(:bob, 'no spaces');
SELECT count(*) AS logs FROM osv.activity_logs;
