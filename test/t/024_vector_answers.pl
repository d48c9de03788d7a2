# What counts as an answer of Qdrant: only a 2xx whose body is Qdrant's
# success; Retry-After is honoured up to osv.vector_sync_backoff_max; a
# reload ends a back-off; an unrelated interrupt of the worker
# (pg_log_backend_memory_contexts) does not abort a request; a restart of
# the worker leaves the live claims of an external drainer alone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use OsvTest;

my $q = start_qdrant();

my $node = PostgreSQL::Test::Cluster->new('answers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'osv'
osv.database = 'postgres'
osv.scheduler_worker = off
osv.qdrant_url = '$q->{url}'
osv.vector_dimensions = 8
osv.vector_sync_naptime = '60s'
osv.vector_sync_backoff = '100ms'
osv.vector_sync_backoff_max = '2s'
osv.qdrant_timeout = '5s'
osv.vector_sync_in_doubt_fence = '1s'
});
$node->start;

sub set_and_reload
{
	my (%settings) = @_;
	for my $k (sort keys %settings)
	{
		my $v = $settings{$k};
		$node->safe_psql('postgres',
			defined $v ? "ALTER SYSTEM SET $k = '$v'" : "ALTER SYSTEM RESET $k");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	usleep(300_000);
}

sub add_faults
{
	my (@faults) = @_;
	my ($status) = qdrant_request($q, 'POST', '/__test/faults', { faults => \@faults });
	die "could not add faults: $status" unless $status == 200;
}

sub put_points_requests
{
	my (undef, $log) = qdrant_request($q, 'GET', '/__test/requests');
	return grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/points$} } @{ $log->{result} };
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv vector sync'");
}

sub converged
{
	my ($name) = @_;
	ok(wait_synced($node), "$name: outbox drained");
	my @diff = compare_points($q, $node);
	is_deeply(\@diff, [], "$name: Qdrant equals the database")
	  or diag(join("\n", @diff[0 .. ($#diff > 10 ? 10 : $#diff)]));
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	CREATE FUNCTION emb(seed bigint) RETURNS real[] LANGUAGE sql IMMUTABLE
		AS $$ SELECT ARRAY(SELECT sin(seed * 7 + i)::real FROM generate_series(1, 8) i) $$;
	INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|a', 'a@example.org');
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 1, 'pdf', 'doc ' || g, 'tap-bucket', 'k/' || g FROM generate_series(1, 100) g;
});
my $next = 1;

sub add_summaries
{
	my ($n) = @_;
	my $to = $next + $n - 1;
	$node->safe_psql('postgres', qq{
		INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id) FROM osv.documents d WHERE d.id BETWEEN $next AND $to});
	$next = $to + 1;
}

add_summaries(5);
converged('first sync');

# --- Three 200 answers that are no success. ----------------------------------
my @bodies = (
	[ 'error envelope', { status => { error => 'Service internal error: boom' }, time => 0 } ],
	[ 'null result', { status => 'ok', result => undef, time => 0 } ],
	[ 'failed update', { status => 'ok', result => { operation_id => 1, status => 'failed' }, time => 0 } ]);
for my $b (@bodies)
{
	my ($name, $body) = @$b;
	qdrant_request($q, 'DELETE', '/__test/requests');
	add_faults({ method => 'PUT', path => '/points$', count => 1,
		action => { type => 'status', status => 200, body => $body } });
	add_summaries(2);
	converged("200 with $name");
	my @puts = put_points_requests();
	cmp_ok(scalar(@puts), '>=', 2, "200 with $name: not a success, the points are sent again");
}

# --- Retry-After: 86400 is capped at osv.vector_sync_backoff_max. ------------
add_faults({ method => 'PUT', path => '/points$', count => 1,
	action => { type => 'status', status => 429, retry_after => 86400 } });
add_summaries(2);
ok($node->poll_query_until('postgres', q{SELECT retry_at IS NOT NULL FROM osv.vector_sync_status}),
	'Retry-After 86400: the target backs off');
is($node->safe_psql('postgres', q{SELECT retry_at <= now() + interval '3 s' FROM osv.vector_sync_targets}),
	't', 'Retry-After 86400: capped at osv.vector_sync_backoff_max');
converged('after Retry-After 86400');

# --- A reload ends a back-off. -----------------------------------------------
set_and_reload('osv.vector_sync_backoff_max' => '1h');
add_faults({ method => 'PUT', path => '/points$', count => 1,
	action => { type => 'status', status => 429, retry_after => 3600 } });
add_summaries(2);
ok($node->poll_query_until('postgres',
		q{SELECT retry_at > now() + interval '30 min' FROM osv.vector_sync_targets}),
	'Retry-After 3600 under a 1 h cap: the target backs off for an hour');
my $t0 = time();
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', q{SELECT retry_at IS NULL FROM osv.vector_sync_targets}),
	'reload: the back-off is over');
converged('after the reload');
cmp_ok(time() - $t0, '<', 15, 'reload: synced at once, not after the naptime (60 s)');
set_and_reload('osv.vector_sync_backoff_max' => undef);

# --- pg_log_backend_memory_contexts during a slow request. -------------------
qdrant_request($q, 'DELETE', '/__test/requests');
add_faults({ method => 'PUT', path => '/points$', count => 1,
	action => { type => 'delay', ms => 2000 } });
my $log_offset = -s $node->logfile;
add_summaries(2);
ok($node->poll_query_until('postgres', 'SELECT in_flight > 0 FROM osv.vector_sync_status'),
	'slow request in flight');
usleep(300_000);
is($node->safe_psql('postgres', 'SELECT pg_log_backend_memory_contexts(' . worker_pid() . ')'),
	't', 'memory contexts of the worker requested');
converged('after logging memory contexts');
ok($node->log_contains(qr/logging memory contexts of PID/, $log_offset), 'the worker logged its memory contexts');
is($node->safe_psql('postgres', q{SELECT consecutive_failures || ' ' || coalesce(last_error, 'none') FROM osv.vector_sync_status}),
	'0 none', 'the interrupt did not fail the request');
is(scalar(put_points_requests()), 1, 'the slow request was sent once');

# --- An external drainer's claim survives a restart of the worker. ----------
# The claim is made in the transaction that enqueues, so the worker never
# sees the entries unclaimed.
my $claim = $node->safe_psql('postgres', qq{
	BEGIN;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id) FROM osv.documents d WHERE d.id BETWEEN $next AND $next + 2;
	SELECT DISTINCT claim_id FROM osv.vector_sync_claim(10);
	COMMIT;});
$next += 3;
like($claim, qr/^\d+$/, 'external drainer claimed the new entries');
my $pid = worker_pid();
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv vector sync' AND pid <> $pid"),
	'worker restarted');
# A round of the new worker (woken by a commit).
add_summaries(1);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM osv.vector_outbox WHERE claim_id IS DISTINCT FROM $claim"),
	'the new worker synced everything else');
is($node->safe_psql('postgres', "SELECT count(*) FROM osv.vector_outbox WHERE claim_id = $claim"),
	'3', 'the external claim is still held after the restart');
is($node->safe_psql('postgres', "SELECT osv.vector_sync_complete($claim, '{}')"), '0',
	'the external drainer releases its claim');
converged('after the external claim was released');

$node->stop;
done_testing();
