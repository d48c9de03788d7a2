# Physical replicas and failover: a streaming hot standby of a primary with
# osv preloaded and Qdrant configured.  On the standby osv's workers do not
# run (BgWorkerStart_RecoveryFinished), every read function answers as on
# the primary, and every function that writes (to the database or to Qdrant)
# fails with PostgreSQL's read-only error (SQLSTATE 25006).  Then the
# primary is lost with changes queued in the outbox (some of them claimed by
# a batch in flight); after promotion the workers start on the new primary
# and the outbox drains until Qdrant equals the database.  Last, a failover
# that loses the primary's last transactions (asynchronous replication):
# osv.vector_reconcile() on the new primary repairs what they sent to Qdrant.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use OsvTest;

my $t_start = time();
my $q = start_qdrant();

my $primary = osv_node('primary', streaming => 1, qdrant => $q,
	# The claims of a batch in flight when the primary is lost are in doubt
	# after promotion; a short fence keeps the test from waiting 30 s for them.
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '500ms', in_doubt_fence => '2s' },
	conf => q{
osv.qdrant_timeout = '20s'
osv.qdrant_connect_timeout = '1s'
osv.retention_interval = 3600
});
create_worker_role($primary);

my @workers = ('osv vector sync', 'osv scheduler');

sub osv_backends
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity
		 WHERE backend_type LIKE 'osv %'});
}

ok($primary->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('osv vector sync', 'osv scheduler')}),
	'primary: both workers run');

# --- Data of every kind. ------------------------------------------------------
$primary->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	SELECT osv.upsert_auth0_user(jsonb_build_object('user_id', 'auth0|' || g, 'email', 'u' || g || '@example.org',
		'name', 'User ' || g)) FROM generate_series(1, 6) g;
	SELECT osv.register_upload(1 + g % 6, 'replica-bucket', 'docs/' || g, 'application/pdf', 1000 + g,
		repeat('a', 64), 'Document ' || g) FROM generate_series(1, 60) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic' || (d.id % 3), 'summary of document ' || d.id || ' about ' || (d.id % 7),
			   CASE WHEN d.id % 10 = 0 THEN NULL ELSE osv.embed_text('words ' || d.id || ' about ' || (d.id % 7)) END
		  FROM osv.documents d;
	SELECT osv.create_quiz(1, 'Quiz', '[{"id": "q1", "prompt": "2 + 2?", "type": "single",
		"choices": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}], "correct": ["b"], "points": 2}]');
	SELECT osv.submit_answer(1, u, '{"q1": ["b"]}') FROM generate_series(2, 4) u;
	SELECT osv.create_room(1, 'Room'); SELECT osv.join_room(1, 2);
	SELECT osv.log_activity(1 + g % 6, 'page.view', jsonb_build_object('n', g)) FROM generate_series(1, 50) g;
	SELECT osv.award_points(1 + g % 6, g, 'reason ' || g) FROM generate_series(1, 12) g;
	SELECT osv.soft_delete('osv.documents', 7);
});
ok(wait_synced($primary), 'primary: outbox drained');
# Recommendations come from Qdrant (osv.vector_search): refreshed once it holds
# the summaries, or they depend on how far the worker got.
$primary->safe_psql('postgres', 'SELECT osv.refresh_recommendations(2)');
qdrant_matches($q, $primary, 'primary: Qdrant equals the database');

# --- A streaming hot standby. ------------------------------------------------
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
usleep(500_000);
is(osv_backends($standby), '', 'standby: no osv worker in pg_stat_activity');
is($standby->safe_psql('postgres', q{SELECT setting FROM pg_settings WHERE name = 'osv.qdrant_url'}),
	$q->{url}, 'standby: osv preloaded with the same settings');

# --- Every read function answers on the standby as on the primary. ----------
my @reads = (
	[ 'search_summaries', q{SELECT * FROM osv.search_summaries(osv.embed_text('words 5 about 5'), 5)} ],
	[ 'search_summaries by user and topic',
	  q{SELECT * FROM osv.search_summaries(osv.embed_text('words 5 about 5'), 5, 2, 'topic1')} ],
	[ 'similar_summaries', q{SELECT * FROM osv.similar_summaries(3, 5)} ],
	[ 'search_embedded', q{SELECT * FROM osv.search_embedded(osv.embed_text('words 5 about 5'), 5)} ],
	[ 'qdrant_search', q{SELECT * FROM osv.qdrant_search(osv.embed_text('words 5 about 5'), 5, NULL, NULL, NULL)} ],
	[ 'embed_text', q{SELECT osv.embed_text('hello world')} ],
	[ 'summary_embedding', q{SELECT osv.summary_embedding(3)} ],
	[ 'data_export', q{SELECT osv.data_export(2) - 'exported_at'} ],
	[ 'data_export of a user with trashed content', q{SELECT osv.data_export(1) - 'exported_at'} ],
	[ 'leaderboard', q{SELECT * FROM osv.leaderboard(10)} ],
	[ 'vector_sync_status', q{SELECT target, pending, failed, in_flight, last_error FROM osv.vector_sync_status} ],
	[ 'analytics_events', q{SELECT * FROM osv.analytics_events ORDER BY occurred_at, user_token, properties::text} ],
	[ 'analytics_token', q{SELECT osv.analytics_token(3)} ],
	[ 'setting_interval', q{SELECT osv.setting_interval('osv.trash_retention')} ],
	[ 'archivable_partitions', q{SELECT osv.archivable_partitions('90 days')} ],
	[ 'partitions_of', q{SELECT count(*) FROM osv.partitions_of('osv.activity_logs')} ],
	[ 'retention_jobs', q{SELECT * FROM osv.retention_jobs()} ],
	[ 'activity_log_partition_name', q{SELECT osv.activity_log_partition_name('2026-01-01')} ],
	[ 'recommendations', q{SELECT user_id, summary_id, score FROM osv.recommendations ORDER BY id} ],
	[ 'job_runs', q{SELECT count(*) FROM osv.job_runs} ],);
for my $r (@reads)
{
	my ($name, $sql) = @$r;
	my ($ret, $out, $err) = $standby->psql('postgres', $sql);
	is($ret, 0, "standby: $name works") or diag($err);
	is($out, $primary->safe_psql('postgres', $sql), "standby: $name answers as on the primary");
	isnt($out, '', "standby: $name is not empty") unless $name eq 'job_runs';
}

# --- Every function that writes fails with the read-only error. -------------
my $quiz = q{'[{"id": "q1", "prompt": "?", "type": "single", "choices": [{"id": "a", "text": "a"}], "correct": ["a"]}]'};
my @writes = (
	q{INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|x', 'x@example.org')},
	q{UPDATE osv.summaries SET topic = 'x' WHERE id = 1},
	q{SELECT osv.upsert_auth0_user('{"user_id": "auth0|y", "email": "y@example.org"}')},
	q{SELECT osv.register_upload(1, 'b', 'k', 'application/pdf', 1, repeat('a', 64))},
	q{SELECT osv.soft_delete('osv.users', 3)},
	q{SELECT osv.restore('osv.documents', 7)},
	"SELECT osv.create_quiz(1, 'q', $quiz)",
	q{SELECT osv.submit_answer(1, 5, '{"q1": ["b"]}')},
	q{SELECT osv.create_room(1, 'r')},
	q{SELECT osv.join_room(1, 3)},
	q{SELECT osv.room_heartbeat(1, 2)},
	q{SELECT osv.leave_room(1, 2)},
	q{SELECT osv.log_activity(1, 'x')},
	q{SELECT osv.award_points(1, 1, 'x')},
	q{SELECT osv.refresh_recommendations(3)},
	q{SELECT osv.data_delete(6)},
	q{SELECT osv.create_activity_log_partitions(2, '2030-01-01')},
	q{SELECT osv.archive_activity_logs('1 day')},
	q{CALL osv.archive_activity_logs_stepwise('1 day')},
	q{SELECT osv.delete_abandoned_rooms('1 day')},
	q{SELECT osv.revoke_expired_recommendations()},
	q{SELECT osv.purge_trashed('1 day')},
	q{SELECT osv.clean_job_runs('1 day')},
	q{SELECT osv.run_job('purge_trashed')},
	q{SELECT * FROM osv.run_retention()},
	q{SELECT osv.vector_sync()},
	q{SELECT osv.vector_resync()},
	q{SELECT osv.vector_reconcile()},
	q{SELECT osv.qdrant_delete_user_points(1)},
	q{SELECT * FROM osv.vector_sync_claim(10)},
	q{SELECT osv.vector_sync_complete(1, '{}')},);
qdrant_request($q, 'DELETE', '/__test/requests');
for my $sql (@writes)
{
	my ($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	like($err, qr/ERROR:  25006: cannot execute \S.* (in a read-only transaction|during recovery)/,
		"standby refuses: $sql");
}
my (undef, $log) = qdrant_request($q, 'GET', '/__test/requests');
is_deeply([ map { "$_->{method} $_->{path}" } grep { $_->{method} ne 'GET' && $_->{path} !~ m{/points/(search|query|scroll)$} } @{ $log->{result} } ],
	[], 'standby: the refused functions changed nothing in Qdrant');
qdrant_matches($q, $primary, 'Qdrant still equals the database');

# --- Lose the primary with the outbox full. ----------------------------------
# Qdrant is out: changes queue up on the primary and reach the standby by
# WAL.  Then Qdrant comes back but hangs every write: the primary's worker
# claims a batch and waits for an answer with the claim committed.  More
# changes queue behind it.  The primary is lost (immediate stop, as a
# crash), the standby is promoted.
qdrant_request($q, 'POST', '/__test/outage', { seconds => 3600 });
$primary->safe_psql('postgres', q{
	SELECT osv.register_upload(1 + g % 5, 'replica-bucket', 'late/' || g, 'application/pdf', 1000 + g,
		repeat('b', 64), 'Late document ' || g) FROM generate_series(1, 30) g;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'late', 'summary of late ' || d.id, osv.embed_text('late words ' || d.id)
		  FROM osv.documents d WHERE d.title LIKE 'Late %';
	UPDATE osv.summaries SET topic = 'changed' WHERE id % 5 = 0;
	SELECT osv.soft_delete('osv.users', 4);
});
ok($primary->poll_query_until('postgres',
		'SELECT consecutive_failures > 0 FROM osv.vector_sync_status'),
	'primary: the worker sees the outage');
qdrant_request($q, 'POST', '/__test/faults',
	{ faults => [ { method => '*', path => '/points', count => -1, action => { type => 'hang' } } ] });
qdrant_request($q, 'DELETE', '/__test/outage');
ok($primary->poll_query_until('postgres', 'SELECT in_flight > 0 FROM osv.vector_sync_status'),
	'primary: a batch is in flight');
$primary->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding = osv.embed_text('rewritten ' || id) WHERE id % 7 = 0 AND embedding IS NOT NULL;
	DELETE FROM osv.summaries WHERE id % 11 = 0;
	SELECT osv.restore('osv.documents', 7);
});
# The worker may claim the next batch behind the one in flight (its pipeline)
# until it waits for the hung answer, and then changes nothing more: only
# then is the outbox read, to compare the standby's with it.
ok($primary->poll_query_until('postgres', q{
		SELECT state = 'active' AND query = 'osv vector sync: sending'
		  FROM pg_stat_activity WHERE backend_type = 'osv vector sync'}),
	'primary: the worker waits for the hung answer');
my $queued = $primary->safe_psql('postgres', 'SELECT pending, in_flight FROM osv.vector_sync_status');
$primary->wait_for_catchup($standby, 'replay');
$primary->stop('immediate');
qdrant_request($q, 'DELETE', '/__test/faults');

is($standby->safe_psql('postgres', 'SELECT pending, in_flight FROM osv.vector_sync_status'),
	$queued, "standby holds the primary's outbox (pending|in flight: $queued)");
is(osv_backends($standby), '', 'standby: still no osv worker before promotion');
unlike(slurp_file($standby->logfile), qr/osv vector sync worker started|osv scheduler started/,
	'standby: no osv worker started during recovery (server log)');
isnt([ compare_points($q, $standby) ]->[0], undef, 'Qdrant lags behind before promotion');

my $t_promote = time();
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'promoted');
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('osv vector sync', 'osv scheduler')}),
	'new primary: both workers start after promotion');
is(osv_backends($standby), join(',', sort @workers), 'new primary: exactly the two workers');
ok(wait_synced($standby), 'new primary: the outbox left by the old primary drains');
like(slurp_file($standby->logfile), qr/osv vector sync released \d+ outbox entries claimed before a restart/,
	"new primary: the worker took back the old primary's claims");
qdrant_matches($q, $standby, 'new primary: Qdrant equals the database, nothing lost');
is($standby->safe_psql('postgres', 'SELECT failed FROM osv.vector_sync_status'), '0', 'nothing parked');
note(sprintf('drained %.1f s after promotion', time() - $t_promote));

# The new primary takes writes and syncs them.
$standby->safe_psql('postgres', q{
	UPDATE osv.summaries SET embedding = osv.embed_text('after failover ' || id) WHERE id % 3 = 0 AND deleted_at IS NULL;
	SELECT osv.data_delete(5);
});
ok(wait_synced($standby), 'new primary: later writes drain');
qdrant_matches($q, $standby, 'new primary: Qdrant equals the database after more writes');

# --- A failover that loses transactions. --------------------------------------
# With asynchronous replication the last transactions of a lost primary may
# never reach the standby, while the primary's worker already sent them to
# Qdrant.  The promoted standby's outbox knows nothing of them: Qdrant keeps
# points of summaries that do not exist there, lacks points of summaries
# whose deletion was lost, and holds vectors the standby never had.
# osv.vector_reconcile() after the promotion finds and fixes all three.
my $p2 = $standby;
$p2->backup('base2');
my $standby2 = PostgreSQL::Test::Cluster->new('standby2');
$standby2->init_from_backup($p2, 'base2', has_streaming => 1);
$standby2->start;
$p2->wait_for_catchup($standby2, 'replay');
$standby2->stop;

my %lost;
for my $sql (
	q{WITH d AS (SELECT osv.register_upload(1, 'replica-bucket', 'lost/' || g, 'application/pdf', 1, repeat('c', 64),
					'Lost ' || g) AS id FROM generate_series(1, 5) g),
		  i AS (INSERT INTO osv.summaries (document_id, content, embedding)
				SELECT d.id, 'lost', osv.embed_text('lost ' || d.id) FROM d RETURNING id)
	  SELECT string_agg(id::text, ',') FROM i},
	q{WITH x AS (DELETE FROM osv.summaries WHERE id IN (SELECT id FROM osv.summaries
				 WHERE deleted_at IS NULL AND embedding IS NOT NULL ORDER BY id LIMIT 3) RETURNING id)
	  SELECT string_agg(id::text, ',') FROM x},
	q{WITH x AS (UPDATE osv.summaries SET embedding = osv.embed_text('lost update ' || id) WHERE id IN (SELECT id
				 FROM osv.summaries WHERE deleted_at IS NULL AND embedding IS NOT NULL ORDER BY id DESC LIMIT 3)
				 RETURNING id)
	  SELECT string_agg(id::text, ',') FROM x})
{
	$lost{$_} = 1 for split /,/, $p2->safe_psql('postgres', $sql);
}
ok(wait_synced($p2), 'second primary: its last transactions reach Qdrant');
qdrant_matches($q, $p2, 'second primary: Qdrant equals its database');
$p2->stop('immediate');
$standby2->start;
$standby2->promote;
ok(wait_synced($standby2), 'second standby promoted: its outbox drains');
my @diff = compare_points($q, $standby2);
my %diff_ids = map { /(\d+)/ ? ($1 => 1) : () } @diff;
ok(@diff > 0, 'Qdrant holds what the lost transactions sent: ' . scalar(@diff) . ' differences');
is_deeply([ grep { !$lost{$_} } sort keys %diff_ids ], [], 'every difference is a summary the lost transactions changed');
cmp_ok($standby2->safe_psql('postgres', 'SELECT osv.vector_reconcile()'), '>=', scalar(keys %diff_ids),
	'osv.vector_reconcile() enqueues them');
ok(wait_synced($standby2), 'the reconcile drains');
qdrant_matches($q, $standby2, 'after reconcile Qdrant equals the new primary');

note(sprintf('030_replica took %.1f s', time() - $t_start));
done_testing();
