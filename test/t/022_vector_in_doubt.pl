# Writes in doubt: Qdrant applies an upsert after osv gave up on it (the
# test server's "delay" answers after osv.qdrant_timeout and still applies
# the write).  An erasure (osv.data_delete) or a trash that runs in that
# gap must still end with nothing of the person in Qdrant: the entries in
# doubt are shown in osv.vector_sync_status, their desired state is sent
# again after osv.vector_sync_in_doubt_fence, and the erasure's sweep by
# user filter is repeated after the fence.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use OsvTest;

my $q = start_qdrant();

my $node = PostgreSQL::Test::Cluster->new('indoubt');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'osv'
osv.database = 'postgres'
osv.scheduler_worker = off
osv.qdrant_url = '$q->{url}'
osv.vector_dimensions = 8
osv.vector_sync_naptime = '60s'
osv.vector_sync_backoff = '100ms'
osv.vector_sync_backoff_max = '500ms'
osv.qdrant_timeout = '1s'
osv.qdrant_connect_timeout = '1s'
osv.vector_sync_in_doubt_fence = '4s'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	CREATE FUNCTION emb(seed bigint) RETURNS real[] LANGUAGE sql IMMUTABLE
		AS $$ SELECT ARRAY(SELECT sin(seed * 7 + i)::real FROM generate_series(1, 8) i) $$;
	INSERT INTO osv.users (auth0_id, email)
		SELECT 'auth0|d' || g, 'd' || g || '@example.org' FROM generate_series(1, 3) g;
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT 1 + (g % 3), 'pdf', 'doc ' || g, 'tap-bucket', 'k/' || g FROM generate_series(1, 330) g;
});

sub add_summaries
{
	my ($user) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id)
		  FROM osv.documents d WHERE d.user_id = $user
		   AND NOT EXISTS (SELECT FROM osv.summaries s WHERE s.document_id = d.id)});
}

sub user_points
{
	my ($user) = @_;
	my $dump = qdrant_dump($q);
	return scalar grep { ($_->{payload}{user_id} // -1) == $user } values %$dump;
}

sub converged
{
	my ($name) = @_;
	ok($node->poll_query_until('postgres',
			'SELECT pending = 0 AND in_flight = 0 AND in_doubt = 0 AND erasure_sweeps = 0 FROM osv.vector_sync_status'),
		"$name: outbox drained, nothing in doubt, no sweep left");
	my @diff = compare_points($q, $node);
	is_deeply(\@diff, [], "$name: Qdrant equals the database")
	  or diag(join("\n", @diff[0 .. ($#diff > 10 ? 10 : $#diff)]));
}

# A user's summaries go out in one upsert that Qdrant applies 3 s later,
# while osv gives up after 1 s; run "$action" as soon as osv has given up.
# Returns the largest number of the user's points seen in Qdrant after the
# action (the late write landing), polling until they are gone for good.
sub late_write_during
{
	my ($user, $action) = @_;
	my ($status) = qdrant_request($q, 'POST', '/__test/faults', { faults => [
		{ method => 'PUT', path => '/points$', count => 1, action => { type => 'delay', ms => 3000 } } ] });
	die "fault: $status" unless $status == 200;
	add_summaries($user);
	ok($node->poll_query_until('postgres', 'SELECT in_doubt > 0 FROM osv.vector_sync_status'),
		"user $user: the timed-out upsert is shown in doubt");
	my $result = $node->safe_psql('postgres', $action);
	my $max = 0;
	my $t0 = time();
	while (time() - $t0 < 30)
	{
		my $n = user_points($user);
		$max = $n if $n > $max;
		last if $n == 0 && time() - $t0 > 3.5
		  && $node->safe_psql('postgres', 'SELECT pending = 0 AND erasure_sweeps = 0 FROM osv.vector_sync_status') eq 't';
		usleep(200_000);
	}
	return ($max, $result);
}

# --- The others' summaries first. -------------------------------------------
add_summaries(2);
converged('initial sync');

# --- An erasure while an upsert of the person is in doubt. -------------------
my ($max, $receipt) = late_write_during(1, 'SELECT osv.data_delete(1)');
like($receipt, qr/queued: deleted by user filter after commit/, 'erasure: the receipt says the sweep is queued');
cmp_ok($max, '>', 0, 'erasure: the late upsert landed after the erasure (the points came back)');
is(user_points(1), 0, 'erasure: nothing of the person in Qdrant in the end');
converged('erasure during a write in doubt');

# --- A trash while an upsert of the user is in doubt. ------------------------
($max) = late_write_during(3, q{SELECT osv.soft_delete('osv.users', 3)});
cmp_ok($max, '>', 0, 'trash: the late upsert landed after the trash');
is(user_points(3), 0, 'trash: nothing of the trashed user in Qdrant in the end');
converged('trash during a write in doubt');

# --- A lost connection (the request read, never answered) is in doubt too. --
# Three drops: libcurl sends a request again once by itself when a kept-alive
# connection dies without an answer.
qdrant_request($q, 'POST', '/__test/faults', { faults => [
	{ method => 'PUT', path => '/points$', count => 3, action => { type => 'drop' } } ] });
$node->safe_psql('postgres', q{SELECT osv.restore('osv.users', 3)});
ok($node->poll_query_until('postgres', 'SELECT in_doubt > 0 FROM osv.vector_sync_status'),
	'lost connection: the upsert is in doubt');
converged('after a lost connection');

$node->stop;
done_testing();
