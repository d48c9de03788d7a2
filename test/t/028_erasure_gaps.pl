# Erasure and the vector sync worker's ERRORs (issue 12, the gaps a review
# of 1.1 found).  An ERROR is forced in the worker by cancelling it
# (pg_cancel_backend) while the Qdrant test server holds its request (the
# "delay" fault, which still applies the write afterwards), or by a
# trigger of the test that raises in the worker's transactions.
#  1. An upsert of a user in flight when the worker fails, the user erased
#     meanwhile: the claim released in doubt still names the user, so the
#     erasure's sweep waits for the fence; the erasure ledger never says
#     "confirmed" while the late upsert can still land, and in the end
#     Qdrant holds nothing of the user.  A session's osv.vector_sync() does
#     not sweep the user while the dead claim holds either.
#  2. An erasure sweep claimed by the worker when it fails is released at
#     its next life (not left to its lease of minutes).
#  3. A reconcile interrupted by an ERROR (the sync worker's, of a new
#     target; the scheduler's) leaves no row in osv.progress.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('erasure_gaps', qdrant => $q,
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '500ms', in_doubt_fence => '10s' },
	conf => q{
osv.qdrant_timeout = '20s'
osv.qdrant_connect_timeout = '1s'
osv.retention_interval = '1h'
osv.reconcile_interval = '1h'
});

create_osv($node, emb => {}, users => 3, user_prefix => 'g', documents => 60, sql => q{
	-- The test's way to make the workers' transactions fail: an insert into
	-- the outbox by a worker (session user osv_worker) raises while the
	-- flag is on.
	CREATE TABLE tap_fail (on_ boolean NOT NULL);
	INSERT INTO tap_fail VALUES (false);
	GRANT SELECT ON tap_fail TO PUBLIC;
	CREATE FUNCTION tap_fail_outbox() RETURNS trigger LANGUAGE plpgsql
		SET search_path = pg_catalog AS $$
	BEGIN
		IF session_user = 'osv_worker' AND (SELECT f.on_ FROM public.tap_fail f) THEN
			RAISE EXCEPTION 'tap: forced error in %', (SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid());
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER tap_fail BEFORE INSERT ON osv.vector_outbox
		FOR EACH ROW EXECUTE FUNCTION tap_fail_outbox();
});

sub ledger_qdrant
{
	my ($user) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT targets->>'qdrant' FROM osv.erasure_ledger
		 WHERE user_hash = osv.erasure_subject_hash('user', '$user') ORDER BY erased_at DESC LIMIT 1});
}

# Wait until the test server holds the request a fault of count 1 matched
# (the rule is gone once it fired).
sub fault_fired
{
	for (1 .. 300)
	{
		my ($status, $body) = qdrant_request($q, 'GET', '/__test/faults');
		return 1 if $status == 200 && !@{ $body->{result}{faults} };
		usleep(50_000);
	}
	return 0;
}

# Cancel the vector sync worker; wait for its ERROR in the log.
sub cancel_worker
{
	my ($what) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_cancel_backend(" . backend_pid($node, 'osv vector sync') . ")");
	$node->wait_for_log(qr/ERROR:  canceling statement due to user request/, $offset);
	pass("$what: the worker failed with an ERROR");
}

sub converged { qdrant_converged($_[1] // $q, $node, $_[0], settled => 1); }

add_user_summaries($node, 2);
converged('initial sync');

# --- 1. An upsert in flight when the worker fails, its user erased. ----------
# Qdrant applies the upsert 6 s after it arrived; the worker fails before
# that and releases its claims (at once: the erasure's commit set its
# latch), before the late write lands: the sweep must wait for the fence
# (10 s from then, by when Qdrant has applied the write, as the fence
# assumes).
qdrant_request($q, 'POST', '/__test/faults', { faults => [
	{ method => 'PUT', path => '/points$', count => 1, action => { type => 'delay', ms => 6000 } } ] });
add_user_summaries($node, 1);
ok(fault_fired(), 'in flight: Qdrant holds the upsert of the user');
my $t0 = time();
is($node->safe_psql('postgres', 'SELECT count(DISTINCT claimed_user_id) FROM osv.vector_outbox WHERE claim_id IS NOT NULL'),
	'1', 'in flight: the claim names the user of its points');
$node->safe_psql('postgres', 'SELECT osv.data_delete(1)');
cancel_worker('in flight');
# A session's sync while the dead claim holds: the sweep is not claimed.
$node->safe_psql('postgres', 'SELECT osv.vector_sync()');
is(ledger_qdrant(1), 'pending', 'in flight: a session\'s vector_sync() does not sweep the user while the claim holds');

my ($max, $violations, $t_land, $t_confirm) = (0, 0, undef, undef);
while (time() - $t0 < 60)
{
	# The ledger first: once it says confirmed, no point may come back.
	my $state = ledger_qdrant(1);
	my $n = user_points($q, 1);
	$max = $n if $n > $max;
	$t_land //= time() if $n > 0;
	if ($state eq 'confirmed')
	{
		$t_confirm //= time();
		$violations++ if $n > 0;
		last if $n == 0 && defined $t_land;
	}
	usleep(100_000);
}
cmp_ok($max, '>', 0, 'in flight: the late upsert landed after the erasure');
is($violations, 0, 'in flight: the ledger never said confirmed while points of the user were in Qdrant');
ok(defined $t_confirm && defined $t_land && $t_confirm > $t_land,
	'in flight: the ledger is confirmed after the late write, not before')
  or diag('landed ' . ($t_land // 'never') . ', confirmed ' . ($t_confirm // 'never'));
is(user_points($q, 1), 0, 'in flight: nothing of the user in Qdrant in the end');
converged('after the ERROR in flight');
is(ledger_qdrant(1), 'confirmed', 'in flight: the ledger ends confirmed');

# --- 2. A sweep claimed when the worker fails is released. -------------------
# The sweep's lease is osv.qdrant_timeout * 17 + 5 s (345 s here); the next
# life of the worker must release and send it.
add_user_summaries($node, 3);
converged('user 3 synced');
qdrant_request($q, 'POST', '/__test/faults', { faults => [
	{ method => 'POST', path => '/points/delete$', count => 1, action => { type => 'delay', ms => 12000 } } ] });
$node->safe_psql('postgres', 'SELECT osv.data_delete(3)');
ok(fault_fired(), 'sweep: Qdrant holds the sweep');
my ($claim, $lease) = split /\|/, $node->safe_psql('postgres',
	q{SELECT w.claim_id = t.worker_claim_id, w.lease_until > now() + interval '2 minutes'
	    FROM osv.vector_erasure_sweeps w, osv.vector_sync_targets t WHERE w.user_id = 3});
is("$claim $lease", 't t', 'sweep: claimed under the worker\'s claim id, with a lease of minutes');
$t0 = time();
cancel_worker('sweep');
ok($node->poll_query_until('postgres', q{SELECT targets->>'qdrant' = 'confirmed' FROM osv.erasure_ledger
		WHERE user_hash = osv.erasure_subject_hash('user', '3')}),
	'sweep: the ledger is confirmed');
cmp_ok(time() - $t0, '<', 40, 'sweep: the sweep was sent again by the next life of the worker, not after its lease');
is(user_points($q, 3), 0, 'sweep: nothing of the user in Qdrant');
converged('after the ERROR while sweeping');

# --- 3. A reconcile interrupted by an ERROR. ----------------------------------
sub progress_rows
{
	my ($kind, $type) = @_;
	my $pid = backend_pid($node, $type);
	return $node->safe_psql('postgres', "SELECT count(*) FROM osv.progress WHERE kind = '$kind' AND pid = $pid");
}

# The sync worker's, of a new target: its inserts into the outbox fail.
my $q2 = start_qdrant();
$node->safe_psql('postgres', 'UPDATE tap_fail SET on_ = true');
my $offset = -s $node->logfile;
$node->safe_psql('postgres', qq{ALTER SYSTEM SET osv.qdrant_url = '$q2->{url}'; SELECT pg_reload_conf();});
$node->wait_for_log(qr/ERROR:  tap: forced error in osv vector sync/, $offset);
is(progress_rows('reconcile', 'osv vector sync'), '0', 'sync worker: no reconcile row after the ERROR');
$node->safe_psql('postgres', 'UPDATE tap_fail SET on_ = false');
ok($node->poll_query_until('postgres', qq{SELECT synced_url LIKE '$q2->{url}|%' FROM osv.vector_sync_targets}),
	'sync worker: the reconcile is done once the ERROR is gone');
converged('the new target', $q2);
is(progress_rows('reconcile', 'osv vector sync'), '0', 'sync worker: no reconcile row once it is done');

# The scheduler's: a point with no summary makes the reconcile enqueue.
my ($status) = qdrant_request($q2, 'PUT', '/collections/osv_summaries/points?wait=true', { points => [
	{ id => 999999, vector => [ (0.5) x 8 ], payload => { user_id => 2 } } ] });
is($status, 200, 'scheduler: an orphaned point is put into Qdrant');
$node->safe_psql('postgres', 'UPDATE tap_fail SET on_ = true');
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.reconcile_interval = '1s'; SELECT pg_reload_conf();});
$node->wait_for_log(qr/ERROR:  tap: forced error in osv scheduler/, $offset);
is(progress_rows('reconcile', 'osv scheduler'), '0', 'scheduler: no reconcile row after the ERROR');
$node->safe_psql('postgres', q{UPDATE tap_fail SET on_ = false;
	ALTER SYSTEM SET osv.reconcile_interval = '1h'; SELECT pg_reload_conf();});

$node->stop;
done_testing();
