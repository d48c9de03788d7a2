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

my $node = osv_node('answers', qdrant => $q, scheduler => 0,
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '2s', in_doubt_fence => '1s' },
	conf => "osv.qdrant_timeout = '5s'\n");

create_osv($node, emb => {}, users => ['a'], documents => 100);
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
qdrant_converged($q, $node, 'first sync');

# --- Three 200 answers that are no success. ----------------------------------
my @bodies = (
	[ 'error envelope', { status => { error => 'Service internal error: boom' }, time => 0 } ],
	[ 'null result', { status => 'ok', result => undef, time => 0 } ],
	[ 'failed update', { status => 'ok', result => { operation_id => 1, status => 'failed' }, time => 0 } ]);
for my $b (@bodies)
{
	my ($name, $body) = @$b;
	qdrant_request($q, 'DELETE', '/__test/requests');
	qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
		action => { type => 'status', status => 200, body => $body } });
	add_summaries(2);
	qdrant_converged($q, $node, "200 with $name");
	my @puts = qdrant_requests($q, 'PUT', qr{/points$});
	cmp_ok(scalar(@puts), '>=', 2, "200 with $name: not a success, the points are sent again");
}

# --- Retry-After: 86400 is capped at osv.vector_sync_backoff_max. ------------
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
	action => { type => 'status', status => 429, retry_after => 86400 } });
add_summaries(2);
ok($node->poll_query_until('postgres', q{SELECT retry_at IS NOT NULL FROM osv.vector_sync_status}),
	'Retry-After 86400: the target backs off');
is($node->safe_psql('postgres', q{SELECT retry_at <= now() + interval '3 s' FROM osv.vector_sync_targets}),
	't', 'Retry-After 86400: capped at osv.vector_sync_backoff_max');
qdrant_converged($q, $node, 'after Retry-After 86400');

# --- A reload ends a back-off. -----------------------------------------------
set_and_reload($node, 'osv.vector_sync_backoff_max' => '1h');
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
	action => { type => 'status', status => 429, retry_after => 3600 } });
add_summaries(2);
ok($node->poll_query_until('postgres',
		q{SELECT retry_at > now() + interval '30 min' FROM osv.vector_sync_targets}),
	'Retry-After 3600 under a 1 h cap: the target backs off for an hour');
my $t0 = time();
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', q{SELECT retry_at IS NULL FROM osv.vector_sync_targets}),
	'reload: the back-off is over');
qdrant_converged($q, $node, 'after the reload');
cmp_ok(time() - $t0, '<', 15, 'reload: synced at once, not after the naptime (60 s)');
set_and_reload($node, 'osv.vector_sync_backoff_max' => undef);

# --- pg_log_backend_memory_contexts during a slow request. -------------------
qdrant_request($q, 'DELETE', '/__test/requests');
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
	action => { type => 'delay', ms => 2000 } });
my $log_offset = -s $node->logfile;
add_summaries(2);
ok($node->poll_query_until('postgres', 'SELECT in_flight > 0 FROM osv.vector_sync_status'),
	'slow request in flight');
usleep(300_000);
is($node->safe_psql('postgres', 'SELECT pg_log_backend_memory_contexts(' . backend_pid($node) . ')'),
	't', 'memory contexts of the worker requested');
qdrant_converged($q, $node, 'after logging memory contexts');
ok($node->log_contains(qr/logging memory contexts of PID/, $log_offset), 'the worker logged its memory contexts');
is($node->safe_psql('postgres', q{SELECT consecutive_failures || ' ' || coalesce(last_error, 'none') FROM osv.vector_sync_status}),
	'0 none', 'the interrupt did not fail the request');
is(scalar(qdrant_requests($q, 'PUT', qr{/points$})), 1, 'the slow request was sent once');

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
my $pid = backend_pid($node);
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
qdrant_converged($q, $node, 'after the external claim was released');

$node->stop;
done_testing();
