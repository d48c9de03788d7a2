# Changing the embedding model without downtime (DESIGN.md section 10),
# against the Qdrant-compatible test server with the sync worker running.
# Starts from a plain collection called like the alias, as osv 1.0 made it:
# osv keeps using it as version 1.  A first run (8 -> 12 dimensions) fills
# osv_summaries_v2 from summaries.embedding_next while search serves the old
# vectors; the progress view follows; finish is refused while incomplete;
# deletes during the run reach both collections; a SIGKILL of the worker
# mid-run converges; finish replaces the plain collection by the alias.  A
# second run (12 -> 8) switches the alias from v2 to v3 and deletes v2.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('reembed', scheduler => 0, qdrant => $q,
	sync => { naptime => '1s', backoff => '100ms', backoff_max => '1s', in_doubt_fence => '1s' },
	conf => "restart_after_crash = on\n");

# The plain collection of osv 1.0, with one point osv will find an orphan.
my ($status) = qdrant_request($q, 'PUT', '/collections/osv_summaries',
	{ vectors => { size => 8, distance => 'Cosine' } });
is($status, 200, 'a plain collection osv_summaries exists (as osv 1.0 made it)');
($status) = qdrant_request($q, 'PUT', '/collections/osv_summaries/points?wait=true',
	{ points => [ { id => 999, vector => [ (0.5) x 8 ], payload => { user_id => 1 } } ] });
is($status, 200, 'with a point of a summary that no longer exists');

# emb(): the old model (8 dimensions) and the new ones (12, then 8 again).
create_osv($node, emb => { term => 'sin(seed * 7 + i * dims)', dims_argument => 1 }, users => 4, user_prefix => 'r',
	documents => 60, sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic' || (d.id % 3), 'summary ' || d.id, CASE WHEN d.id % 10 <> 0 THEN emb(d.id) END
		  FROM osv.documents d WHERE d.id <= 50;
});

sub collections
{
	my (undef, $body) = qdrant_request($q, 'GET', '/collections');
	return join(',', sort map { $_->{name} } @{ $body->{result}{collections} });
}

sub aliases
{
	my (undef, $body) = qdrant_request($q, 'GET', '/aliases');
	return join(',', sort map { "$_->{alias_name}->$_->{collection_name}" } @{ $body->{result}{aliases} });
}

# The points a collection must hold for the new embeddings.
sub next_points
{
	my $out = $node->safe_psql('postgres', q{
		SELECT id, array_to_string(embedding_next, ',') FROM osv.summaries
		 WHERE deleted_at IS NULL AND embedding_next IS NOT NULL ORDER BY id});
	return { map { my ($id, $v) = split /\|/; ($id => [ split /,/, $v ]) } split /\n/, $out };
}

sub compare_next
{
	my ($collection, $name) = @_;
	my $want = next_points();
	my $have = qdrant_dump($q, $collection);
	my @diff;
	for my $id (sort { $a <=> $b } keys %$want)
	{
		my $p = $have->{$id} or do { push @diff, "summary $id missing"; next };
		my @w = @{ $want->{$id} };
		my $norm = 0;
		$norm += $_ * $_ for @w;
		$norm = sqrt($norm);
		push @diff, "summary $id: vector differs"
		  if @{ $p->{vector} } != @w
		  || grep { abs($p->{vector}[$_] - $w[$_] / $norm) > 1e-5 } 0 .. $#w;
	}
	push @diff, map { "point $_ has no new embedding" } grep { !$want->{$_} } sort keys %$have;
	is_deeply(\@diff, [], "$name: $collection holds the new embeddings")
	  or diag(join("\n", @diff[0 .. ($#diff > 10 ? 10 : $#diff)]));
}

sub converged
{
	qdrant_converged($q, $node, $_[0], what => 'the alias (or plain collection) equals summaries.embedding');
}

sub search_top
{
	my ($query) = @_;
	return $node->safe_psql('postgres', "SELECT summary_id FROM osv.search_summaries($query, 1)");
}

# --- Version 1 is the plain collection of osv 1.0. ---------------------------
converged('legacy collection');
is(aliases(), '', 'legacy: no alias is made while the plain collection serves');
is(collections(), 'osv_summaries', 'legacy: no other collection');
is(search_top('emb(7)'), '7', 'legacy: search serves the old vectors');

# --- A run to 12 dimensions. --------------------------------------------------
is($node->safe_psql('postgres', 'SELECT osv.start_reembedding(12)'), '2', 'start_reembedding returns version 2');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT osv.start_reembedding(16)');
like($err, qr/re-embedding to version 2 is already running/, 'a second start is refused');

# The pipeline writes half of the new embeddings, and a new summary with both.
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding_next = emb(id, 12) WHERE id <= 25 AND embedding IS NOT NULL;
	INSERT INTO osv.summaries (document_id, topic, content, embedding, embedding_next)
		VALUES (51, 'topic0', 'summary 51', emb(51), emb(51, 12));
});
converged('half of the run');
compare_next('osv_summaries_v2', 'half of the run');
($status, my $info) = qdrant_request($q, 'GET', '/collections/osv_summaries_v2');
is($info->{result}{config}{params}{vectors}{size}, 12, 'the new collection has 12 dimensions');
is(search_top('emb(31)'), '31', 'during the run search serves the old vectors');
is(search_top('emb(7)'), '7', 'during the run, also for summaries that have a new embedding');
is($node->safe_psql('postgres', q{
		SELECT format('%s %s %s %s %s %s', version, dimensions, total, embedded, synced, percent)
		  FROM osv.reembedding_progress}),
	'2 12 46 24 24 52.2', 'progress: 46 live summaries to move, 24 embedded and synced');

($ret, $out, $err) = $node->psql('postgres', 'SELECT osv.finish_reembedding()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: re-embedding to version 2 is not complete/, 'finish refused while incomplete, SQLSTATE 55000');
like($err, qr/22 live summaries have an embedding but no new embedding/, 'with the count of what is missing');
is(aliases(), '', 'a refused finish leaves Qdrant alone');

# --- Deletes during the run reach both collections. --------------------------
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET deleted_at = now() WHERE id = 3;
	DELETE FROM osv.summaries WHERE id = 4;
	UPDATE osv.summaries SET embedding_next = NULL WHERE id = 5;
});
converged('deletes during the run');
compare_next('osv_summaries_v2', 'deletes during the run');
my $v2 = qdrant_dump($q, 'osv_summaries_v2');
ok(!$v2->{3} && !$v2->{4} && !$v2->{5}, 'trashed, deleted and cleared summaries left the new collection');

# --- The rest, with the worker killed in the middle. -------------------------
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding_next = emb(id, 12) WHERE embedding IS NOT NULL AND embedding_next IS NULL});
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv vector sync'");
kill 'KILL', $pid if $pid;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'osv vector sync'"),
	'the worker is back after SIGKILL');
converged('after SIGKILL mid-run');
compare_next('osv_summaries_v2', 'after SIGKILL mid-run');
is($node->safe_psql('postgres', 'SELECT format($$%s %s %s$$, embedded, synced, percent) FROM osv.reembedding_progress'),
	'44 44 100.0', 'progress: complete');

# --- Finish: the plain collection gives way to the alias. --------------------
is($node->safe_psql('postgres', 'SELECT osv.finish_reembedding()'), '2', 'finish_reembedding returns 2');
is(aliases(), 'osv_summaries->osv_summaries_v2', 'the alias names version 2');
is(collections(), 'osv_summaries_v2', 'the plain collection is gone');
is($node->safe_psql('postgres', 'SELECT osv.embedding_dimensions()'), '12', 'the active dimension is 12');
is($node->safe_psql('postgres', 'SELECT count(*) FROM osv.reembedding_progress'), '0', 'no run in progress');
converged('after the switch');
is(search_top('emb(31, 12)'), '31', 'search uses the new vectors');
($ret, $out, $err) = $node->psql('postgres', 'SELECT osv.search_summaries(emb(31), 1)');
like($err, qr/query vector has the wrong number of dimensions/, 'an old query vector is refused');
$node->safe_psql('postgres', q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		VALUES (52, 'topic1', 'summary 52', emb(52, 12))});
converged('a write after the switch');

# --- A second run switches alias to alias, and retires v2. -------------------
is($node->safe_psql('postgres', 'SELECT osv.start_reembedding(8)'), '3', 'a second run is version 3');
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding_next = emb(id + 1000) WHERE embedding IS NOT NULL AND id % 2 = 0});
ok(wait_synced($node), 'second run: half synced');
compare_next('osv_summaries_v3', 'second run, half');
# An erasure reaches both collections.
my $gone_user = $node->safe_psql('postgres', 'SELECT user_id FROM osv.summaries WHERE id = 8');
$node->safe_psql('postgres', "SELECT osv.data_delete($gone_user)");
ok($node->poll_query_until('postgres', 'SELECT erasure_sweeps = 0 FROM osv.vector_sync_status'),
	'second run: the erasure sweep is done');
converged('second run, erasure');
compare_next('osv_summaries_v3', 'second run, erasure');
ok(!grep({ $_->{payload}{user_id} == $gone_user } values %{ qdrant_dump($q, 'osv_summaries_v3') }),
	'the erased user has no point in the new collection');
$node->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding_next = emb(id + 1000) WHERE embedding IS NOT NULL AND embedding_next IS NULL});
ok(wait_synced($node), 'second run: synced');
is($node->safe_psql('postgres', 'SELECT osv.finish_reembedding()'), '3', 'second finish returns 3');
is(aliases(), 'osv_summaries->osv_summaries_v3', 'the alias names version 3');
is(collections(), 'osv_summaries_v3', 'version 2 is deleted');
converged('after the second switch');
is(search_top('emb(1031)'), '31', 'search uses the vectors of version 3');

$node->stop;
done_testing();
