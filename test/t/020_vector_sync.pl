# The vector sync worker against the Qdrant-compatible test server: it
# starts, syncs (woken at commit), reloads on SIGHUP, survives SIGKILL
# mid-batch, holds the queue through an outage, honours Retry-After, parks a
# poison entry without blocking others, reports a wrong API key, and
# reconcile and TRUNCATE converge.  After every scenario Qdrant's content
# must equal the live summaries with an embedding.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use OsvTest;

my $q = start_qdrant(api_key => 'secret-key');

my $node = osv_node('vecsync', qdrant => $q, scheduler => 0,
	# Wake-ups must come from commits: the fallback poll is far away.
	# Claims released after the SIGKILL are in doubt for the fence.
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '1s', in_doubt_fence => '2s' },
	conf => q{
# A SIGKILLed worker makes the postmaster reinitialize; it must come back.
restart_after_crash = on
osv.qdrant_api_key = 'secret-key'
osv.qdrant_timeout = '5s'
osv.qdrant_connect_timeout = '1s'
});
create_worker_role($node);

# --- The worker runs, also where the extension does not exist yet. -------
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'"),
	'worker visible in pg_stat_activity');
my $pid = backend_pid($node);
usleep(500_000);
is(backend_pid($node), $pid, 'worker idles where the extension is absent');

create_osv($node, emb => {}, users => 5, user_prefix => 't', documents => 400, key_prefix => 'tap/');

sub add_summaries
{
	my ($from, $to) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, CASE WHEN d.id % 3 = 0 THEN NULL ELSE 'topic' || (d.id % 4) END, 'summary ' || d.id,
			   CASE WHEN d.id % 10 = 0 THEN NULL ELSE emb(d.id) END
		  FROM osv.documents d WHERE d.id BETWEEN $from AND $to});
}

# --- First sync, woken at commit. -------------------------------------------
my $t0 = time();
add_summaries(1, 200);
qdrant_converged($q, $node, 'initial sync');
ok(time() - $t0 < 20, 'woken at commit, not by the 60 s naptime');
is(backend_pid($node), $pid, 'same worker process');

# --- Changes of every kind. --------------------------------------------------
$node->safe_psql('postgres', q{
	SELECT osv.soft_delete('osv.documents', 5);
	UPDATE osv.users SET deleted_at = now() WHERE id = 2;
	UPDATE osv.summaries SET topic = 'changed' WHERE id % 7 = 0;
	UPDATE osv.summaries SET embedding = emb(id + 1000) WHERE id % 11 = 0;
	UPDATE osv.summaries SET embedding = emb(id) WHERE embedding IS NULL AND id % 20 = 0;
	DELETE FROM osv.summaries WHERE id % 13 = 0;
});
qdrant_converged($q, $node, 'trash, update, delete');
$node->safe_psql('postgres', q{SELECT osv.restore('osv.users', 2)});
qdrant_converged($q, $node, 'restore of a user');

is($node->safe_psql('postgres',
		q{SELECT summary_id FROM osv.qdrant_search(emb(1), 1, NULL, NULL, NULL)}),
	'1', 'search finds the summary itself first');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM osv.qdrant_search(emb(1), 10, NULL, NULL, 1) WHERE summary_id = 1}),
	'0', 'search excludes the given summary');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM osv.qdrant_search(emb(1), 50, 3, 'topic1', NULL) q
		  JOIN osv.summaries s ON s.id = q.summary_id WHERE s.user_id <> 3 OR s.topic <> 'topic1'}),
	'0', 'search filters by user and topic');

# --- SIGHUP reloads the batch size. -----------------------------------------
set_and_reload($node, 'osv.vector_sync_batch_size' => 7);
qdrant_request($q, 'DELETE', '/__test/requests');
add_summaries(201, 230);
qdrant_converged($q, $node, 'after SIGHUP');
cmp_ok(scalar(qdrant_requests($q, 'PUT', qr{/points$})), '>=', 4, 'batch size reloaded on SIGHUP');

# --- An entry row-locked by another transaction is passed, not waited for. --
# While Qdrant is out, entries queue up and one of them is locked by an open
# transaction; after the outage the worker drains the others, goes past the
# locked one without spinning on it (about a round a second while it stays
# due), and takes it once the lock is gone, with no commit to wake it.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 3 });
add_summaries(301, 330);
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
# An entry the worker has claimed for a failing attempt is not taken; the
# next statement tries again once the claim is released.  Each try is
# undone when it finds nothing: a FOR UPDATE that met the worker's claim in
# progress locks the claimed row version even though its recheck then
# drops it, and the lock would last as long as this transaction.
my $locked = '';
for (1 .. 100)
{
	$locker->query_safe('SAVEPOINT try');
	$locked = $locker->query_safe(q{SELECT o.summary_id FROM osv.vector_outbox o JOIN osv.summaries s ON s.id = o.summary_id
		WHERE s.document_id = 311 AND o.claim_id IS NULL FOR UPDATE OF o});
	last if $locked =~ /^\d+$/;
	$locker->query_safe('ROLLBACK TO SAVEPOINT try');
	usleep(100_000);
}
like($locked, qr/^\d+$/, 'locked entry: one pending entry locked');
ok($node->poll_query_until('postgres',
		q{SELECT pending = 1 AND in_flight = 0 FROM osv.vector_sync_status}),
	'locked entry: everything else is synced');
my $xacts = q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'};
my $before = $node->safe_psql('postgres', $xacts);
sleep(3);
my $after = $node->safe_psql('postgres', $xacts);
cmp_ok($after - $before, '<', 100, 'locked entry: the worker does not spin on it');
$locker->query_safe('COMMIT');
$locker->quit;
qdrant_converged($q, $node, 'locked entry, once unlocked');

# --- Embedded mode for a while, then the same Qdrant again. ---------------
# Nothing is queued without a URL; the worker forgets the synced target,
# so setting the URL again backfills what changed meanwhile.
set_and_reload($node, 'osv.qdrant_url' => '');
ok($node->poll_query_until('postgres', q{SELECT synced_url IS NULL FROM osv.vector_sync_targets}),
	'embedded mode: the synced target is forgotten');
add_summaries(331, 340);
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'embedded' WHERE id % 17 = 0});
set_and_reload($node, 'osv.qdrant_url' => $q->{url});
ok($node->poll_query_until('postgres',
		qq{SELECT synced_url = '$q->{url}|osv_summaries' FROM osv.vector_sync_targets}),
	'embedded mode and back: the target is backfilled');
qdrant_converged($q, $node, 'embedded mode and back');

# --- SIGKILL in the middle of a batch. ---------------------------------------
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
	action => { type => 'delay', ms => 3000 } });
add_summaries(231, 250);
ok($node->poll_query_until('postgres', 'SELECT in_flight > 0 FROM osv.vector_sync_status'),
	'a batch is in flight');
my $log_offset = -s $node->logfile;
kill 'KILL', backend_pid($node);
$node->wait_for_log(qr/terminated by signal 9/, $log_offset);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'"),
	'worker back after the crash');
qdrant_converged($q, $node, 'after SIGKILL mid-batch');
ok($node->log_contains(qr/released \d+ outbox entries claimed before a restart/, $log_offset),
	'claims of the killed worker released');

# --- An outage: the queue is held, no entry is parked. ----------------------
# 6 s instead of 30: the worker retries every backoff_max (1 s), so a longer
# outage only adds more failed rounds of the same kind; what matters is that
# more failures than osv.vector_sync_max_attempts park nothing.
set_and_reload($node, 'osv.vector_sync_max_attempts' => 2);
qdrant_request($q, 'POST', '/__test/outage', { seconds => 6 });
add_summaries(251, 270);
ok($node->poll_query_until('postgres',
		'SELECT consecutive_failures >= 3 FROM osv.vector_sync_status'),
	'outage: repeated failures');
is($node->safe_psql('postgres', q{
		SELECT failed || ' ' || (pending > 0) || ' ' || (last_error LIKE 'could not%')
		  FROM osv.vector_sync_status}),
	'0 true true', 'outage: queue held, nothing parked, error reported');
qdrant_converged($q, $node, 'after the outage');
is($node->safe_psql('postgres', 'SELECT failed FROM osv.vector_sync_status'), '0',
	'outage: nothing parked');

# --- 429 with Retry-After (honoured up to osv.vector_sync_backoff_max). -------
set_and_reload($node, 'osv.vector_sync_backoff_max' => '5s');
qdrant_request($q, 'DELETE', '/__test/requests');
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 1,
	action => { type => 'status', status => 429, retry_after => 2 } });
add_summaries(271, 275);
qdrant_converged($q, $node, 'after 429');
my @puts = qdrant_requests($q, 'PUT', qr{/points$});
ok(@puts >= 2 && $puts[0]{status} == 429, '429 answered first');
cmp_ok($puts[1]{time} - $puts[0]{time}, '>=', 1.9, 'Retry-After of 2 s honoured');
set_and_reload($node, 'osv.vector_sync_backoff_max' => undef);

# --- A poison entry is parked; the others get through. ----------------------
set_and_reload($node, 'osv.vector_sync_max_attempts' => 1);
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => 2,
	action => { type => 'status', status => 400 } });
add_summaries(276, 279);
ok(wait_synced($node), 'poison: outbox drained');
is($node->safe_psql('postgres', 'SELECT failed FROM osv.vector_sync_status'), '1',
	'poison: one entry parked');
like($node->safe_psql('postgres', 'SELECT last_error FROM osv.vector_sync_status'),
	qr/HTTP status 400/, 'poison: its error is shown');
my @diff = compare_points($q, $node);
is(scalar(@diff), 1, 'poison: only the parked entry is missing in Qdrant');
like($diff[0] // '', qr/missing in Qdrant/, 'poison: the difference is the parked summary');
set_and_reload($node, 'osv.vector_sync_max_attempts' => undef);
$node->safe_psql('postgres', 'SELECT osv.vector_resync()');
qdrant_converged($q, $node, 'after resync of the parked entry');

# --- A rejected entry backs off by the setting, with jitter of 0.5 to 1. -------
# Each of 20 entries rejected at once draws its own jitter: with a back-off
# of 1 h, each is due again 30 to 60 minutes after its attempt.  (The
# jitter was once random() alone, 0 to 1, for want of parentheses around
# a product written with OPERATOR(): every OPERATOR() has one precedence.)
set_and_reload($node, 'osv.vector_sync_backoff' => '1h', 'osv.vector_sync_backoff_max' => '1h');
qdrant_add_faults($q, { method => 'PUT', path => '/points$', count => -1,
	action => { type => 'status', status => 400 } });
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET topic = 'jitter' WHERE id IN
		(SELECT id FROM osv.summaries WHERE embedding IS NOT NULL AND deleted_at IS NULL ORDER BY id LIMIT 20)});
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 20 FROM osv.vector_outbox
		 WHERE last_error LIKE '%HTTP status 400%' AND claim_id IS NULL AND state = 'pending'}),
	'back-off: 20 rejected entries wait');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM osv.vector_outbox WHERE last_error LIKE '%HTTP status 400%'
		   AND next_attempt_at - last_attempt_at BETWEEN interval '1799 seconds' AND interval '3720 seconds'}),
	'20', 'back-off: each is due again 30 to 60 minutes after its attempt')
  or diag($node->safe_psql('postgres', q{
		SELECT string_agg(extract(epoch FROM next_attempt_at - last_attempt_at)::int::text, ' ')
		  FROM osv.vector_outbox WHERE last_error IS NOT NULL}));
qdrant_request($q, 'DELETE', '/__test/faults');
set_and_reload($node, 'osv.vector_sync_backoff' => undef, 'osv.vector_sync_backoff_max' => undef);
$node->safe_psql('postgres', 'SELECT osv.vector_resync()');
qdrant_converged($q, $node, 'after the back-off test');

# --- A wrong API key. ----------------------------------------------------------
$log_offset = -s $node->logfile;
set_and_reload($node, 'osv.qdrant_api_key' => 'wrong-key');
add_summaries(280, 285);
ok($node->poll_query_until('postgres',
		q{SELECT last_error LIKE '%Invalid API key%HTTP status 401%' FROM osv.vector_sync_status}),
	'wrong API key: reported in vector_sync_status');
ok($node->wait_for_log(qr/Invalid API key.*\n.*\n?.*HINT:\s+Check that osv\.qdrant_api_key/, $log_offset),
	'wrong API key: logged with a hint');
set_and_reload($node, 'osv.qdrant_api_key' => undef);
qdrant_converged($q, $node, 'after fixing the API key');

# --- Reconcile: orphaned, missing and stale points. --------------------------
qdrant_request($q, 'PUT', '/collections/osv_summaries/points?wait=true',
	{ points => [ { id => 999999, vector => [ 1, 0, 0, 0, 0, 0, 0, 0 ], payload => {} } ] });
qdrant_request($q, 'POST', '/collections/osv_summaries/points/delete?wait=true', { points => [1] });
qdrant_request($q, 'POST', '/collections/osv_summaries/points/payload?wait=true',
	{ payload => { topic => 'tampered', version => 1 }, points => [2] });
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '3',
	'reconcile enqueues the orphan, the missing and the stale point');
qdrant_converged($q, $node, 'after reconcile');
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '0',
	'reconcile finds nothing more');

# --- The collection deleted behind osv's back: created again and refilled. ---
# (osv_summaries is an alias of osv_summaries_v1; deleting the collection
# deletes the alias too.)
is((qdrant_request($q, 'DELETE', '/collections/osv_summaries_v1'))[1]{result}, 1, 'collection osv_summaries_v1 deleted');
add_summaries(290, 295);
qdrant_converged($q, $node, 'after the collection was deleted');

# --- The public search functions use Qdrant when it is configured. ----------
is($node->safe_psql('postgres',
		q{SELECT summary_id FROM osv.search_summaries(emb(3), 1)}),
	'3', 'search_summaries through Qdrant');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM osv.similar_summaries(3, 5) r
		  JOIN osv.summaries s ON s.id = r.summary_id
		 WHERE s.deleted_at IS NOT NULL OR s.embedding IS NULL OR r.summary_id = 3}),
	'0', 'similar_summaries through Qdrant: live neighbours only, itself excluded');

# --- TRUNCATE. ----------------------------------------------------------------
$node->safe_psql('postgres', 'TRUNCATE osv.summaries CASCADE');
add_summaries(300, 320);
qdrant_converged($q, $node, 'after TRUNCATE');

# --- The worker survives DROP EXTENSION. ------------------------------------
$pid = backend_pid($node);
$node->safe_psql('postgres', 'DROP EXTENSION osv CASCADE');
usleep(500_000);
is(backend_pid($node), $pid, 'worker idles after DROP EXTENSION');

$node->stop;
done_testing();
