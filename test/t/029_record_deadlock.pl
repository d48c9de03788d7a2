# The vector sync worker's record never waits for a row lock of another
# transaction, so it cannot deadlock with an application's transaction
# that enqueues several summaries (a cascade of a soft delete, say) in its
# own order, nor stall behind one.  Found by 030_replica: a soft delete
# failed with "deadlock detected" against the worker recording a batch.
#
# A batch of summaries is in flight (the Qdrant test server delays the
# answer); a session then changes one summary of the batch in the middle of
# its ids and keeps its transaction open.  The worker's record of the batch
# finds that entry held: before the fix it waited for it holding the
# entries before it; the session's next change of one of those entries
# then closed the cycle, and the session (a short deadlock_timeout makes it
# the one that detects) got the error.  Now the worker records the other
# entries and keeps the held one for a later round, syncing other changes
# meanwhile.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('record_deadlock', scheduler => 0, qdrant => $q, sync => { batch_size => 64 },
	conf => "osv.qdrant_timeout = '30s'\n");

create_osv($node, emb => { term => 'cos(seed * 3 + i)' }, users => ['d1'], documents => 20, doc_type => 'text',
	bucket => 'docs', key_prefix => 'd/', sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'start', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
ok(wait_synced($node), 'the first sync drains the outbox');

my $app = $node->background_psql('postgres', on_error_stop => 0);
$app->query_safe(q{SET deadlock_timeout = '10ms'});

# One batch of summaries 1-20 in flight for 6 s.
my ($status) = qdrant_request($q, 'POST', '/__test/faults',
	{ faults => [ { method => 'PUT', path => '/points', count => 1, action => { type => 'delay', ms => 6000 } } ] });
is($status, 200, 'a slow answer is set up');
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'batch'});
ok($node->poll_query_until('postgres', 'SELECT in_flight = 20 FROM osv.vector_sync_status'),
	'the batch of 20 entries is in flight');

# Hold summary 10's entry until the batch is answered.
$app->query_safe('BEGIN');
$app->query_safe(q{UPDATE osv.summaries SET topic = 'app 10' WHERE id = 10});
ok($node->poll_query_until('postgres', 'SELECT in_flight = 1 FROM osv.vector_sync_status'),
	'the batch is recorded but for the entry the application holds');

# Change summary 3 too: before the fix its entry was locked by the waiting record.
my ($out, $ret) = $app->query(q{UPDATE osv.summaries SET topic = 'app 3' WHERE id = 3});
is($ret, 0, 'the application changes another summary of the batch without a deadlock')
  or diag($app->{stderr});

# The worker goes on meanwhile: another session's change reaches Qdrant.
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'other 15' WHERE id = 15});
my $other = '';
for (1 .. 300)
{
	$other = qdrant_dump($q)->{15}{payload}{topic} // '';
	last if $other eq 'other 15';
	usleep(100_000);
}
is($other, 'other 15', "other changes are synced while the application's transaction is open");
is($node->safe_psql('postgres', 'SELECT in_flight FROM osv.vector_sync_status'), '1',
	'the held entry is still claimed by the recorded batch');
$app->query_safe('COMMIT');
$app->quit;

ok(wait_synced($node), 'the outbox drains after the application commits');
qdrant_matches($q, $node, 'Qdrant equals the database');
my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock in the server log');

# The entries of a batch changed while it is in flight are sent again: the
# database's topics reached Qdrant.
my $dump = qdrant_dump($q);
is(join(',', map { $dump->{$_}{payload}{topic} } (3, 10, 11)), 'app 3,app 10,batch',
	"Qdrant holds the application's changes");

$node->stop;
done_testing();
