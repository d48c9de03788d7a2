# The exact scan's buffer hints (src/exact_scan.c, BufferHints): a backend
# pins the table's pages through the buffers where it last found them
# (ReadRecentBuffer()).  Hints that went stale give the same answers: after
# the table's pages were evicted from shared buffers and read into other
# buffers (some of which held other pages of the table before), after a
# rewrite of the table (a new relfilenode), after a page's rows changed,
# and in a transaction that wrote to the table.  Each comparison is against
# a fresh session, whose backend has no hints; the table's pages are
# checked to have moved, so that the stale path is really taken.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

# shared buffers smaller than the filler table, so that reading it into
# shared buffers evicts the summaries' pages
my $node = osv_node('hints', dimensions => 64, conf => q{
shared_buffers = '16MB'
max_parallel_workers_per_gather = 0
});

create_osv($node, emb => { dims => 64, term => 'sin(seed * 7 + i * (1 + seed % 5))' }, users => 10,
	documents => 8000, sql => q{
	CREATE EXTENSION pg_prewarm;
	CREATE EXTENSION pg_buffercache;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic ' || d.id % 3, 'summary ' || d.id, emb(d.id % 499) FROM osv.documents d;
	SELECT count(osv.soft_delete('osv.documents', id)) FROM osv.documents WHERE id % 11 = 0;
	VACUUM osv.summaries;
	CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 60000) g;
});
cmp_ok($node->safe_psql('postgres', q{SELECT pg_relation_size('osv.summaries') / 8192}),
	'>=', 200, 'the table has a few hundred pages');
cmp_ok($node->safe_psql('postgres', q{SELECT pg_relation_size('filler')}),
	'>', 16 * 1024 * 1024, 'the filler table is larger than shared buffers');

my @calls = (
	'osv.search_embedded(emb(5), 10)',
	'osv.search_embedded(emb(17), 1000)',
	q{osv.search_embedded(emb(5), 100, topic => 'topic 1')},
	'osv.search_embedded(emb(5), 100, user_id => 3)');

# A search's result as one line "n hits: id:score,...".
sub result_sql
{
	my ($call) = @_;
	return qq{SELECT count(*) || ' hits: ' || COALESCE(string_agg(summary_id || ':' || score, ',' ORDER BY o), '')
		FROM $call WITH ORDINALITY AS r(summary_id, score, o);};
}

# The answers of a fresh backend (no hints), one line per call.
sub fresh
{
	return $node->safe_psql('postgres', join("\n", map { result_sql($_) } @calls));
}

# The table's pages in shared buffers, as "block:buffer" sorted.
my $where = q{SELECT string_agg(relblocknumber || ':' || bufferid, ',' ORDER BY relblocknumber)
	FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('osv.summaries') AND relforknumber = 0};

my $want = fresh();
is(scalar(split /\n/, $want), scalar(@calls), 'one answer per call');
like($want, qr/^10 hits: /, 'the first call finds 10 hits');

# One session: search (hints filled), evict the table's pages by reading
# the filler table into shared buffers, read the table again into other
# buffers, search again; then change rows, rewrite the table, and search
# inside a transaction that writes to it.
my $all = join("\n", map { result_sql($_) } @calls);
my $out = $node->safe_psql('postgres', qq{
	SELECT pg_prewarm('osv.summaries') > 0 AS warm;
	$all
	CREATE TEMP TABLE before_evict AS $where;
	SELECT pg_prewarm('filler') > 0 AS evicted;
	SELECT count(*) AS summaries_left_in_buffers FROM pg_buffercache
		WHERE relfilenode = pg_relation_filenode('osv.summaries') AND relforknumber = 0;
	SELECT pg_prewarm('osv.summaries') > 0 AS rewarm;
	SELECT (SELECT * FROM before_evict) IS DISTINCT FROM ($where) AS moved;
	$all
});
my @lines = split /\n/, $out;
my @hits = grep { /hits/ } @lines;
is(scalar(@hits), 2 * scalar(@calls), 'two answers per call in one session');
is(join("\n", @hits[0 .. $#calls]), $want, 'first searches of the session = a fresh session');
cmp_ok($lines[ 2 + scalar(@calls) ], '<', 20, 'reading the filler table evicted the table\'s pages');
is($lines[ 4 + scalar(@calls) ], 't', 'read again, the table\'s pages lie in other buffers');
is(join("\n", @hits[ scalar(@calls) .. $#hits ]), $want, 'searches with stale hints = a fresh session');

# Rows changed between two searches of one session (the hints still right):
# the second search sees the change, as a fresh session does.
$out = $node->safe_psql('postgres', qq{
	$all
	UPDATE osv.summaries SET embedding = emb(5) WHERE id % 97 = 1;
	$all
});
@hits = grep { /hits/ } split /\n/, $out;
is(join("\n", @hits[0 .. $#calls]), $want, 'before the change = a fresh session before it');
is(join("\n", @hits[ scalar(@calls) .. $#hits ]), fresh(), 'after the change = a fresh session after it');
isnt(fresh(), $want, 'the change changed the answers');
$want = fresh();

# A rewrite (new relfilenode, the old buffers dropped) between two searches.
$out = $node->safe_psql('postgres', qq{
	$all
	VACUUM FULL osv.summaries;
	$all
});
@hits = grep { /hits/ } split /\n/, $out;
is(join("\n", @hits), join("\n", $want, $want), 'before and after VACUUM FULL = a fresh session');

# In a transaction that writes to the table, after searches filled hints:
# its own rows count, as in a fresh session running the same transaction.
my $xact = q{
	BEGIN;
	UPDATE osv.summaries SET embedding = emb(17) WHERE id % 89 = 2;
	DELETE FROM osv.summaries WHERE id IN (SELECT summary_id FROM osv.search_embedded(emb(5), 3));
};
my $in_xact = $node->safe_psql('postgres', qq{$xact $all ROLLBACK;});
$out = $node->safe_psql('postgres', qq{$all $xact $all ROLLBACK; $all});
@hits = grep { /hits/ } split /\n/, $out;
is(join("\n", @hits[ scalar(@calls) .. 2 * scalar(@calls) - 1 ]), $in_xact,
	'in a writing transaction, with hints = a fresh session');
isnt($in_xact, $want, 'the transaction changed the answers');
is(join("\n", @hits[ 2 * scalar(@calls) .. $#hits ]), $want, 'after its rollback, the answers of before');

$node->stop;
done_testing();
