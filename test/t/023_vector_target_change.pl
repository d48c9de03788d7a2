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
use OsvTest;

my $qa = start_qdrant();
my $qb = start_qdrant();

my $node = osv_node('target', qdrant => $qa, scheduler => 0,
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '1s', in_doubt_fence => '2s' },
	conf => "osv.qdrant_timeout = '5s'\n");

sub converged { qdrant_converged($_[0], $node, $_[1], target => 1); }

create_osv($node, emb => {}, users => 4, documents => 412, sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});
converged($qa, 'first target');
is(user_points($qa, 1), 103, 'first target holds the 103 points of user 1');

# --- Another Qdrant; deletions there; then back to the first one. -----------
set_and_reload($node, 'osv.qdrant_url' => $qb->{url});
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

set_and_reload($node, 'osv.qdrant_url' => $qa->{url});
converged($qa, 'back to the first target');
is(user_points($qa, 1), 0, 'first target: the user erased meanwhile is gone');

# --- An embedded window. -------------------------------------------------------
set_and_reload($node, 'osv.qdrant_url' => '');
ok($node->poll_query_until('postgres', q{SELECT synced_url IS NULL FROM osv.vector_sync_targets}),
	'embedded mode: the synced target is forgotten');
$node->safe_psql('postgres', q{
	SELECT osv.data_delete(2);
	DELETE FROM osv.summaries WHERE id % 10 = 3;
	SELECT osv.soft_delete('osv.users', 3);
});
cmp_ok(user_points($qa, 2), '>', 0, 'embedded mode: the erased user is still in Qdrant');
set_and_reload($node, 'osv.qdrant_url' => $qa->{url});
converged($qa, 'after the embedded window');
is(user_points($qa, 2) + user_points($qa, 3), 0, 'after the embedded window: erased and trashed users are gone');

# --- A change made in the embedded mode forgets the target by itself. -------
# (as when the URL is emptied and set again before the worker notices)
$node->safe_psql('postgres', q{SELECT osv.vector_resync()});
is($node->safe_psql('postgres', q{SELECT synced_url IS NOT NULL FROM osv.vector_sync_targets}), 't',
	'osv.vector_resync() leaves the synced target alone');

$node->stop;
done_testing();
