# A hostile load on the archive: pgbench clients insert logs of old days
# (into old daily partitions and, for days without one, into the default
# partition) while other clients archive them, by
# osv.archive_activity_logs(older_than, 1) and by CALL
# osv.archive_activity_logs_stepwise().  Before the fix, archive calls
# failed with 'no partition of relation "activity_logs_archive" found for
# row' (a row of a day without an archive partition committed between the
# archive making the partitions and moving the rows) and inserts died in
# deadlocks with the archive (it held a partition lock while waiting for
# activity_logs, which an INSERT locks first).  Nothing may fail, and every
# log must be in exactly one of the two tables.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $node = osv_node('retention_stress', database => undef, scheduler => 0, vector_sync => 0, conf => q{
osv.retention_batch_size = 5
max_connections = 40
max_locks_per_transaction = 256
deadlock_timeout = 100ms
});
$node->safe_psql('postgres', q{
CREATE EXTENSION osv;
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|s' || g, 's' || g || '@example.org' FROM generate_series(1, 10) g;
SELECT osv.create_activity_log_partitions(30, (now() AT TIME ZONE 'UTC')::date - 130);
});

my $insert = $node->basedir . '/insert.sql';
my $archive = $node->basedir . '/archive.sql';
my $stepwise = $node->basedir . '/stepwise.sql';
# Old days: 100 to 129 days ago have partitions, 131 to 160 days do not.
PostgreSQL::Test::Utils::append_to_file($insert, q{
\set u random(1, 10)
\set d random(100, 160)
BEGIN;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'stress.today', now() FROM osv.users WHERE auth0_id = 'auth0|s' || :u;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'stress.old', now() - :d * interval '1 day' - random() * interval '20 hours' FROM osv.users WHERE auth0_id = 'auth0|s' || :u;
COMMIT;
});
PostgreSQL::Test::Utils::append_to_file($archive, q{
SELECT osv.archive_activity_logs('90 days', 1);
});
PostgreSQL::Test::Utils::append_to_file($stepwise, q{
CALL osv.archive_activity_logs_stepwise('90 days');
});

my $offset = -s $node->logfile;
$node->command_checks_all(
	[ 'pgbench', '--no-vacuum', '--client=8', '--jobs=2', '--time=8',
	  "--file=$insert\@6", "--file=$archive\@1", "--file=$stepwise\@1", 'postgres' ],
	0, [qr/number of failed transactions: 0 /], [],
	'pgbench: inserting clients, archive and stepwise archive at once, no client aborted');
my $log = slurp_file($node->logfile, $offset);
unlike($log, qr/no partition of relation "activity_logs_archive" found for row/,
	'no archive call finds no archive partition for a row');
unlike($log, qr/deadlock detected/, 'no deadlock between inserts and the archive');
unlike($log, qr/ERROR:/, 'no error at all');

$node->safe_psql('postgres', q{SELECT osv.archive_activity_logs('90 days')});
is($node->safe_psql('postgres', q{
	SELECT count(*) = count(DISTINCT id) FROM (SELECT id FROM osv.activity_logs UNION ALL SELECT id FROM osv.activity_logs_archive) x}),
	't', 'no log is in both tables');
is($node->safe_psql('postgres', q{SELECT count(*) FROM osv.activity_logs WHERE event_type = 'stress.old'}),
	'0', 'every old log is archived');
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM osv.activity_logs WHERE event_type = 'stress.today')
	     = (SELECT count(*) FROM osv.activity_logs_archive WHERE event_type = 'stress.old')}),
	't', 'as many old logs archived as inserted (one with each log of today)');

$node->stop;
done_testing();
