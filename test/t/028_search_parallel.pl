# The embedded search's parallel scan (src/parallel_scan.c, issue 14):
# with osv.search_parallel_workers and max_parallel_workers_per_gather > 0 (the
# first is 0 by default: then no worker starts) and a table of at least
# min_parallel_table_scan_size, osv.search_embedded() shares its
# sequential scan with parallel workers, and answers exactly as the serial
# scan (max_parallel_workers_per_gather = 0): the same ids, order and
# scores, ties included, over trashed rows, rows without embedding, rows
# of other dimensions, pages all-visible or not, with filters, in a
# transaction that has written to osv.summaries (also in a subtransaction),
# under SERIALIZABLE, and on a hot standby.  Workers are really started
# (seen in pg_stat_activity), and a statement time-out during the searches
# leaves none behind.  With parallel_leader_participation off the workers
# scan the whole table (the leader only merges), which the comparisons use
# so that they do not depend on how fast the workers start.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;
use Time::HiRes qw(usleep);

my $node = osv_node('parallel', streaming => 1, dimensions => 64, conf => q{
max_worker_processes = 10
max_parallel_workers = 6
min_parallel_table_scan_size = '64kB'
parallel_setup_cost = 0
osv.search_parallel_workers = 4
});

# 24,000 summaries over 30 users (half of them user 1's), 60% of topic
# "common"; embeddings repeat every 997 rows, so that many scores tie and
# the order between equal scores (lower id first) decides.
create_osv($node, emb => { dims => 64, dims_argument => 1, term => 'sin(seed * 7 + i * (1 + seed % 5))' },
	users => 30, sql => q{
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT CASE WHEN g % 2 = 0 THEN 1 ELSE 2 + g % 29 END, 'pdf', 'doc ' || g, 'tap-bucket', 'k/' || g
		FROM generate_series(1, 24000) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, CASE WHEN d.id % 5 < 3 THEN 'common' ELSE 'rare ' || d.id % 7 END,
			   'summary ' || d.id, CASE WHEN d.id % 101 = 0 THEN NULL ELSE emb(d.id % 997) END
		FROM osv.documents d;
	SELECT count(osv.soft_delete('osv.documents', id)) FROM osv.documents WHERE id % 13 = 0;
	VACUUM (FREEZE) osv.summaries;
	-- pages no longer all-visible, and rows of another dimension (written
	-- while the trigger was off, as after a change of osv.vector_dimensions)
	UPDATE osv.summaries SET content = content || ' (edited)' WHERE id % 211 = 0;
	ALTER TABLE osv.summaries DISABLE TRIGGER check_embedding;
	UPDATE osv.summaries SET embedding = emb(id % 997, 32) WHERE id % 307 = 0;
	ALTER TABLE osv.summaries ENABLE TRIGGER check_embedding;
});
cmp_ok($node->safe_psql('postgres', q{SELECT pg_relation_size('osv.summaries') / 8192}),
	'>=', 8 * 9, 'the table spans min_parallel_table_scan_size thrice over (2 workers)');

# A search's result as "id:score,..." in order, after the given settings.
sub result
{
	my ($node, $settings, $call) = @_;
	return $node->safe_psql('postgres', qq{$settings;
		SELECT count(*) || ' hits: ' || COALESCE(string_agg(summary_id || ':' || score, ',' ORDER BY o), '')
		FROM $call WITH ORDINALITY AS r(summary_id, score, o)});
}

my @calls = (
	'osv.search_embedded(emb(5), 10)',
	'osv.search_embedded(emb(5), 1)',
	'osv.search_embedded(emb(5), 1000)',
	'osv.search_embedded(emb(123), 50)',
	'osv.search_embedded(emb(400)::real[], 1000)',
	q{osv.search_embedded(emb(5), 100, topic => 'common')},
	'osv.search_embedded(emb(5), 100, user_id => 1)',
	'osv.search_embedded(emb(5), 100, exclude_user_id => 1)',
	'osv.search_embedded(emb(5), 100, exclude_summary_id => 5)',
	q{osv.search_embedded(emb(5), 10, topic => 'no such topic')});
for my $call (@calls)
{
	my $serial = result($node, 'SET max_parallel_workers_per_gather = 0', $call);
	my $parallel = result($node, 'SET max_parallel_workers_per_gather = 2', $call);
	my $workers_only = result($node,
		'SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off', $call);
	like($serial, qr/^\d+ hits/, "serial: $call");
	is($parallel, $serial, "parallel = serial: $call");
	is($workers_only, $serial, "parallel, the workers alone = serial: $call");
}
like(result($node, 'SET max_parallel_workers_per_gather = 4', $calls[2]), qr/^1000 hits/,
	'four workers asked for, two by the table size: 1000 hits');
is(result($node, 'SET max_parallel_workers_per_gather = 4', $calls[2]),
	result($node, 'SET max_parallel_workers_per_gather = 0', $calls[2]),
	'parallel = serial with max_parallel_workers_per_gather = 4');
is(result($node, 'SET max_parallel_workers_per_gather = 2; SET max_parallel_workers = 0; SET parallel_leader_participation = off', $calls[2]),
	result($node, 'SET max_parallel_workers_per_gather = 0', $calls[2]),
	'no worker can start (max_parallel_workers = 0): the leader scans alone, even without leader participation, same result');

# In a transaction that has written: rows inserted (in the transaction and
# in a subtransaction) at the end of the table, rows deleted, trashed and
# updated in place; workers see the leader's changes as the leader does.
my $in_xact = q{
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 3, 'pdf', 'new ' || g, 'tap-bucket', 'new/' || g FROM generate_series(1, 3000) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT id, 'new', 'new summary', emb(5) FROM osv.documents WHERE storage_key LIKE 'new/%' AND id % 2 = 0;
	SAVEPOINT s;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT id, 'new', 'new summary', emb(5) FROM osv.documents WHERE storage_key LIKE 'new/%' AND id % 2 = 1;
	DELETE FROM osv.summaries WHERE id IN (SELECT summary_id FROM osv.search_embedded(emb(5), 7));
	SELECT count(osv.soft_delete('osv.summaries', id)) FROM osv.summaries WHERE embedding = emb(5) AND id % 3 = 0 AND id < 20000;
	UPDATE osv.summaries SET embedding = emb(5) WHERE id % 997 = 6;
};
for my $call ($calls[2], $calls[0], q{osv.search_embedded(emb(6), 1000, topic => 'new')})
{
	my $out = $node->safe_psql('postgres', qq{
		BEGIN;
		$in_xact
		SET LOCAL max_parallel_workers_per_gather = 0;
		SELECT count(*) || ' hits: ' || string_agg(summary_id || ':' || score, ',' ORDER BY o)
		FROM $call WITH ORDINALITY AS r(summary_id, score, o);
		SET LOCAL max_parallel_workers_per_gather = 2;
		SELECT count(*) || ' hits: ' || string_agg(summary_id || ':' || score, ',' ORDER BY o)
		FROM $call WITH ORDINALITY AS r(summary_id, score, o);
		SET LOCAL parallel_leader_participation = off;
		SELECT count(*) || ' hits: ' || string_agg(summary_id || ':' || score, ',' ORDER BY o)
		FROM $call WITH ORDINALITY AS r(summary_id, score, o);
		ROLLBACK;});
	my @lines = grep { /hits/ } split /\n/, $out;
	is(scalar(@lines), 3, "after writes: three results: $call");
	is($lines[1], $lines[0], "after writes: parallel = serial: $call");
	is($lines[2], $lines[0], "after writes: parallel, the workers alone = serial: $call");
}

# Inside a parallel worker of a plan (force_parallel_mode), the search
# scans alone; from a cursor, it answers as from a query.  (The query as a
# constant: emb() is not parallel safe.)
my $const_call = "osv.search_embedded('" . $node->safe_psql('postgres', 'SELECT emb(5)') . "'::real[], 1000)";
like($node->safe_psql('postgres', qq{SET force_parallel_mode = on; SET max_parallel_workers_per_gather = 2;
	EXPLAIN (COSTS OFF) SELECT * FROM $const_call}), qr/Single Copy: true/,
	'force_parallel_mode: the search runs in a parallel worker');
is(result($node, 'SET force_parallel_mode = on; SET max_parallel_workers_per_gather = 2', $const_call),
	result($node, 'SET max_parallel_workers_per_gather = 0', $calls[2]),
	'force_parallel_mode: the search in a parallel worker = serial');
is($node->safe_psql('postgres', qq{
	SET max_parallel_workers_per_gather = 2;
	SET parallel_leader_participation = off;
	BEGIN;
	DECLARE c CURSOR FOR SELECT * FROM $calls[2];
	FETCH 3 FROM c;
	FETCH ALL FROM c;
	COMMIT;}),
	$node->safe_psql('postgres', qq{SET max_parallel_workers_per_gather = 0; SELECT * FROM $calls[2]}),
	'a cursor over a parallel search: the serial rows');

# The search inside a statement that writes, and under SERIALIZABLE.
is($node->safe_psql('postgres', q{
	CREATE TABLE kept (summary_id bigint, score real);
	SET max_parallel_workers_per_gather = 2;
	INSERT INTO kept SELECT * FROM osv.search_embedded(emb(5), 1000);
	SET max_parallel_workers_per_gather = 0;
	SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM osv.search_embedded(emb(5), 1000)) d;
	DROP TABLE kept;}),
	'0', 'INSERT ... SELECT from a parallel search: the serial rows');
is(result($node, 'SET default_transaction_isolation = serializable; SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off', $calls[2]),
	result($node, 'SET max_parallel_workers_per_gather = 0', $calls[2]),
	'SERIALIZABLE: parallel = serial');
is($node->safe_psql('postgres', q{
	BEGIN ISOLATION LEVEL SERIALIZABLE;
	SET LOCAL max_parallel_workers_per_gather = 2;
	SET LOCAL parallel_leader_participation = off;
	SELECT count(*) FROM osv.search_embedded(emb(5), 10);
	SELECT count(*) FROM pg_locks WHERE mode = 'SIReadLock' AND locktype = 'relation'
		AND relation = 'osv.summaries'::regclass AND pid = pg_backend_pid();
	COMMIT;}), "10\n1", 'SERIALIZABLE: the relation is predicate-locked');

# Workers are started: seen in pg_stat_activity as the leader's while it
# searches in a loop; the loop ends by its statement time-out, after which
# none of them is left.
sub workers_seen_then_timeout
{
	my ($node, $what) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_safe('SET max_parallel_workers_per_gather = 2');
	$bg->query_safe('SET parallel_leader_participation = off');
	$bg->query_until(qr/looping/, qq{\\echo looping
SET statement_timeout = '6s';
DO \$\$ BEGIN LOOP PERFORM count(*) FROM osv.search_embedded(emb(5), 10); END LOOP; END \$\$;
});
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid = $pid}),
		"$what: parallel workers of the searching backend seen");
	$bg->query('SELECT 1');
	like($bg->{stderr}, qr/canceling statement due to statement timeout/, "$what: the loop timed out");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid = $pid}),
		'0', "$what: no worker is left after the time-out");
	$bg->quit;
}
workers_seen_then_timeout($node, 'primary');

# osv.search_parallel_workers = 0 (the default; the node's configuration
# sets 4): no worker, whatever max_parallel_workers_per_gather says.
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_safe('SET max_parallel_workers_per_gather = 2');
	$bg->query_safe('SET osv.search_parallel_workers = 0');
	$bg->query_until(qr/looping/, qq{\\echo looping
SET statement_timeout = '4s';
DO \$\$ BEGIN LOOP PERFORM count(*) FROM osv.search_embedded(emb(5), 10); END LOOP; END \$\$;
});
	my ($samples, $seen) = (0, 0);
	for (1 .. 30)
	{
		$seen += $node->safe_psql('postgres', qq{
			SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid = $pid});
		$samples++;
		last if $seen;
		usleep(100_000);
	}
	is($seen, 0, "osv.search_parallel_workers = 0: no parallel worker in $samples samples of a searching loop");
	$bg->query('SELECT 1');
	$bg->quit;
}
is($node->safe_psql('postgres', 'SELECT boot_val FROM pg_settings WHERE name = $$osv.search_parallel_workers$$'),
	'0', 'osv.search_parallel_workers is 0 by default');

# A hot standby: parallel workers there too, same answers.
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
for my $call (@calls[0, 2, 5])
{
	is(result($standby, 'SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off', $call),
		result($node, 'SET max_parallel_workers_per_gather = 0', $call),
		"standby: parallel = primary's serial: $call");
}
workers_seen_then_timeout($standby, 'standby');

$standby->stop;
$node->stop;
done_testing();
