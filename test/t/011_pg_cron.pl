# pg_cron drives the retention jobs where osv's own scheduler is off:
# Debian's postgresql-15-cron (1.4, minute granularity, so the test uses
# an @reboot job and restarts the server) runs CALL osv.run_retention_batched()
# (the recipe of the README; it commits per batch) and SELECT osv.run_retention(),
# and both cron.job_run_details and osv.job_runs record the run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $node = osv_node('pg_cron', preload => 'pg_cron,osv', database => undef, scheduler => 0, vector_sync => 0,
	conf => q{
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION osv');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv scheduler'"),
	'0', 'no osv scheduler runs beside pg_cron');

$node->safe_psql('postgres', q{
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|cron', 'cron@example.org');
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'idle room', now() - interval '31 days' FROM osv.users;
SELECT cron.schedule('osv-retention', '@reboot', 'CALL osv.run_retention_batched()');
SELECT cron.schedule('osv-bad-archive', '@reboot', $$SELECT osv.archive_activity_logs('-1 day')$$);
});
$node->restart;

ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'osv-retention' AND d.status = 'succeeded'}),
	'pg_cron ran CALL osv.run_retention_batched() and recorded its success');
is($node->safe_psql('postgres', q{
	SELECT string_agg(job || ':' || outcome, ',' ORDER BY id) FROM osv.job_runs}),
	'revoke_expired_recommendations:succeeded,delete_abandoned_rooms:succeeded,purge_trashed:succeeded,'
	  . 'clean_job_runs:succeeded,create_activity_log_partitions:succeeded,archive_activity_logs:succeeded',
	'osv.job_runs holds one record per job of the run');
is($node->safe_psql('postgres', q{SELECT deleted_at IS NOT NULL FROM osv.rooms WHERE name = 'idle room'}),
	't', 'the run trashed the abandoned room');

ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'osv-bad-archive' AND d.status = 'failed'}),
	'a job with bad input fails in pg_cron');
like($node->safe_psql('postgres', q{
	SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'osv-bad-archive'}),
	qr/invalid value "-1 days" for older_than/, 'with the error of osv');

$node->stop;
done_testing();
