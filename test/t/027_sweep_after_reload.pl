# An erasure sweep due when the vector sync worker checks the collection
# (at its start and after each reload) is sent at once afterwards: the
# round that checks the collection must not leave the sweeps it claimed
# leased (osv.qdrant_timeout * 17 + 5 s: minutes), which would delay the
# erasure in Qdrant past "within a minute of Qdrant answering normally
# again" (DESIGN.md section 9).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('sweep_reload', qdrant => $q, sync => { naptime => '1s', backoff => '1h', backoff_max => '1h' },
	conf => q{
osv.qdrant_timeout = '10s'
osv.qdrant_connect_timeout = '1s'
});

create_osv($node, emb => {}, users => 2, documents => 10, sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'odd', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
ok(wait_synced($node), 'first sync');

# An outage backs the worker off (for an hour); an erasure meanwhile
# queues its sweep.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 600 });
# (A summary of user 1: an upsert in doubt of user 2 would move the sweep.)
$node->safe_psql('postgres', 'UPDATE osv.summaries SET embedding = emb(id + 100) WHERE id = (SELECT min(id) FROM osv.summaries WHERE user_id = 1)');
ok($node->poll_query_until('postgres', q{SELECT retry_at > now() + interval '10 minutes' FROM osv.vector_sync_status}),
	'the outage backs the sync off');
$node->safe_psql('postgres', 'SELECT osv.data_delete(2)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM osv.vector_erasure_sweeps WHERE user_id = 2'), '1',
	'the erasure queued its sweep');

# Qdrant is back; a reload ends the back-off and makes the worker check
# the collection again.
qdrant_request($q, 'DELETE', '/__test/outage');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

my $gone = 0;
my $until = time() + 30;
while (time() < $until)
{
	if ($node->safe_psql('postgres', 'SELECT count(*) FROM osv.vector_erasure_sweeps') eq '0')
	{
		$gone = 1;
		last;
	}
	usleep(100_000);
}
ok($gone, 'the sweep is sent within 30 s of the reload')
  or diag($node->safe_psql('postgres', 'SELECT user_id, due_at, lease_until, claim_id, last_error, now() FROM osv.vector_erasure_sweeps'));
ok(wait_synced($node), 'the outbox drains');
my @diff = compare_points($q, $node);
is_deeply(\@diff, [], 'Qdrant equals the database');

$node->stop;
done_testing();
