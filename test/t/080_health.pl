# Health and progress with the workers running: osv.worker_status() and
# the status views show each worker's pid, state and a heartbeat that
# advances; the vector sync worker's state follows a failing Qdrant; an
# emptied osv.qdrant_url clears the old target's error (the worker does it,
# the view hides it at once); osv.progress shows the backfill of 20,000
# summaries and a batched purge while they run and nothing after; a worker
# that is stopped, one that serves another database, and osv without
# shared_preload_libraries are reported as such.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('health', dimensions => 8,
	sync => { naptime => '300ms', batch_size => 100, backoff => '100ms', backoff_max => '500ms' },
	conf => q{
osv.qdrant_timeout = '5s'
osv.retention_batch_size = 50
});

sub worker
{
	my ($name, $cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM osv.worker_status() WHERE worker = '$name'");
}

create_osv($node, emb => {}, users => ['h1'], documents => 20000, key_prefix => 'h/', sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});

# --- Liveness: pids, states, heartbeats. -----------------------------------
for my $w (['vector sync', 'osv vector sync'], ['scheduler', 'osv scheduler'])
{
	my ($name, $type) = @$w;
	ok($node->poll_query_until('postgres', qq{
		SELECT w.pid = a.pid AND w.state = 'idle' AND w.database = 'postgres'
		  FROM osv.worker_status() w, pg_stat_activity a
		 WHERE w.worker = '$name' AND a.backend_type = '$type'}),
		"$name: pid of the running worker, idle, in its database");
}
my $hb1 = worker('vector sync', 'last_heartbeat');
ok($node->poll_query_until('postgres', qq{
	SELECT last_heartbeat > '$hb1' AND heartbeat_due > last_heartbeat
	  FROM osv.worker_status() WHERE worker = 'vector sync'}),
	'vector sync: the heartbeat advances while it idles, the next one is due');
is(worker('scheduler', q{heartbeat_due > last_heartbeat AND heartbeat_due <= now() + interval '1 hour 1 minute'}), 't',
	'scheduler: its next heartbeat is due at its next run');
is($node->safe_psql('postgres', q{
	SELECT mode || ',' || worker_state || ',' || (worker_pid = (SELECT pid FROM osv.worker_status() WHERE worker = 'vector sync'))
	  FROM osv.vector_sync_status}),
	'embedded,idle,true', 'vector_sync_status: embedded mode, the worker idles');

# --- Backfill of 20,000 summaries for a new target. ------------------------
# The pipelined sync drains 20,000 summaries in about a second, less than a
# few polls under load: each upsert waits 20 ms, so that the backfill lasts
# seconds and the poll sees it running.  The total is exact when the sync
# worker creates the collection (it enqueues every live summary), an
# estimate when the scheduler's reconcile, which also runs at this reload,
# created it first (the worker's reconcile then enqueues what is missing):
# total_is_estimate depends on that race.
my ($fs) = qdrant_request($q, 'POST', '/__test/faults',
	{ faults => [ { method => 'PUT', path => '/points$', count => -1, action => { type => 'delay', ms => 20 } } ] });
die "could not add faults: $fs" unless $fs == 200;
alter_system_reload($node, 'osv.qdrant_url' => $q->{url});
ok($node->poll_query_until('postgres', q{
	SELECT p.total = 20000 AND p.done > 0 AND p.done < p.total AND p.rate_per_second > 0
	   AND p.expected_end > now()
	   AND p.pid = (SELECT pid FROM osv.worker_status() WHERE worker = 'vector sync')
	  FROM osv.progress p WHERE p.kind = 'backfill'}),
	'backfill: a row with done, total, rate and expected end while it runs');
qdrant_request($q, 'DELETE', '/__test/faults');
ok(wait_synced($node), 'backfill: the outbox drains');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM osv.progress WHERE kind IN ('backfill', 'reconcile')}),
	'backfill: the row goes once it is over');
is($node->safe_psql('postgres', q{SELECT mode || ',' || worker_state FROM osv.vector_sync_status}),
	'qdrant,idle', 'vector_sync_status: qdrant mode, idle again');

# --- Qdrant fails: the worker backs off, the error shows. -------------------
qdrant_request($q, 'POST', '/__test/outage', { seconds => 30 });
$node->safe_psql('postgres', q{UPDATE osv.summaries SET topic = 'changed' WHERE id <= 10});
ok($node->poll_query_until('postgres', q{
	SELECT worker_state = 'backing off' AND last_error IS NOT NULL AND pending = 10 FROM osv.vector_sync_status}),
	'failing Qdrant: the worker is backing off, with the error');

# --- The URL emptied: the old target's state is not shown as current. -------
alter_system_reload($node, 'osv.qdrant_url' => undef);
ok($node->poll_query_until('postgres', q{
	SELECT t.last_error IS NULL AND t.retry_at IS NULL AND t.consecutive_failures = 0
	  FROM osv.vector_sync_targets t}),
	'embedded again: the worker cleared the old target\'s error and back-off');
is($node->safe_psql('postgres', q{
	SELECT concat_ws(',', mode, pending, failed, oldest_pending_age IS NULL, last_error IS NULL, inactive_pending, worker_state)
	  FROM osv.vector_sync_status}),
	'embedded,0,0,t,t,10,idle', 'embedded again: nothing pending, no error, the 10 held entries shown as inactive');

# --- A batched purge. --------------------------------------------------------
$node->safe_psql('postgres', q{UPDATE osv.summaries SET deleted_at = now() - interval '2 days' WHERE id > 10});
my ($out, $err) = ('', '');
my $purge = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c',
	  q{CALL osv.run_job_batched('purge_trashed', '1 day')} ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', q{
	SELECT p.detail = 'purge_trashed' AND p.total = 19990 AND p.total_is_estimate
	   AND p.done > 0 AND p.done < p.total AND p.expected_end IS NOT NULL
	  FROM osv.progress p WHERE p.kind = 'purge'}),
	'batched purge: a row while it runs');
$purge->finish;
is($err, '', 'batched purge: no error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM osv.progress WHERE pid IS NOT NULL}), '0',
	'batched purge: the row goes once it is over');
is($node->safe_psql('postgres', q{SELECT affected FROM osv.job_runs WHERE job = 'purge_trashed' ORDER BY id DESC LIMIT 1}),
	'19990', 'batched purge: every trashed summary purged');

# --- Back to the same Qdrant: its 20,000 points are reconciled. ------------
# (Its total is estimated as the live summaries, 10 here: done goes past it.)
qdrant_request($q, 'DELETE', '/__test/outage');
alter_system_reload($node, 'osv.qdrant_url' => $q->{url});
ok($node->poll_query_until('postgres', qq{
	SELECT p.detail = '$q->{url}' AND p.total_is_estimate AND p.done > 0
	  FROM osv.progress p WHERE p.kind = 'reconcile'}),
	'reconcile: a row while it scans the collection');
ok(wait_synced($node), 'reconcile: the outbox drains');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM osv.progress WHERE pid IS NOT NULL}),
	'reconcile: the rows go once it is over');

# --- Another database: the workers do not serve it. -------------------------
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION osv');
is($node->safe_psql('other', q{SELECT string_agg(state, ',' ORDER BY worker) FROM osv.worker_status()}),
	'other database,other database', 'another database: both workers serve osv.database, not this one');
is($node->safe_psql('other', q{SELECT worker_state FROM osv.vector_sync_status}),
	'other database', 'another database: vector_sync_status says so');

# --- A stopped worker. ------------------------------------------------------
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM osv.worker_status() WHERE worker = 'vector sync'});
ok($node->poll_query_until('postgres', q{
	SELECT pid IS NULL AND state = 'not running' AND last_heartbeat IS NOT NULL
	  FROM osv.worker_status() WHERE worker = 'vector sync'}),
	'stopped worker: not running, its last heartbeat kept');

# --- Without shared_preload_libraries. --------------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
is($node->safe_psql('postgres', q{SELECT string_agg(concat_ws(',', worker, pid, state), ';' ORDER BY worker) FROM osv.worker_status()}),
	'scheduler,not preloaded;vector sync,not preloaded', 'not preloaded: the workers are reported as such');
is($node->safe_psql('postgres', q{SELECT worker_state FROM osv.vector_sync_status}),
	'not preloaded', 'not preloaded: vector_sync_status says so');
is($node->safe_psql('postgres', q{SELECT 'begun' FROM (SELECT osv.progress_begin('purge', 5)) b; SELECT count(*) FROM osv.progress WHERE pid IS NOT NULL}),
	"begun\n0", 'not preloaded: progress is not recorded, and no error');

$node->stop;
done_testing();
