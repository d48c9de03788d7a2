# The vector layer at scale (DESIGN.md section 10): the collection osv
# creates has the cluster settings, a mismatch with them shows in
# osv.vector_sync_status; every write of points asks for ordering=strong;
# searches fall back to the in-database scan while Qdrant cannot answer
# (outage, 5xx, time-out, 429, back-off), say so and count it; the
# scheduler reconciles Qdrant every osv.reconcile_interval, page by page,
# and records what it fixed (or why it failed) in osv.job_runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('scale', scheduler => 1, qdrant => $q,
	sync => { naptime => '1s', backoff => '100ms', backoff_max => '1s' },
	conf => q{
osv.reconcile_interval = '1 day'
osv.qdrant_timeout = '1s'
osv.qdrant_shard_number = 3
osv.qdrant_replication_factor = 2
osv.qdrant_write_consistency_factor = 2
});

create_osv($node, emb => {}, users => 3, documents => 60, sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, CASE WHEN d.id % 2 = 0 THEN 'even' ELSE 'odd' END, 'summary ' || d.id, emb(d.id)
		FROM osv.documents d;
});
qdrant_converged($q, $node, 'first sync');

# --- 1. Cluster-ready collections --------------------------------------------
my (undef, $info) = qdrant_request($q, 'GET', '/collections/osv_summaries');
my $params = $info->{result}{config}{params};
is_deeply([ @$params{qw(shard_number replication_factor write_consistency_factor)} ], [ 3, 2, 2 ],
	'the collection is created with the shard number, replication factor and write consistency factor of the settings');
ok($node->poll_query_until('postgres',
		q{SELECT collection_mismatch IS NULL FROM osv.vector_sync_status}),
	'no mismatch with the collection osv created');

set_and_reload($node, 'osv.qdrant_shard_number' => 4, 'osv.qdrant_write_consistency_factor' => 1);
ok($node->poll_query_until('postgres',
		q{SELECT collection_mismatch FROM osv.vector_sync_status},
		'shard_number is 3, osv.qdrant_shard_number is 4; write_consistency_factor is 2, osv.qdrant_write_consistency_factor is 1'),
	'after a reload, a mismatch with the existing collection is shown in osv.vector_sync_status');
ok($node->wait_for_log(qr/WARNING:.*does not match osv's cluster settings/), 'and logged as a warning');
set_and_reload($node, 'osv.qdrant_shard_number' => undef, 'osv.qdrant_write_consistency_factor' => undef,
	'osv.qdrant_replication_factor' => 1);
ok($node->poll_query_until('postgres',
		q{SELECT collection_mismatch FROM osv.vector_sync_status}, 'replication_factor is 2, osv.qdrant_replication_factor is 1'),
	'the replication factor differs');
set_and_reload($node, 'osv.qdrant_replication_factor' => undef);
ok($node->poll_query_until('postgres', q{SELECT collection_mismatch IS NULL FROM osv.vector_sync_status}),
	'settings equal to the collection again: no mismatch');

# --- Write ordering -----------------------------------------------------------
qdrant_request($q, 'DELETE', '/__test/requests');
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding = emb(id + 1000) WHERE id <= 3;
	UPDATE osv.summaries SET deleted_at = now() WHERE id BETWEEN 4 AND 5;
	UPDATE osv.summaries SET deleted_at = NULL WHERE id BETWEEN 4 AND 5;
	UPDATE osv.summaries SET deleted_at = now() WHERE id = 6;
});
qdrant_converged($q, $node, 'writes after the ordering check began');
$node->safe_psql('postgres', 'SELECT osv.qdrant_delete_user_points(999)');
my (undef, $log) = qdrant_request($q, 'GET', '/__test/requests');
my @writes = grep { $_->{path} =~ m{/points(/delete)?$} && $_->{method} ne 'GET' } @{ $log->{result} };
my @upserts = grep { $_->{method} eq 'PUT' } @writes;
my @deletes = grep { $_->{path} =~ m{/delete$} } @writes;
cmp_ok(scalar(@upserts), '>=', 1, 'upserts were sent');
cmp_ok(scalar(@deletes), '>=', 2, 'deletes by id and by user filter were sent');
is_deeply([ grep { ($_->{ordering} // '') ne 'strong' } @writes ], [],
	'every upsert and delete asks for ordering=strong');

# --- 2. Search that survives an outage -----------------------------------------
my $query = q{SELECT string_agg(summary_id || ':' || round(score::numeric, 5), ',' ORDER BY score DESC, summary_id)};
my %calls = (
	search => 'osv.search_summaries(emb(7), 10)',
	user => 'osv.search_summaries(emb(7), 5, 2)',
	topic => q{osv.search_summaries(emb(7), 5, NULL, 'odd')},
	similar => 'osv.similar_summaries(7, 5)');
my %exact = (
	search => 'osv.search_embedded(emb(7), 10)',
	user => 'osv.search_embedded(emb(7), 5, 2)',
	topic => q{osv.search_embedded(emb(7), 5, NULL, 'odd')},
	similar => 'osv.search_embedded(emb(7), 5, exclude_summary_id => 7)');
my %want;
$want{$_} = $node->safe_psql('postgres', "$query FROM $exact{$_}") for keys %calls;
$node->safe_psql('postgres', 'SELECT osv.refresh_recommendations(1, 5)');
my $recs = q{SELECT string_agg(summary_id::text, ',' ORDER BY summary_id) FROM osv.recommendations WHERE user_id = 1 AND revoked_at IS NULL};
my $want_recs = $node->safe_psql('postgres', $recs);
isnt($want_recs, '', 'recommendations from Qdrant');

sub fallbacks
{
	return $node->safe_psql('postgres', 'SELECT coalesce(search_fallbacks, -1) FROM osv.vector_sync_status');
}

sub check_fallback
{
	my ($name) = @_;
	my $before = fallbacks();
	for my $c (sort keys %calls)
	{
		my ($rc, $out, $err) = $node->psql('postgres', "$query FROM $calls{$c}");
		is($rc, 0, "$name: $c answers");
		is($out, $want{$c}, "$name: $c gives the exact scan's answer");
		like($err, qr/NOTICE:\s+Qdrant is unavailable; answering from the in-database scan/, "$name: $c says so");
	}
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT osv.refresh_recommendations(1, 5)');
	is($out, '5', "$name: recommendations are stored");
	like($err, qr/answering from the in-database scan/, "$name: recommendations say so");
	is($node->safe_psql('postgres', $recs), $want_recs, "$name: the same recommendations");
	is(fallbacks() - $before, 5, "$name: each fallback is counted in osv.vector_sync_status");
}

sub reset_server
{
	qdrant_request($q, 'DELETE', '/__test/faults');
	qdrant_request($q, 'DELETE', '/__test/outage');
	# no back-off left over from the outage
	$node->safe_psql('postgres', q{UPDATE osv.vector_sync_targets SET retry_at = NULL});
}

my %faults = (
	'HTTP 500' => { type => 'status', status => 500 },
	'HTTP 503' => { type => 'status', status => 503 },
	'HTTP 429' => { type => 'status', status => 429, retry_after => 1 },
	'a time-out' => { type => 'delay', ms => 2500 },
	'a dropped connection' => { type => 'drop' });
for my $name (sort keys %faults)
{
	qdrant_add_faults($q, { method => 'POST', path => '/points/query$', count => -1, action => $faults{$name} });
	check_fallback($name);
	reset_server();
}

# An outage: nothing answers; the sync backs off, and while it does the
# search does not even ask Qdrant.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 600 });
check_fallback('an outage');
$node->safe_psql('postgres', 'UPDATE osv.summaries SET embedding = emb(id + 2000) WHERE id = 8');
ok($node->poll_query_until('postgres', q{SELECT retry_at > now() FROM osv.vector_sync_status}),
	'the outage backs the sync off');
$node->safe_psql('postgres', q{UPDATE osv.vector_sync_targets SET retry_at = now() + interval '1 hour'});

# The worker is held while the outage ends (SIGSTOP once it sleeps out the
# back-off): a send of its own that was under way could otherwise succeed
# and end the back-off before the search below.
ok($node->poll_query_until('postgres',
		q{SELECT state = 'backing off' FROM osv.worker_status() WHERE worker = 'vector sync'}),
	'backing off: the worker sleeps');
my $sync_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM osv.worker_status() WHERE worker = 'vector sync'});
kill 'STOP', $sync_pid;
qdrant_request($q, 'DELETE', '/__test/outage');
qdrant_request($q, 'DELETE', '/__test/requests');
# A request of the time-out check above, which the server holds 2.5 s, is
# logged when it is answered: only requests that arrive from now on count.
my $asked_since = Time::HiRes::time();
$want{$_} = $node->safe_psql('postgres', "$query FROM $exact{$_}") for keys %calls;
my ($rc, $out, $err) = $node->psql('postgres', "$query FROM $calls{search}");
is($out, $want{search}, 'backing off: the exact scan answers');
like($err, qr/answering from the in-database scan/, 'backing off: and says so');
(undef, $log) = qdrant_request($q, 'GET', '/__test/requests');
kill 'CONT', $sync_pid;
is(scalar(grep { $_->{path} =~ m{/points/query$} && $_->{time} >= $asked_since } @{ $log->{result} }), 0,
	'backing off: Qdrant is not asked');

# osv.search_fallback = off: today's error.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 600 });
($rc, $out, $err) = $node->psql('postgres', "SET osv.search_fallback = off; $query FROM $calls{search}");
isnt($rc, 0, 'fallback off: the search fails during an outage');
like($err, qr/ERROR:\s+could not query Qdrant collection "osv_summaries"/, 'fallback off: with the error of the query');
unlike($err, qr/in-database scan/, 'fallback off: no fallback');
qdrant_add_faults($q, { method => 'POST', path => '/points/query$', count => -1, action => { type => 'status', status => 401 } });
qdrant_request($q, 'DELETE', '/__test/outage');
$node->safe_psql('postgres', 'UPDATE osv.vector_sync_targets SET retry_at = NULL');
($rc, $out, $err) = $node->psql('postgres', "$query FROM $calls{search}");
isnt($rc, 0, 'a refusal (401) is an error, not a fallback');
like($err, qr/HTTP status 401/, 'a refusal: with Qdrant\'s status');
reset_server();
qdrant_converged($q, $node, 'after the outages');

# --- 4. Reconcile by schedule ----------------------------------------------------
# Make Qdrant differ: a point deleted behind osv's back (missing), an
# orphan, a stale payload.
qdrant_request($q, 'POST', '/collections/osv_summaries/points/delete?wait=true', { points => [10] });
qdrant_request($q, 'PUT', '/collections/osv_summaries/points?wait=true',
	{ points => [ { id => 100000, vector => [ (0.5) x 8 ], payload => { user_id => 1 } } ] });
qdrant_request($q, 'POST', '/collections/osv_summaries/points/payload?wait=true',
	{ payload => { version => 1 }, points => [11] });
# (The scheduler reconciled already, at the first reload after CREATE
# EXTENSION, and finds nothing to fix now: the next run is in a day.)
ok($node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM osv.job_runs WHERE job = 'vector_reconcile' AND outcome = 'succeeded' AND affected = 0}),
	'the scheduler reconciled, and found nothing to fix');
set_and_reload($node, 'osv.reconcile_interval' => '1s');
ok($node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM osv.job_runs
		WHERE job = 'vector_reconcile' AND outcome = 'succeeded' AND affected = 3}),
	'the scheduler reconciles every osv.reconcile_interval and fixes the three points');
is($node->safe_psql('postgres', q{
		SELECT run_by, details->>'orphaned', details->>'missing', details->>'stale', details->>'deleted', details->>'upserted'
		FROM osv.job_runs WHERE job = 'vector_reconcile' AND affected = 3 ORDER BY id LIMIT 1}),
	'worker|1|1|1|1|2', 'the run records what it fixed: one deleted, two upserted');
qdrant_converged($q, $node, 'after the scheduled reconcile');

# Qdrant cannot be read: a failed run with the reason, never a success.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 600 });
ok($node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM osv.job_runs
		WHERE job = 'vector_reconcile' AND outcome = 'failed' AND error LIKE 'could not%' AND reason LIKE 'Qdrant could not be read%'}),
	'an outage makes a failed run with the error and the reason');
my $last = $node->safe_psql('postgres', q{SELECT max(id) FROM osv.job_runs WHERE job = 'vector_reconcile'});
qdrant_request($q, 'DELETE', '/__test/outage');
ok($node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM osv.job_runs WHERE job = 'vector_reconcile' AND id > $last AND outcome = 'succeeded'}),
	'Qdrant back: the next run succeeds')
  or diag($node->safe_psql('postgres', q{SELECT * FROM osv.job_runs WHERE job = 'vector_reconcile' ORDER BY id}));
set_and_reload($node, 'osv.reconcile_interval' => '1 day');

# The SQL function is the same streamed reconcile: with pages of 1000, 2500
# points take three pages, and a missing point in the last range is found.
$node->safe_psql('postgres', q{
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 1 + g % 3, 'pdf', 'bulk ' || g, 'tap-bucket', 'b/' || g FROM generate_series(1, 2500) g;
	INSERT INTO osv.summaries (document_id, content, embedding)
		SELECT d.id, 'bulk', emb(d.id) FROM osv.documents d WHERE d.title LIKE 'bulk %';
});
qdrant_converged($q, $node, '2560 points');
my $max = $node->safe_psql('postgres', 'SELECT max(id) FROM osv.summaries');
qdrant_request($q, 'POST', '/collections/osv_summaries/points/delete?wait=true', { points => [ 1500, $max + 0 ] });
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '2',
	'osv.vector_reconcile() finds the points missing in the middle and at the end');
qdrant_converged($q, $node, 'after osv.vector_reconcile()');
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '0', 'nothing left to reconcile');

$node->stop;
done_testing();
