# Entries the vector sync worker keeps because an application held them
# when their batch was recorded belong to the claim of the worker's life:
# a new life (here after an embedded window: osv.qdrant_url emptied, then
# set again) releases that claim, in doubt, so the kept entries have no
# row to record any more.  They were kept for ever: the worker looked for
# them every second, one transaction each, for the rest of its life.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $q = start_qdrant();

my $node = PostgreSQL::Test::Cluster->new('held_new_life');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'osv'
osv.database = 'postgres'
osv.scheduler_worker = off
osv.qdrant_url = '$q->{url}'
osv.vector_dimensions = 8
osv.vector_sync_batch_size = 64
osv.qdrant_timeout = '30s'
osv.vector_sync_in_doubt_fence = '1s'
log_min_messages = debug1
});
$node->start;

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
# (The new life's release of the old claim waits for the application.)
usleep(1_500_000);
$app->query_safe('COMMIT');
$app->quit;
ok($node->poll_query_until('postgres', "SELECT worker_claim_id <> $claim FROM osv.vector_sync_targets"),
	'the worker began a new life');
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
