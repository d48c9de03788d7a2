# A change of osv.qdrant_url and an embedded window: deletions made while
# osv points at another Qdrant, or at none, must reach the Qdrant it points
# at afterwards.  The worker reconciles every new (or returning) target:
# it enqueues every live summary and scrolls the collection page by page,
# enqueueing the points that have no live summary.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $qa = start_qdrant();
my $qb = start_qdrant();

my $node = PostgreSQL::Test::Cluster->new('target');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'osv'
osv.database = 'postgres'
osv.scheduler_worker = off
osv.qdrant_url = '$qa->{url}'
osv.vector_dimensions = 8
osv.vector_sync_naptime = '60s'
osv.vector_sync_backoff = '100ms'
osv.vector_sync_backoff_max = '1s'
osv.qdrant_timeout = '5s'
osv.vector_sync_in_doubt_fence = '2s'
});
$node->start;

sub set_and_reload
{
	my (%settings) = @_;
	for my $k (sort keys %settings)
	{
		$node->safe_psql('postgres', "ALTER SYSTEM SET $k = '$settings{$k}'");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	usleep(300_000);
}

sub user_points
{
	my ($server, $user) = @_;
	my $dump = qdrant_dump($server);
	return scalar grep { ($_->{payload}{user_id} // -1) == $user } values %$dump;
}

sub converged
{
	my ($server, $name) = @_;
	ok($node->poll_query_until('postgres',
			"SELECT synced_url = '$server->{url}|osv_summaries' FROM osv.vector_sync_targets"),
		"$name: the target is reconciled");
	ok(wait_synced($node), "$name: outbox drained");
	my @diff = compare_points($server, $node);
	is_deeply(\@diff, [], "$name: Qdrant equals the database")
	  or diag(join("\n", @diff[0 .. ($#diff > 10 ? 10 : $#diff)]));
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	CREATE FUNCTION emb(seed bigint) RETURNS real[] LANGUAGE sql IMMUTABLE
		AS $$ SELECT ARRAY(SELECT sin(seed * 7 + i)::real FROM generate_series(1, 8) i) $$;
	INSERT INTO osv.users (auth0_id, email)
		SELECT 'auth0|u' || g, 'u' || g || '@example.org' FROM generate_series(1, 4) g;
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 1 + (g % 4), 'pdf', 'doc ' || g, 'tap-bucket', 'k/' || g FROM generate_series(1, 412) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
converged($qa, 'first target');
is(user_points($qa, 1), 103, 'first target holds the 103 points of user 1');

# --- Another Qdrant; deletions there; then back to the first one. -----------
set_and_reload('osv.qdrant_url' => $qb->{url});
converged($qb, 'second target');
my $receipt = $node->safe_psql('postgres', q{SELECT osv.data_delete(1)});
$node->safe_psql('postgres', q{
	SELECT osv.soft_delete('osv.documents', id) FROM osv.documents WHERE id % 10 = 0;
	DELETE FROM osv.summaries WHERE id % 10 = 1;
	UPDATE osv.summaries SET topic = 'moved' WHERE id % 10 = 2;
});
converged($qb, 'deletions on the second target');
is(user_points($qb, 1), 0, 'second target: the erased user is gone');
is(user_points($qa, 1), 103, 'first target: the erased user is still there while osv points elsewhere');

set_and_reload('osv.qdrant_url' => $qa->{url});
converged($qa, 'back to the first target');
is(user_points($qa, 1), 0, 'first target: the user erased meanwhile is gone');

# --- An embedded window. -------------------------------------------------------
set_and_reload('osv.qdrant_url' => '');
ok($node->poll_query_until('postgres', q{SELECT synced_url IS NULL FROM osv.vector_sync_targets}),
	'embedded mode: the synced target is forgotten');
$node->safe_psql('postgres', q{
	SELECT osv.data_delete(2);
	DELETE FROM osv.summaries WHERE id % 10 = 3;
	SELECT osv.soft_delete('osv.users', 3);
});
cmp_ok(user_points($qa, 2), '>', 0, 'embedded mode: the erased user is still in Qdrant');
set_and_reload('osv.qdrant_url' => $qa->{url});
converged($qa, 'after the embedded window');
is(user_points($qa, 2) + user_points($qa, 3), 0, 'after the embedded window: erased and trashed users are gone');

# --- A change made in the embedded mode forgets the target by itself. -------
# (as when the URL is emptied and set again before the worker notices)
$node->safe_psql('postgres', q{SELECT osv.vector_resync()});
is($node->safe_psql('postgres', q{SELECT synced_url IS NOT NULL FROM osv.vector_sync_targets}), 't',
	'osv.vector_resync() leaves the synced target alone');

$node->stop;
done_testing();
