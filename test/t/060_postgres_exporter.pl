# monitoring/osv_queries.yaml works with Debian's prometheus-postgres-exporter:
# the exporter runs on 127.0.0.1 (a free port) against a throwaway cluster
# with osv, the demo's sample data, a pending outbox (Qdrant unreachable),
# a parked entry and a failed retention run; /metrics, scraped with curl,
# carries the osv_ metrics with the values the database holds, no query
# error, and every metric that monitoring/osv_alerts.yaml uses.
use strict;
use warnings;
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $root = $ENV{OSV_ROOT} || dirname(dirname(dirname(__FILE__)));
my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter is not installed (Debian package prometheus-postgres-exporter)" unless -x $exporter;

my $node = osv_node('exporter', database => 'osvdb', scheduler => 0, vector_sync => 0, conf => q{
osv.qdrant_url = 'http://127.0.0.1:9'
osv.qdrant_connect_timeout = 100
timezone = 'UTC'
});
$node->safe_psql('postgres', 'CREATE DATABASE osvdb');
$node->safe_psql('osvdb', 'CREATE EXTENSION osv');
my ($ret, $out, $err) = $node->psql('osvdb', undef,
	extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', "$root/demo/sample_data.sql" ]);
is($ret, 0, 'sample data loaded') or diag $err;
$node->safe_psql('osvdb', q{
INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT d.id, 'notes', d.title, osv.embed_text(d.title) FROM osv.documents d
	WHERE NOT EXISTS (SELECT FROM osv.summaries s WHERE s.document_id = d.id);
UPDATE osv.vector_outbox SET state = 'failed', last_error = 'test: parked'
	WHERE summary_id = (SELECT min(summary_id) FROM osv.vector_outbox);
UPDATE osv.vector_outbox SET enqueued_at = now() - interval '1 hour' WHERE state = 'pending';
SET client_min_messages = error;
SELECT osv.vector_sync();
SELECT osv.run_job('revoke_expired_recommendations');
INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome, error)
	VALUES ('purge_trashed', now(), now(), 0, 'failed', 'test: a failed run');
SELECT osv.create_activity_log_partitions(2, current_date - 400);
});
my %want = (
	archive_backlog => $node->safe_psql('osvdb', q{SELECT osv.archive_backlog()}),
	pending => $node->safe_psql('osvdb', q{SELECT count(*) FROM osv.vector_outbox WHERE state = 'pending'}),
	failed => $node->safe_psql('osvdb', q{SELECT count(*) FROM osv.vector_outbox WHERE state = 'failed'}),
);
ok($want{pending} > 0, "the outbox holds pending entries ($want{pending})");

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $host = $node->host;
my $dsn = 'postgresql://postgres@:' . $node->port . "/osvdb?host=$host&sslmode=disable";
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $h;
{
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$h = IPC::Run::start(
		[ $exporter, "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$root/monitoring/osv_queries.yaml",
		  '--disable-settings-metrics' ],
		'<', '/dev/null', '>', "$tmp/exporter.log", '2>&1');
}
my $metrics = '';
for (1 .. 50)
{
	$metrics = `curl -s --max-time 2 http://127.0.0.1:$port/metrics`;
	last if $metrics =~ /^pg_up /m;
	select(undef, undef, undef, 0.1);
}
$h->kill_kill;
my $eerr = slurp_file("$tmp/exporter.log");

sub metric
{
	my ($name, $labels) = @_;
	$labels //= '';
	for my $line (split /\n/, $metrics)
	{
		next unless $line =~ /^\Q$name\E(\{[^}]*\})? (\S+)$/;
		my ($l, $v) = ($1 // '', $2);
		return $v if index($l, $labels) >= 0;
	}
	return undef;
}

like($metrics, qr/^pg_up 1$/m, 'the exporter reaches the database') or diag "exporter stderr:\n$eerr";
is(metric('osv_vector_outbox_pending'), $want{pending}, 'osv_vector_outbox_pending equals the pending entries');
is(metric('osv_vector_outbox_failed'), $want{failed}, 'osv_vector_outbox_failed counts the parked entry');
my $age = metric('osv_vector_outbox_oldest_pending_age_seconds');
ok(defined $age && $age >= 3600 && $age < 3700, "oldest pending age is about an hour (" . ($age // 'undef') . ")");
is(metric('osv_vector_sync_consecutive_failures', 'target='), '1', 'the unreachable Qdrant counts one failure');
is(metric('osv_vector_sync_last_success_age_seconds'), '-1', 'and no success');
is(metric('osv_job_runs_failed_24h', 'job="purge_trashed"'), '1', 'a failed retention run is counted for its job');
is(metric('osv_job_runs_succeeded_24h', 'job="revoke_expired_recommendations"'), '1', 'a successful one too');
is(metric('osv_job_runs_last_success_age_seconds', 'job="archive_activity_logs"'), '-1', 'a job that never ran: -1');
is(metric('osv_worker_running', 'worker="vector sync"'), '0', 'the vector sync worker (off) does not run');
is(metric('osv_worker_expected', 'worker="scheduler"'), '0', 'and the scheduler (off) is not expected to');
is(metric('osv_worker_heartbeat_overdue_seconds', 'worker="vector sync"'), '0', 'a worker that does not run is not overdue');
ok($want{archive_backlog} > 0, "old partitions wait for the archive ($want{archive_backlog})");
is(metric('osv_progress_total', 'kind="archive"'), $want{archive_backlog}, 'osv_progress_total shows the archive backlog');
unlike($metrics, qr/pg_exporter_user_queries_load_error\{[^}]*\} 1|pg_exporter_last_scrape_error 1/,
	'no query of the file failed');

# Every metric the alert rules use is exported.
open(my $fh, '<', "$root/monitoring/osv_alerts.yaml") or die $!;
my %used;
while (<$fh>)
{
	next unless /^\s*expr:\s*(.*)$/;
	my $expr = $1;
	$used{$_}++ for ($expr =~ /\b(osv_[a-z0-9_]+)/g);
}
close $fh;
ok(%used >= 5, 'the alert rules use osv metrics: ' . join(', ', sort keys %used));
ok(defined metric($_), "alert metric $_ is exported") for sort keys %used;

$node->stop;
done_testing();
