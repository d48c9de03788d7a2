# The README's pg_cron recipe where osv lives in a database other than
# pg_cron's (cron.database_name = 'postgres'): cron.schedule_in_database
# runs osv's jobs there, osv.job_runs says pg_cron ran them, and with osv's
# scheduler worker on in that database too a pg_cron run is refused (the
# job fails with the reason in cron.job_run_details) instead of running
# every job twice.  Also: CREATE EXTENSION and ALTER EXTENSION UPDATE warn
# when osv's workers run in another database or osv is not preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $node = osv_node('cron_db', preload => 'pg_cron,osv', database => 'study', scheduler => 0, vector_sync => 0,
	conf => q{
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
timezone = 'UTC'
});
$node->safe_psql('postgres', 'CREATE DATABASE study');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
my ($ret, $out, $err) = $node->psql('study', 'CREATE EXTENSION osv');
is($ret, 0, 'CREATE EXTENSION osv in osv.database');
unlike($err, qr/WARNING/, 'says nothing where the workers run');

$node->safe_psql('postgres', 'CREATE DATABASE elsewhere');
$node->safe_psql('study', q{
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|cron', 'cron@example.org');
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'idle room', now() - interval '31 days' FROM osv.users;
SELECT osv.create_activity_log_partitions(2, (now() AT TIME ZONE 'UTC')::date - 100);
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'page.view', now() - interval '99 days' FROM osv.users;
});

# The recipe of the README, run in pg_cron's database.  The plain
# cron.schedule runs the command in pg_cron's own database, where osv is not.
$node->safe_psql('postgres', q{
SELECT cron.schedule('osv-wrong-database', '@reboot', 'SELECT osv.run_retention()');
SELECT cron.schedule_in_database('osv-retention', '@reboot', 'CALL osv.run_retention_batched()', 'study');
});
$node->restart;

my $status = q{SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = '%s' ORDER BY d.runid DESC LIMIT 1};
ok($node->poll_query_until('postgres', sprintf($status, 'osv-wrong-database'), 'failed'),
	'cron.schedule alone runs in pg_cron\'s database and fails');
like($node->safe_psql('postgres', q{SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'osv-wrong-database'}), qr/schema "osv" does not exist/, 'with schema "osv" does not exist');
ok($node->poll_query_until('postgres', sprintf($status, 'osv-retention'), 'succeeded'),
	'cron.schedule_in_database runs CALL osv.run_retention_batched() in osv\'s database');
is($node->safe_psql('study', q{SELECT string_agg(DISTINCT run_by, ',') FROM osv.job_runs}), 'pg_cron',
	'osv.job_runs records pg_cron as the runner of every job');
is($node->safe_psql('study', q{SELECT count(DISTINCT job) FROM osv.job_runs WHERE outcome = 'succeeded'}), '6',
	'every job of osv.run_retention_batched() ran');
is($node->safe_psql('study', q{SELECT deleted_at IS NOT NULL FROM osv.rooms WHERE name = 'idle room'}),
	't', 'the run trashed the abandoned room');
is($node->safe_psql('study', q{SELECT count(*) FROM osv.activity_logs_archive}), '1', 'and the old log was archived');
is($node->safe_psql('study', q{SELECT osv.run_job('purge_trashed') IS NOT NULL; SELECT run_by FROM osv.job_runs ORDER BY id DESC LIMIT 1}),
	"t\nmanual", 'a run by hand is recorded as manual');

# The archive of a backlog, one partition per transaction (a procedure
# that commits), from pg_cron too; a run of its own, since two archives at
# once would skip one.
$node->safe_psql('study', q{
SELECT osv.create_activity_log_partitions(1, (now() AT TIME ZONE 'UTC')::date - 95);
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'page.view', now() - interval '94 days 12 hours' FROM osv.users;
});
$node->safe_psql('postgres', q{
SELECT cron.unschedule('osv-retention');
SELECT cron.schedule_in_database('osv-archive-backlog', '@reboot', 'CALL osv.archive_activity_logs_stepwise()', 'study');
});
$node->restart;
ok($node->poll_query_until('postgres', sprintf($status, 'osv-archive-backlog'), 'succeeded'),
	'CALL osv.archive_activity_logs_stepwise() runs from pg_cron');
is($node->safe_psql('study', q{SELECT count(*) FROM osv.activity_logs_archive}), '2', 'and archived the backlog');
is($node->safe_psql('study', q{SELECT run_by || ':' || outcome FROM osv.job_runs WHERE job = 'archive_activity_logs' ORDER BY id DESC LIMIT 1}),
	'pg_cron:succeeded', 'recorded as run by pg_cron');

# Double scheduling: osv's scheduler worker on in the same database.
$node->safe_psql('postgres', q{
SELECT cron.unschedule('osv-archive-backlog');
SELECT cron.schedule_in_database('osv-retention', '@reboot', 'SELECT osv.run_retention()', 'study');
});
$node->append_conf('postgresql.conf', "osv.scheduler_worker = on\n");
$node->restart;
ok($node->poll_query_until('postgres', sprintf($status, 'osv-retention'), 'failed'),
	'with osv\'s scheduler worker on there too, the pg_cron run is refused');
like($node->safe_psql('postgres', q{SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'osv-retention' ORDER BY d.runid DESC LIMIT 1}),
	qr/osv's scheduler worker already runs the retention jobs in database "study"/, 'with the reason');
ok($node->poll_query_until('study', q{SELECT count(*) > 0 FROM osv.job_runs WHERE run_by = 'worker'}),
	'the scheduler worker runs the jobs, recorded as worker');
# A worker is on: CREATE EXTENSION in a database that is not osv.database
# warns, with a hint.
($ret, $out, $err) = $node->psql('elsewhere', 'CREATE EXTENSION osv');
like($err, qr/WARNING:  osv's background workers run in database "study", not in "elsewhere"/,
	'CREATE EXTENSION in another database warns');
like($err, qr/HINT:  Set osv.database = 'elsewhere' and restart the server, or schedule .*cron.schedule_in_database/,
	'with a hint');
($ret, $out, $err) = $node->psql('elsewhere',
	q{DROP EXTENSION osv; CREATE EXTENSION osv VERSION '1.0'; ALTER EXTENSION osv UPDATE});
like($err, qr/WARNING:  osv's background workers run in database "study", not in "elsewhere"/,
	'ALTER EXTENSION osv UPDATE warns too');

# The warning of osv.check_installation() needs cron.job, which lives in
# pg_cron's database: with osv there too, it names the jobs.
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.database = 'postgres'});
$node->restart;
$node->safe_psql('postgres', q{SELECT cron.schedule('osv-here', '0 3 * * *', 'SELECT osv.run_retention()')});
($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION osv');
like($err, qr/WARNING:  pg_cron jobs call osv in database "postgres", where osv's scheduler worker runs the retention jobs\n.*'osv-here'/s,
	'CREATE EXTENSION warns of pg_cron jobs that call osv where the scheduler worker runs');
like($err, qr/HINT:  Schedule the jobs in one place/, 'with a hint');
$node->stop;

# Not preloaded: test/t/001_module.pl checks the warning of CREATE EXTENSION.

done_testing();
