# Entries the vector sync worker keeps because an application held them
# when their batch was recorded belong to the claim of the worker's life:
# a new life (here after an embedded window: osv.qdrant_url emptied, then
# set again) releases that claim, in doubt, so the kept entries have no
# row to record any more.  They were kept for ever: the worker looked for
# them every second, one transaction each, for the rest of its life.  The
# release itself skips the entry the application holds, and takes it after
# the application's commit: it waited for the application, so the worker
# stalled (and with it the erasure sweeps) while that transaction stayed
# open.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('held_new_life', scheduler => 0, qdrant => $q,
	sync => { batch_size => 64, in_doubt_fence => '1s' },
	conf => "osv.qdrant_timeout = '30s'\nlog_min_messages = debug1\n");

$node->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	CREATE FUNCTION emb(seed bigint) RETURNS real[] LANGUAGE sql IMMUTABLE
		AS $$ SELECT ARRAY(SELECT cos(seed * 3 + i)::real FROM generate_series(1, 8) i) $$;
	INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|h1', 'h1@example.org');
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 1, 'text', 'doc ' || g, 'docs', 'h/' || g FROM generate_series(1, 20) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'start', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
ok(wait_synced($node), 'the first sync drains the outbox');

# A batch in flight for 4 s; the application holds summary 10's entry.
my $app = $node->background_psql('postgres');
my ($status) = qdrant_request($q, 'POST', '/__test/faults',
	{ faults => [ { method => 'PUT', path => '/points', count => 1, action => { type => 'delay', ms => 4000 } } ] });
is($status, 200, 'a slow answer is set up');
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'batch'});
ok($node->poll_query_until('postgres', 'SELECT in_flight = 20 FROM osv.vector_sync_status'),
	'the batch of 20 entries is in flight');
$app->query_safe('BEGIN');
$app->query_safe(q{UPDATE osv.summaries SET topic = 'app 10' WHERE id = 10});
ok($node->poll_query_until('postgres', 'SELECT in_flight = 1 FROM osv.vector_sync_status'),
	'the batch is recorded but for the entry the application holds');

# An embedded window, then Qdrant again: the worker begins a new life.
my $claim = $node->safe_psql('postgres', 'SELECT worker_claim_id FROM osv.vector_sync_targets');
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.qdrant_url = ''});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT state = 'idle' FROM osv.worker_status() WHERE worker = 'vector sync'}),
	'the worker is idle in the embedded mode');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET osv.qdrant_url});
$node->reload;
# The new life releases the old claim's entries but the one the
# application holds, without waiting for it (it waited until the
# application's commit): it begins at once and syncs other changes while
# the application's transaction stays open; the held entry keeps the old
# claim until then, and is released after the commit.
ok($node->poll_query_until('postgres', "SELECT worker_claim_id <> $claim FROM osv.vector_sync_targets"),
	'the worker began a new life while the application holds an entry of the old claim');
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'while held' WHERE id = 3});
ok($node->poll_query_until('postgres', q{SELECT NOT EXISTS (SELECT FROM osv.vector_outbox WHERE summary_id = 3)}),
	'another change syncs while the application holds the entry');
is($node->safe_psql('postgres', "SELECT claim_id = $claim FROM osv.vector_outbox WHERE summary_id = 10"), 't',
	'the held entry keeps the old claim meanwhile');
$app->query_safe('COMMIT');
$app->quit;
ok($node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM osv.vector_outbox WHERE claim_id = $claim)"),
	'the held entry is released after the commit');
ok(wait_synced($node), 'the outbox drains');
is_deeply([ compare_points($q, $node) ], [], 'Qdrant equals the database');

# Nothing is kept any more: no look for held entries in the next 3 s.
my $offset = -s $node->logfile;
usleep(3_000_000);
my $log = slurp_file($node->logfile, $offset);
my $looks = () = $log =~ /recorded after other transactions held them/g;
is($looks, 0, 'the worker no longer looks for entries of its old claim')
  or diag($log =~ /(osv vector sync: \d+ entries of claim.*)/ ? $1 : '');

$node->stop;
stop_qdrant($q);
done_testing();
