# The claim slots of a pool of three vector sync workers
# (vector_sync_targets.pool_claim_ids, element i for worker i) keep each
# worker's claim where it belongs, whichever worker begins its life first.
# A worker past 1 that begins its life while the slots are NULL (a fresh
# install, or after a pool of one) makes an array of its element alone,
# which starts at that element; worker 0's next life trimmed the slots with
# a slice, which is renumbered from 1: worker 2's claim moved to worker 1's
# slot, so worker 1's next life released worker 2's live claims, and worker
# 2's own next life found nothing to release (its claims waited for their
# lease, up to an hour, and so did the erasure sweeps of their users).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $q = start_qdrant();

my $node = osv_node('pool_claim_slots', scheduler => 0, qdrant => $q,
	sync => { workers => 3, naptime => '1s' });
$node->safe_psql('postgres', 'CREATE EXTENSION osv');

sub worker_pid
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv vector sync' AND application_name = '$name'");
}

sub slots
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(worker_claim_id::text, '-') || ' ' || coalesce(pool_claim_ids::text, '-') FROM osv.vector_sync_targets});
}

# Terminate a worker and wait for its next life (a new claim id in its slot).
sub new_life
{
	my ($index) = @_;
	my $slot = $index == 0 ? 'worker_claim_id' : "pool_claim_ids[$index]";
	my $old = $node->safe_psql('postgres', "SELECT coalesce($slot, 0) FROM osv.vector_sync_targets");
	my $name = $index == 0 ? 'osv vector sync' : "osv vector sync $index";
	my $pid = worker_pid($name);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	return $node->poll_query_until('postgres',
		"SELECT $slot IS NOT NULL AND $slot <> $old FROM osv.vector_sync_targets");
}

ok($node->poll_query_until('postgres', q{
		SELECT worker_claim_id IS NOT NULL AND pool_claim_ids[1] IS NOT NULL AND pool_claim_ids[2] IS NOT NULL
		  FROM osv.vector_sync_targets}),
	'the three workers began their lives');

# Worker 2 begins a life while the slots are NULL: its slot alone.
$node->safe_psql('postgres', 'UPDATE osv.vector_sync_targets SET pool_claim_ids = NULL');
ok(new_life(2), 'worker 2 began a new life');
my $c2 = $node->safe_psql('postgres', 'SELECT pool_claim_ids[2] FROM osv.vector_sync_targets');
is($node->safe_psql('postgres', 'SELECT pool_claim_ids[1] IS NULL FROM osv.vector_sync_targets'), 't',
	'worker 1 has no slot yet') or diag(slots());

# A batch of worker 2 in flight: an entry under its claim, lease running.
$node->safe_psql('postgres', qq{
	INSERT INTO osv.vector_outbox (summary_id, claim_id, claimed_version, lease_until)
	VALUES (999999, $c2, 1, now() + interval '1 hour')});

# Worker 0's next life keeps worker 2's claim in worker 2's slot.
ok(new_life(0), 'worker 0 began a new life');
is($node->safe_psql('postgres', 'SELECT pool_claim_ids[2] FROM osv.vector_sync_targets'), $c2,
	"worker 0's new life keeps worker 2's claim in slot 2") or diag(slots());
is($node->safe_psql('postgres', "SELECT coalesce(pool_claim_ids[1] = $c2, false) FROM osv.vector_sync_targets"), 'f',
	"worker 0's new life puts no claim of worker 2 in slot 1") or diag(slots());

# Worker 1's next life releases its own claims, never worker 2's.
ok(new_life(1), 'worker 1 began a new life');
is($node->safe_psql('postgres', 'SELECT claim_id FROM osv.vector_outbox WHERE summary_id = 999999'), $c2,
	"worker 1's new life leaves worker 2's entry in flight claimed");

# Worker 2's next life releases its own entry, in doubt.
ok(new_life(2), 'worker 2 began another life');
is($node->safe_psql('postgres', qq{
		SELECT (claim_id IS DISTINCT FROM $c2) || ' ' || (in_doubt_until IS NOT NULL)
		  FROM osv.vector_outbox WHERE summary_id = 999999}),
	'true true', "worker 2's new life released its entry, in doubt");

$node->stop;
stop_qdrant($q);
done_testing();
