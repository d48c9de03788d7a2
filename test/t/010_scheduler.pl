# The "osv scheduler" background worker: it starts with the server, idles
# where the extension is absent, runs CALL osv.run_retention_batched() every
# osv.retention_interval, takes a changed interval on SIGHUP, survives an
# error of a run, and is started again after pg_terminate_backend.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $node = osv_node('scheduler', scheduler => 1, vector_sync => 0, conf => q{
osv.retention_interval = 1
log_min_messages = debug1
});
create_worker_role($node);

my $pid_query = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv scheduler'};

ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv scheduler'"),
	'the scheduler appears in pg_stat_activity as "osv scheduler"');
my $pid = $node->safe_psql('postgres', $pid_query);
ok($node->log_contains(qr/LOG:  osv scheduler started in database "postgres"/), 'start is logged');

# Without the extension the worker idles: it looks, says so at DEBUG1, and stays.
$node->wait_for_log(qr/osv scheduler: extension "osv" is not installed in database "postgres", nothing to do/);
my $offset = -s $node->logfile;
$node->wait_for_log(qr/osv scheduler: extension "osv" is not installed/, $offset);
is($node->safe_psql('postgres', $pid_query), $pid, 'the scheduler idles where osv is not installed');

# With the extension it runs every job each interval and records the runs.
$node->safe_psql('postgres', 'CREATE EXTENSION osv');
$node->safe_psql('postgres', q{
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|tap', 'tap@example.org');
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'idle room', now() - interval '31 days' FROM osv.users;
});
ok($node->poll_query_until('postgres',
		q{SELECT count(DISTINCT job) = 6 AND bool_and(outcome = 'succeeded') FROM osv.job_runs}),
	'every job ran and was recorded in osv.job_runs');
ok($node->poll_query_until('postgres', q{SELECT deleted_at IS NOT NULL FROM osv.rooms WHERE name = 'idle room'}),
	'the abandoned room was trashed by the scheduler');

# The worker commits per batch: with batches of 2, five idle rooms are
# trashed by three transactions.
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.retention_batch_size = 2});
$node->reload;
$node->safe_psql('postgres', q{
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'batched room', now() - interval '31 days' FROM osv.users, generate_series(1, 5);
});
ok($node->poll_query_until('postgres', q{SELECT bool_and(deleted_at IS NOT NULL) FROM osv.rooms WHERE name = 'batched room'}),
	'the scheduler trashed five idle rooms');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT xmin::text) FROM osv.rooms WHERE name = 'batched room'}),
	'3', 'in three transactions of at most two rooms each');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET osv.retention_batch_size});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 2 FROM osv.job_runs WHERE job = 'clean_job_runs'}),
	'the scheduler runs again after osv.retention_interval');

# SIGHUP: a long interval stops the runs, a short one brings them back.
my $runs = q{SELECT count(*) FROM osv.job_runs WHERE job = 'clean_job_runs'};
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.retention_interval = '1h'});
$node->reload;
$node->wait_for_log(qr/osv scheduler: configuration reloaded, retention interval 3600 seconds/, $offset);
my $count = $node->safe_psql('postgres', $runs);
sleep(2);
is($node->safe_psql('postgres', $runs), $count, 'after SIGHUP with osv.retention_interval = 1h no run follows');
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.retention_interval = 1});
$node->reload;
ok($node->poll_query_until('postgres', "SELECT ($runs) > $count"), 'after SIGHUP with a 1 s interval the runs resume');

# A backlog of whole days is archived a partition per transaction: one
# recorded archive run per day, never one run holding the lock for all.
# (One transaction, so that no run comes between the partitions and their rows.)
$node->safe_psql('postgres', q{
BEGIN;
SELECT osv.create_activity_log_partitions(3, (now() AT TIME ZONE 'UTC')::date - 100);
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT u.id, 'tap.backlog', ((now() AT TIME ZONE 'UTC')::date - 100 + d)::timestamp AT TIME ZONE 'UTC' + h * interval '1 hour'
  FROM osv.users u, generate_series(0, 2) d, generate_series(1, 2) h;
COMMIT;
});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 6 FROM osv.activity_logs_archive WHERE event_type = 'tap.backlog'}),
	'the scheduler archives a backlog of three days');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM osv.job_runs WHERE job = 'archive_activity_logs' AND affected = 2}),
	'3', 'one archive run per day of the backlog (a transaction each)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM osv.activity_logs WHERE event_type = 'tap.backlog'}),
	'0', 'nothing of the backlog is left behind');

# An error that escapes a run is logged and the worker goes on.
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER PROCEDURE osv.run_retention_batched(integer, integer, bigint) RENAME TO run_retention_away');
$node->wait_for_log(qr/ERROR:  procedure osv\.run_retention_batched\(\) does not exist/, $offset);
$node->safe_psql('postgres', 'ALTER PROCEDURE osv.run_retention_away(integer, integer, bigint) RENAME TO run_retention_batched');
$count = $node->safe_psql('postgres', $runs);
ok($node->poll_query_until('postgres', "SELECT ($runs) > $count"), 'the runs resume after a failing run');
is($node->safe_psql('postgres', $pid_query), $pid, 'the worker survived the failing run');

# pg_terminate_backend ends the worker; the postmaster starts it again.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv scheduler' AND pid <> $pid"),
	'the scheduler is started again after pg_terminate_backend');
ok($node->log_contains(qr/terminating background worker "osv scheduler" due to administrator command/),
	'the termination is logged');

# Without osv.scheduler_worker the worker is not started.
$node->append_conf('postgresql.conf', 'osv.scheduler_worker = off');
$node->restart;
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv scheduler'"),
	'0', 'osv.scheduler_worker = off starts no scheduler');

$node->stop;
done_testing();
