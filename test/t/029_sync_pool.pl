# A pool of vector sync workers (osv.vector_sync_workers = 2, small
# batches, so that both work): a burst drains with both workers' batches in
# flight at once and Qdrant equals the database; concurrent changes of the
# same summaries while they drain converge; a worker terminated in the
# middle of a batch releases its own claims (in doubt) at its restart and
# never the live claims of the other; a SIGKILL (the postmaster restarts
# everything) converges; a TRUNCATE while both have batches in flight
# converges; the default starts exactly one worker.
#
# Which worker holds a claim is observable without DEBUG logging: worker 0
# claims every batch of a life under vector_sync_targets.worker_claim_id,
# worker 1 under pool_claim_ids[1].
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('sync_pool', scheduler => 0, qdrant => $q,
	sync => { workers => 2, batch_size => 16, naptime => '60s', backoff => '100ms', backoff_max => '1s',
		in_doubt_fence => '2s' },
	conf => q{
restart_after_crash = on
osv.qdrant_timeout = '60s'
});

create_osv($node, emb => { term => 'cos(seed * 3 + i)' }, users => ['p1']);

sub workers
{
	return $node->safe_psql('postgres', q{
		SELECT string_agg(application_name, ',' ORDER BY application_name)
		  FROM pg_stat_activity WHERE backend_type = 'osv vector sync'});
}

sub add_summaries
{
	my ($from, $to) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
			SELECT 1, 'text', 'doc ' || g, 'docs', 'p/' || g FROM generate_series($from, $to) g;
		INSERT INTO osv.summaries (document_id, topic, content, embedding)
			SELECT d.id, 'start', 'summary ' || d.id, emb(d.id) FROM osv.documents d
			 WHERE d.storage_key LIKE 'p/%' AND split_part(d.storage_key, '/', 2)::int BETWEEN $from AND $to;
	});
}

# Entries in flight under each worker's claim of this life: "w0 w1".
my $in_flight_sql = q{
	SELECT count(*) FILTER (WHERE o.claim_id = t.worker_claim_id) || ' ' ||
		   count(*) FILTER (WHERE o.claim_id = t.pool_claim_ids[1])
	  FROM osv.vector_outbox o, osv.vector_sync_targets t WHERE o.claim_id IS NOT NULL};

# Poll until both workers have a batch in flight at the same time.
sub both_in_flight
{
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) FILTER (WHERE o.claim_id = t.worker_claim_id) > 0
		   AND count(*) FILTER (WHERE o.claim_id = t.pool_claim_ids[1]) > 0
		  FROM osv.vector_outbox o, osv.vector_sync_targets t WHERE o.claim_id IS NOT NULL});
}

# --- Two workers, each with a life claim of its own. -------------------------
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'}),
	'osv.vector_sync_workers = 2 starts two workers');
is(workers(), 'osv vector sync,osv vector sync 1', 'worker 0 and worker 1, told apart by application_name');
ok($node->poll_query_until('postgres', q{
		SELECT worker_claim_id IS NOT NULL AND pool_claim_ids[1] IS NOT NULL
		   AND worker_claim_id <> pool_claim_ids[1] FROM osv.vector_sync_targets}),
	'each worker has a claim id of its own');
ok($node->poll_query_until('postgres', qq{
		SELECT synced_url = '$q->{url}|osv_summaries' FROM osv.vector_sync_targets}),
	'worker 0 reconciled the new target');

# --- A burst drains with both workers' batches in flight. --------------------
# Every upsert answered after 300 ms: each worker's pipeline keeps one
# batch in flight, so the burst of 20 batches shows both at once.
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 300 } });
add_summaries(1, 320);
ok(both_in_flight(), 'burst: both workers have a batch in flight at once');
qdrant_clear_faults($q);
qdrant_converged($q, $node, 'burst of 320 summaries');

# --- The same summaries changed again and again while the pool drains. -------
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 200 } });
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'round 1', embedding = emb(id + 1000)});
ok(both_in_flight(), 'changes: both workers drain');
for my $round (2 .. 4)
{
	$node->safe_psql('postgres', qq{UPDATE osv.summaries SET topic = 'round $round', embedding = emb(id + $round * 1000)
		WHERE id % $round = 0});
	$node->safe_psql('postgres', qq{UPDATE osv.summaries SET deleted_at = now() WHERE id % 37 = $round});
	usleep(150_000);
}
$node->safe_psql('postgres', q{UPDATE osv.summaries SET deleted_at = NULL WHERE id % 37 = 3});
qdrant_clear_faults($q);
qdrant_converged($q, $node, 'changes of the same summaries while both drain');

# --- Worker 1 terminated in the middle of a batch. ---------------------------
# Every upsert answered after 25 s, longer than worker 1's restart (10 s):
# worker 0's batch is still in flight when worker 1 releases its claims.
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 25000 } });
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'terminate' WHERE deleted_at IS NULL});
ok(both_in_flight(), 'terminate: both workers have a batch in flight');
# Each worker holds two batches: one in flight, the next claimed and written.
ok($node->poll_query_until('postgres', $in_flight_sql, '32 32'),
	'terminate: each worker holds its batch in flight and the next one');
my ($w0, $w1) = split / /, $node->safe_psql('postgres', $in_flight_sql);
my $claims = $node->safe_psql('postgres', q{SELECT worker_claim_id || ' ' || pool_claim_ids[1] FROM osv.vector_sync_targets});
my ($c0, $c1) = split / /, $claims;
my $log_offset = -s $node->logfile;
my $pid1 = backend_pid($node, 'osv vector sync', 'osv vector sync 1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('postgres', qq{
		SELECT pool_claim_ids[1] <> $c1 FROM osv.vector_sync_targets}),
	'terminate: worker 1 is back with a new life');
ok($node->log_contains(qr/osv vector sync 1 released $w1 outbox entries claimed before a restart/, $log_offset),
	"terminate: worker 1 released its $w1 entries, no more")
  or diag(slurp_file($node->logfile, $log_offset));
is($node->safe_psql('postgres', qq{SELECT count(*) FROM osv.vector_outbox WHERE claim_id = $c1}), '0',
	"terminate: nothing is left under worker 1's old claim");
is($node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE in_doubt_until IS NOT NULL) || ' ' || count(*)
		  FROM osv.vector_outbox WHERE claim_id = $c0}),
	"0 $w0", "terminate: worker 0's batch in flight is still claimed, and not in doubt");
ok(!$node->log_contains(qr/osv vector sync released/, $log_offset),
	'terminate: worker 0 released nothing');
qdrant_clear_faults($q);
qdrant_converged($q, $node, 'worker 1 terminated mid-batch');

# --- SIGKILL of worker 1 mid-batch: the postmaster restarts everything. ------
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 3000 } });
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'kill' WHERE deleted_at IS NULL});
ok(both_in_flight(), 'SIGKILL: both workers have a batch in flight');
$log_offset = -s $node->logfile;
kill 'KILL', backend_pid($node, 'osv vector sync', 'osv vector sync 1');
$node->wait_for_log(qr/terminated by signal 9/, $log_offset);
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'}),
	'SIGKILL: both workers back after the crash');
qdrant_clear_faults($q);
qdrant_converged($q, $node, 'after SIGKILL of worker 1 mid-batch');
ok($node->log_contains(qr/osv vector sync 1 released \d+ outbox entries claimed before a restart/, $log_offset),
	'SIGKILL: worker 1 released its claims at its restart');

# --- TRUNCATE while both workers have batches in flight. ---------------------
# An upsert of a summary that the TRUNCATE removes may land after the
# marker's drop and the new collection; the entry in flight stays as a
# change and is sent again, as a delete.
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 1500 } });
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'before truncate' WHERE deleted_at IS NULL});
ok(both_in_flight(), 'TRUNCATE: both workers have a batch in flight');
$node->safe_psql('postgres', 'TRUNCATE osv.summaries CASCADE');
add_summaries(401, 440);
qdrant_clear_faults($q);
qdrant_converged($q, $node, 'TRUNCATE while both drain');
is($node->safe_psql('postgres', 'SELECT count(*) FROM osv.summaries'), '40', 'TRUNCATE: 40 summaries after it');

# --- TRUNCATE beside another drainer's claim, whose upsert lands late. ------
# The same race, made certain: an external drainer (osv.vector_sync_claim)
# holds 3 entries while the workers back off; the TRUNCATE comes; the
# workers send the marker (drop, create); only then does the drainer's
# upsert of the old summaries land, and it completes its claim.  The
# entries stayed as changes, so the workers delete those points.
$node->safe_psql('postgres', q{UPDATE osv.vector_sync_targets SET retry_at = now() + interval '1 hour'});
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'late' WHERE id IN (SELECT id FROM osv.summaries ORDER BY id LIMIT 3)});
my $late = $node->safe_psql('postgres', q{
	SELECT claim_id || ' ' || string_agg(summary_id::text, ',' ORDER BY summary_id)
	  FROM osv.vector_sync_claim(3) GROUP BY claim_id});
my ($late_claim, $late_ids) = split / /, $late;
is(scalar(split /,/, $late_ids), 3, 'late upsert: an external drainer claims 3 entries');
$node->safe_psql('postgres', 'TRUNCATE osv.summaries CASCADE');
$node->safe_psql('postgres', q{UPDATE osv.vector_sync_targets SET retry_at = NULL});
$node->safe_psql('postgres', q{SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT NOT EXISTS (SELECT FROM osv.vector_outbox WHERE summary_id = 0)}),
	'late upsert: the workers sent the TRUNCATE marker');
my @late_points = map { +{ id => $_ + 0, vector => [ map { cos($_ * 3 + $_) } 1 .. 8 ],
	payload => { summary_id => $_ + 0, user_id => 1, topic => 'late' } } } split /,/, $late_ids;
my ($late_status) = qdrant_request($q, 'PUT', '/collections/osv_summaries/points?wait=true', { points => \@late_points });
is($late_status, 200, "late upsert: the drainer's upsert lands after the marker");
$node->safe_psql('postgres', "SELECT osv.vector_sync_complete($late_claim, '{$late_ids}')");
qdrant_converged($q, $node, 'TRUNCATE beside a late upsert');

# --- The back-off of the target holds every worker. --------------------------
# Upserts fail with 503 and the back-off is at least 1.5 s (3 s with
# jitter): in 5 s the two workers send a few requests, not one per round.
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'status', status => 503 } });
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET osv.vector_sync_backoff = '3s';
	ALTER SYSTEM SET osv.vector_sync_backoff_max = '3s';
	SELECT pg_reload_conf();
});
add_summaries(501, 540);
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures >= 2 FROM osv.vector_sync_status}),
	'back-off: the target fails');
qdrant_request($q, 'DELETE', '/__test/requests');
usleep(5_000_000);
my (undef, $requests) = qdrant_request($q, 'GET', '/__test/requests');
my $puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/points$} } @{ $requests->{result} };
cmp_ok($puts, '<=', 16, "back-off: both workers honour it ($puts upserts in 5 s)");
qdrant_clear_faults($q);
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET osv.vector_sync_backoff;
	ALTER SYSTEM RESET osv.vector_sync_backoff_max;
	SELECT pg_reload_conf();
});
qdrant_converged($q, $node, 'after the back-off');

# --- The backfill of a new collection counts the batches of both workers. ---
# A new collection name: worker 0 creates the collection and enqueues every
# live summary (an exact total); every upsert waits 300 ms, so the backfill
# lasts seconds.  Once both workers completed batches, the progress's done
# plus what is left in the outbox is the total; counting worker 0's batches
# alone, it fell short by worker 1's.
add_summaries(601, 1000);
ok(wait_synced($node), 'backfill: 400 more summaries synced first');
my $live = $node->safe_psql('postgres', q{SELECT count(*) FROM osv.summaries});
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 300 } });
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET osv.qdrant_collection = 'pool_backfill';
	SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', qq{
		SELECT p.total = $live AND NOT p.total_is_estimate AND p.done >= 96
		   AND p.done + (SELECT count(*) FROM osv.vector_outbox) >= p.total
		  FROM osv.progress p WHERE p.kind = 'backfill'}),
	'backfill: its progress counts the batches of both workers')
  or diag($node->safe_psql('postgres', q{
		SELECT p.done || ' done of ' || p.total || ', ' || (SELECT count(*) FROM osv.vector_outbox) || ' pending'
		  FROM osv.progress p WHERE p.kind = 'backfill'}));
qdrant_clear_faults($q);
ok(wait_synced($node), 'backfill of a new collection: outbox drained');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET osv.qdrant_collection;
	SELECT pg_reload_conf();
});
qdrant_converged($q, $node, 'back to the first collection');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM osv.progress WHERE kind IN ('backfill', 'reconcile')}),
	'backfill: its row goes once it is over');

# --- The default starts exactly one worker. ----------------------------------
$node->append_conf('postgresql.conf', 'osv.vector_sync_workers = 1');
$node->restart;
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'}),
	'osv.vector_sync_workers = 1: one worker');
usleep(500_000);
is(workers(), 'osv vector sync', 'osv.vector_sync_workers = 1: worker 0 alone');
ok($node->poll_query_until('postgres', q{SELECT pool_claim_ids IS NULL FROM osv.vector_sync_targets}),
	'osv.vector_sync_workers = 1: the slot of worker 1 is forgotten');
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'one worker'});
qdrant_converged($q, $node, 'one worker');

$node->stop;
done_testing();
