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

my $node = osv_node('indoubt', qdrant => $q, scheduler => 0,
	sync => { naptime => '60s', backoff => '100ms', backoff_max => '500ms', in_doubt_fence => '8s' },
	conf => q{
osv.qdrant_timeout = '1s'
osv.qdrant_connect_timeout = '1s'
});

create_osv($node, emb => {}, users => 3, user_prefix => 'd', documents => 330);

sub converged { qdrant_converged($q, $node, $_[0], settled => 1); }

# A user's summaries go out in one upsert that Qdrant applies 5 s later,
# while osv gives up after 1 s (the fence, 8 s, outlasts the 4 s between);
# run "$action" as soon as osv has given up: it has 4 s to run before the
# late write lands, on a loaded machine too.
# Returns the largest number of the user's points seen in Qdrant after the
# action (the late write landing), polling until they are gone for good.
sub late_write_during
{
	my ($user, $action) = @_;
	qdrant_add_faults($q,
		{ method => 'PUT', path => '/points$', count => 1, action => { type => 'delay', ms => 5000 } });
	add_user_summaries($node, $user);
	ok($node->poll_query_until('postgres', 'SELECT in_doubt > 0 FROM osv.vector_sync_status'),
		"user $user: the timed-out upsert is shown in doubt");
	my $result = $node->safe_psql('postgres', $action);
	my $max = 0;
	my $t0 = time();
	while (time() - $t0 < 30)
	{
		my $n = user_points($q, $user);
		$max = $n if $n > $max;
		last if $n == 0 && time() - $t0 > 5.5
		  && $node->safe_psql('postgres', 'SELECT pending = 0 AND erasure_sweeps = 0 FROM osv.vector_sync_status') eq 't';
		usleep(200_000);
	}
	return ($max, $result);
}

# --- The others' summaries first. -------------------------------------------
add_user_summaries($node, 2);
converged('initial sync');

# --- An erasure while an upsert of the person is in doubt. -------------------
my ($max, $receipt) = late_write_during(1, 'SELECT osv.data_delete(1)');
like($receipt, qr/queued: deleted by user filter after commit/, 'erasure: the receipt says the sweep is queued');
like($receipt, qr/"qdrant": "pending"/, 'erasure: the receipt says Qdrant is pending');
cmp_ok($max, '>', 0, 'erasure: the late upsert landed after the erasure (the points came back)');
is(user_points($q, 1), 0, 'erasure: nothing of the person in Qdrant in the end');
converged('erasure during a write in doubt');

# --- A trash while an upsert of the user is in doubt. ------------------------
($max) = late_write_during(3, q{SELECT osv.soft_delete('osv.users', 3)});
cmp_ok($max, '>', 0, 'trash: the late upsert landed after the trash');
is(user_points($q, 3), 0, 'trash: nothing of the trashed user in Qdrant in the end');
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

# --- The erasure ledger's Qdrant state. ---------------------------------------
# "confirmed" only once Qdrant confirmed a delete by user filter sent after
# the last write in doubt of the person.
sub ledger_qdrant
{
	my ($user) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT targets->>'qdrant' FROM osv.erasure_ledger
		 WHERE user_hash = osv.erasure_subject_hash('user', '$user') ORDER BY erased_at DESC LIMIT 1});
}
sub ledger_confirmed
{
	my ($user) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT targets->>'qdrant' = 'confirmed' FROM osv.erasure_ledger
		 WHERE user_hash = osv.erasure_subject_hash('user', '$user') ORDER BY erased_at DESC LIMIT 1});
}
ok(ledger_confirmed(1), 'ledger: the erasure during a write in doubt ends confirmed (pending -> confirmed)');

$node->safe_psql('postgres', q{
	INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|d4', 'd4@example.org'), ('auth0|d5', 'd5@example.org');
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT u.id, 'pdf', 'doc ' || g, 'tap-bucket', 'k/' || u.id || '/' || g
		  FROM osv.users u, generate_series(1, 20) g WHERE u.auth0_id IN ('auth0|d4', 'auth0|d5');
});
my ($u4, $u5) = split /\n/, $node->safe_psql('postgres',
	q{SELECT id FROM osv.users WHERE auth0_id IN ('auth0|d4', 'auth0|d5') ORDER BY auth0_id});
add_user_summaries($node, $u4);
add_user_summaries($node, $u5);
converged('two more users');

# Qdrant refuses every delete: the sweep is retried, shown, and the ledger
# stays pending; once Qdrant answers again it is confirmed.
qdrant_request($q, 'POST', '/__test/faults', { faults => [
	{ method => 'POST', path => '/points/delete', count => -1, action => { type => 'status', status => 503 } } ] });
$node->safe_psql('postgres', "SELECT osv.data_delete($u4)");
ok($node->poll_query_until('postgres',
		q{SELECT failed > 0 AND last_error IS NOT NULL FROM osv.storage_sync_status WHERE target = 'qdrant_sweeps'}),
	'Qdrant down: the sweep failed and is shown in osv.storage_sync_status');
is(ledger_qdrant($u4), 'pending', 'Qdrant down: the ledger stays pending');
cmp_ok(user_points($q, $u4), '>', 0, 'Qdrant down: the points are still there (nothing was confirmed)');
qdrant_clear_faults($q);
ok(ledger_confirmed($u4), 'Qdrant back: the ledger is confirmed');
is(user_points($q, $u4), 0, 'Qdrant back: nothing of the person in Qdrant');
converged('after Qdrant came back');

# An erasure while the worker waits for a slow upsert of the person: a
# session's osv.vector_sync() does not sweep the user while the worker's
# claim of that upsert holds (the sweep would confirm the ledger while the
# upsert can still land); the upsert goes in doubt, the sweep is repeated
# after the fence, and only then is the ledger confirmed.
# (A longer time-out here, so that the erasure surely runs before osv gives up.)
$node->safe_psql('postgres', q{ALTER SYSTEM SET osv.qdrant_timeout = '4s'; SELECT pg_reload_conf();});
qdrant_request($q, 'POST', '/__test/faults', { faults => [
	{ method => 'PUT', path => '/points$', count => 1, action => { type => 'delay', ms => 6000 } } ] });
$node->safe_psql('postgres', "UPDATE osv.summaries SET embedding = emb(id + 1000) WHERE user_id = $u5");
ok($node->poll_query_until('postgres', 'SELECT in_flight > 0 FROM osv.vector_sync_status'),
	're-sweep: the worker is sending the slow upsert');
my ($receipt5, undef, $state5, $doubt5) = split /\n/, $node->safe_psql('postgres', qq{
	SELECT osv.data_delete($u5);
	SELECT osv.vector_sync();
	SELECT targets->>'qdrant' FROM osv.erasure_ledger WHERE user_hash = osv.erasure_subject_hash('user', '$u5');
	SELECT count(*) FROM osv.vector_outbox WHERE in_doubt_user_id = $u5;});
like($receipt5, qr/"qdrant": "pending"/, 're-sweep: the receipt says Qdrant is pending');
is($doubt5, '0', 're-sweep: (the upsert was not in doubt yet)');
is($state5, 'pending', 're-sweep: the session did not sweep the user while the upsert was in flight');
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM osv.vector_outbox WHERE in_doubt_user_id = $u5"),
	're-sweep: then the upsert went in doubt');
is(ledger_qdrant($u5), 'pending', 're-sweep: the ledger is still pending');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM osv.vector_erasure_sweeps w JOIN osv.erasure_ledger l USING (receipt) WHERE w.user_id = $u5"),
	'1', 're-sweep: the sweep is queued again under the receipt');
ok(ledger_confirmed($u5), 're-sweep: the ledger is confirmed after the repeated sweep');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET osv.qdrant_timeout; SELECT pg_reload_conf();});
converged('after the re-sweep');
is(user_points($q, $u5), 0, 're-sweep: nothing of the person in Qdrant');

$node->stop;
done_testing();
