# osv.vector_sync() in a session, with osv not preloaded (no worker, no
# shared memory): it drains the outbox to the Qdrant-compatible server; a
# sync whose transaction rolls back is sent again, and Qdrant converges on
# the database; search and reconcile work too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('session', preload => '', qdrant => $q, sync => { batch_size => 16 });

create_osv($node, emb => { term => 'cos(seed * 3 + i)' }, users => 3, user_prefix => 's', documents => 60,
	doc_type => 'text', bucket => 'session-docs', key_prefix => 'session/', sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic' || (d.id % 2), 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv vector sync'}),
	'0', 'no worker without preloading');

sub synced { qdrant_matches($q, $node, "$_[0]: Qdrant equals the database"); }

is($node->safe_psql('postgres', 'SELECT osv.vector_sync()'), '60', 'vector_sync sends every summary');
is($node->safe_psql('postgres', 'SELECT pending FROM osv.vector_sync_status'), '0', 'outbox empty');
synced('first sync');

$node->safe_psql('postgres', q{
	SELECT osv.soft_delete('osv.documents', 1);
	UPDATE osv.users SET deleted_at = now() WHERE id = 2;
	DELETE FROM osv.summaries WHERE id = 3;
	UPDATE osv.summaries SET topic = 'moved' WHERE id = 4;
});
is($node->safe_psql('postgres', 'SELECT osv.vector_sync(5)'), '5', 'max_entries bounds a run');
$node->safe_psql('postgres', 'SELECT osv.vector_sync()');
synced('trash, delete, update');

# A sync inside a transaction that rolls back: Qdrant got the new state, the
# outbox entry comes back with the rollback, and the next sync restores the
# state the database kept.
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE osv.summaries SET embedding = emb(1000), topic = 'rolled back' WHERE id = 5;
	SELECT osv.vector_sync();
	ROLLBACK;
});
is($node->safe_psql('postgres', q{SELECT topic FROM osv.summaries WHERE id = 5}), 'topic1',
	'the change was rolled back');
is(qdrant_dump($q)->{5}{payload}{topic}, 'rolled back', 'Qdrant holds the rolled back state for now');
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '1', 'reconcile finds the stale point');
$node->safe_psql('postgres', 'SELECT osv.vector_sync()');
synced('after the rolled back sync');

is($node->safe_psql('postgres',
		q{SELECT summary_id FROM osv.qdrant_search(emb(9), 1, NULL, NULL, NULL)}),
	'9', 'qdrant_search without preloading');
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '0', 'nothing left to reconcile');

# The sync reads the summaries straight from the table and writes
# created_at itself; reconcile's fingerprints come from to_char: they must
# agree, for microseconds and other time zones, and for the years to_char
# writes itself (outside 1 .. 9999).  (Summaries of live users: 6, 11, 12, 14.)
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET created_at = '2026-01-02 03:04:05.000007+05' WHERE id = 6;
	UPDATE osv.summaries SET created_at = '0044-03-15 12:00:00 BC' WHERE id = 11;
	UPDATE osv.summaries SET created_at = '12026-01-01 00:00:00.5+00' WHERE id = 12;
});
is($node->safe_psql('postgres', 'SELECT osv.vector_sync()'), '3', 'changed created_at sent');
is(qdrant_dump($q)->{6}{payload}{created_at}, '2026-01-01T22:04:05.000007Z', 'created_at in UTC with microseconds');
is($node->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '0',
	'the fingerprints of the sync and of reconcile agree');

# A created_at that is not finite cannot be sent: parked, with the reason.
$node->safe_psql('postgres', q{UPDATE osv.summaries SET created_at = 'infinity' WHERE id = 14});
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT osv.vector_sync()');
is($out, '0', 'a created_at that is not finite is not sent');
like($err, qr/summary 14 cannot be sent to Qdrant: created_at is not finite/, 'warning of the parked entry');
is($node->safe_psql('postgres', q{SELECT state FROM osv.vector_outbox WHERE summary_id = 14}), 'failed',
	'the entry is parked');

$node->stop;
done_testing();
