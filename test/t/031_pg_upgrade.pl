# pg_upgrade of a cluster with osv installed (PostgreSQL 15 to 15: the same
# binaries, a new cluster).  osv is preloaded in both clusters, so
# pg_upgrade starts both in binary-upgrade mode with osv loaded (the
# IsBinaryUpgrade path of _PG_init: no workers).  After the upgrade every
# osv table holds the same rows, the schema dumps alike, sequences go on
# where they were, the analytics tokens are unchanged, both workers run,
# and the outbox the old cluster left drains to Qdrant.
use strict;
use warnings;

use Cwd qw(getcwd);
use File::Basename qw(dirname);
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use OsvTest;

my $t_start = time();
my $q = start_qdrant();

# The settings of both clusters.
my %settings = (qdrant => $q, sync => { backoff => '100ms', backoff_max => '500ms' },
	conf => "osv.retention_interval = 3600\n");

sub workers_running
{
	my ($node) = @_;
	return $node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('osv vector sync', 'osv scheduler')});
}

sub dump_schema
{
	my ($node) = @_;
	my ($out, $err) = run_command([ 'pg_dump', '--schema-only', '-d', $node->connstr('postgres') ]);
	die "pg_dump failed: $err" if $err ne '';
	# pg_dump's \restrict key is new at every run.
	$out =~ s/^\\(un)?restrict .*$//mg;
	return $out;
}

my $old = osv_node('old', %settings);
create_worker_role($old);
ok(workers_running($old), 'old cluster: both workers run');

$old->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	SELECT osv.upsert_auth0_user(jsonb_build_object('user_id', 'auth0|' || g, 'email', 'u' || g || '@example.org',
		'name', 'User ' || g)) FROM generate_series(1, 6) g;
	SELECT osv.register_upload(1 + g % 6, 'upgrade-bucket', 'docs/' || g, 'application/pdf', 1000 + g,
		repeat('a', 64), 'Document ' || g) FROM generate_series(1, 60) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic' || (d.id % 3), 'summary of document ' || d.id,
			   CASE WHEN d.id % 10 = 0 THEN NULL ELSE osv.embed_text('words ' || d.id || ' about ' || (d.id % 7)) END
		  FROM osv.documents d WHERE d.id <= 50;
	SELECT osv.create_quiz(1, 'Quiz', '[{"id": "q1", "prompt": "2 + 2?", "type": "single",
		"choices": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}], "correct": ["b"], "points": 2}]');
	SELECT osv.submit_answer(1, u, '{"q1": ["b"]}') FROM generate_series(2, 4) u;
	SELECT osv.create_room(1, 'Room'); SELECT osv.join_room(1, 2);
	SELECT osv.create_activity_log_partitions(3);
	SELECT osv.log_activity(1 + g % 6, 'page.view', jsonb_build_object('n', g)) FROM generate_series(1, 50) g;
	INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
		SELECT 1 + g % 6, 'old.event', now() - interval '5 days' - g * interval '1 hour' FROM generate_series(1, 30) g;
	SELECT osv.archive_activity_logs('2 days');
	SELECT osv.award_points(1 + g % 6, g, 'reason ' || g) FROM generate_series(1, 12) g;
	SELECT osv.refresh_recommendations(2);
	SELECT osv.soft_delete('osv.documents', 7);
	SELECT osv.soft_delete('osv.users', 5);
	SELECT osv.data_delete(6);
});
ok(wait_synced($old), 'old cluster: outbox drained');

# Changes the old cluster does not sync before the upgrade: the sync
# worker is off from now on.
$old->append_conf('postgresql.conf', "osv.vector_sync_worker = off\nosv.scheduler_worker = off\n");
$old->restart;
$old->safe_psql('postgres', q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'late', 'late summary ' || d.id, osv.embed_text('late ' || d.id)
		  FROM osv.documents d WHERE d.id > 50 AND d.deleted_at IS NULL;
	UPDATE osv.summaries SET topic = 'changed' WHERE id % 4 = 0;
	SELECT osv.restore('osv.users', 5);
});
cmp_ok($old->safe_psql('postgres', 'SELECT pending FROM osv.vector_sync_status'), '>', 0,
	'old cluster: changes wait in the outbox');

# Every table of the schema osv (partitions and archive included): row
# count and a digest of its rows; sequences; identities.
my $contents_sql = q{
	SELECT c.relname, x.n, x.digest
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
	  LATERAL (SELECT (xpath('/row/n/text()', query_to_xml(format(
		'SELECT count(*) AS n FROM ONLY osv.%I', c.relname), false, true, '')))[1]::text AS n,
		(xpath('/row/d/text()', query_to_xml(format(
		'SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS d FROM ONLY osv.%I t',
		c.relname), false, true, '')))[1]::text AS digest) x
	 WHERE n.nspname = 'osv' AND c.relkind = 'r'
	 ORDER BY c.relname};
my $sequences_sql = q{SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'osv' ORDER BY 1};
my $misc_sql = q{SELECT extversion, (SELECT count(*) FROM pg_depend d WHERE d.refobjid = e.oid AND d.deptype = 'e'),
	osv.analytics_token(1) FROM pg_extension e WHERE extname = 'osv'};

my %before = (
	contents => $old->safe_psql('postgres', $contents_sql),
	sequences => $old->safe_psql('postgres', $sequences_sql),
	misc => $old->safe_psql('postgres', $misc_sql),
	schema => dump_schema($old));
my $tables = () = $before{contents} =~ /\n/g;
cmp_ok($tables, '>=', 20, "old cluster: $tables osv tables");
my $archived = 0;
$archived += $1 while $before{contents} =~ /^activity_logs_archive_p\d+\|(\d+)\|/mg;
is($archived, 25, 'old cluster: the archive holds rows (30 less the erased user\'s 5)');
# Preloaded with its workers on, as a production cluster is: pg_upgrade
# starts it so (in binary-upgrade mode).
$old->append_conf('postgresql.conf', "osv.vector_sync_worker = on\nosv.scheduler_worker = on\n");
$old->stop;

# --- pg_upgrade. ---------------------------------------------------------------
my $new = osv_node('new', %settings, start => 0);

my $bindir = dirname(`which pg_upgrade`);
my $t_upgrade = time();
{
	# pg_upgrade writes its logs under the new data directory and needs a
	# writable working directory.
	my $here = getcwd();
	my ($old_data, $new_data) = map { File::Spec->rel2abs($_) } ($old->data_dir, $new->data_dir);
	chdir PostgreSQL::Test::Utils::tempdir() or die "chdir: $!";
	command_ok(
		[
			'pg_upgrade', '--no-sync', '--link', '--retain',
			'-d', $old_data, '-D', $new_data,
			'-b', $bindir, '-B', $bindir,
			'-s', $new->host, '-p', $old->port, '-P', $new->port
		],
		'pg_upgrade --link succeeds');
	chdir $here or die "chdir: $!";
}
note(sprintf('pg_upgrade took %.1f s', time() - $t_upgrade));

# The servers that pg_upgrade ran (binary-upgrade mode, osv preloaded)
# started no osv worker: _PG_init returns at once when IsBinaryUpgrade.
my @server_logs = glob($new->data_dir . '/pg_upgrade_output.d/*/log/pg_upgrade_server.log');
ok(@server_logs == 1, 'pg_upgrade kept its server log (--retain)');
my $server_log = @server_logs ? slurp_file($server_logs[0]) : '';
like($server_log, qr/database system is ready to accept connections/, 'the log is the servers\' log');
unlike($server_log, qr/osv (vector sync worker|scheduler) started/, 'no osv worker ran during pg_upgrade');
unlike($server_log, qr/ERROR|FATAL/, 'no error in the servers pg_upgrade ran');

# The workers stay off for the comparison (they would change the outbox
# and the job log), then come on.
$new->append_conf('postgresql.conf', "osv.vector_sync_worker = off\nosv.scheduler_worker = off\n");
$new->start;
is($new->safe_psql('postgres', $contents_sql), $before{contents}, 'every osv table holds the same rows');
is($new->safe_psql('postgres', $sequences_sql), $before{sequences}, 'sequences are where they were');
is($new->safe_psql('postgres', $misc_sql), $before{misc},
	'same extension version and members, same analytics tokens');
is(dump_schema($new), $before{schema}, 'the schema dumps alike');

# --- The workers run and the outbox drains. -----------------------------------
$new->append_conf('postgresql.conf', "osv.vector_sync_worker = on\nosv.scheduler_worker = on\n");
$new->restart;
ok(workers_running($new), 'new cluster: both workers run');
ok(wait_synced($new), 'new cluster: the outbox left by the old cluster drains');
qdrant_matches($q, $new, 'new cluster: Qdrant equals the database');
my ($runs_before) = $before{contents} =~ /^job_runs\|(\d+)\|/m;
ok($new->poll_query_until('postgres', "SELECT count(*) > $runs_before FROM osv.job_runs"),
	'new cluster: the scheduler ran the retention jobs');

# New rows get new keys (identities and sequences went on), and sync.
$new->safe_psql('postgres', q{
	SELECT osv.upsert_auth0_user('{"user_id": "auth0|new", "email": "new@example.org"}');
	SELECT osv.register_upload(1, 'upgrade-bucket', 'docs/new', 'application/pdf', 1, repeat('c', 64), 'New');
	INSERT INTO osv.summaries (document_id, content, embedding)
		SELECT id, 'new', osv.embed_text('brand new') FROM osv.documents WHERE title = 'New';
	SELECT osv.log_activity(1, 'after.upgrade');
	SELECT osv.award_points(1, 1, 'after upgrade');
});
ok(wait_synced($new), 'new cluster: new writes drain');
qdrant_matches($q, $new, 'new cluster: Qdrant equals the database after new writes');

note(sprintf('031_pg_upgrade took %.1f s', time() - $t_start));
done_testing();
