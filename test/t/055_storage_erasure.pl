# Erasure that holds in object storage, against the S3 test gate
# (test/s3: s3rver behind a gate that checks every SigV4 signature):
# objects of erased, purged and deleted documents are deleted (keys with
# spaces and punctuation), others kept; wrong credentials and an
# unreachable endpoint keep the queue, lose nothing and say why in
# osv.storage_sync_status, and a reload that fixes them drains it; the
# erasure ledger is copied to its bucket; a backup taken before an erasure,
# restored, then osv.reapply_erasures() leaves nothing of the person.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(usleep);
use OsvTest;

my $gate = start_s3_gate();
my ($s3, $s3dir) = ($gate->{url}, $gate->{dir});

sub seed { s3_seed($gate, $_[0], $_[1], "bytes of $_[1]"); }
sub objects { return s3_objects($gate, @_); }
sub test_api { return s3_test_api($gate, @_); }

sub write_secret { write_secret_file($gate->{secret_file}, $_[0]); }

my $node = osv_node('storage', scheduler => 0, s3 => $gate, conf => q{
osv.erasure_ledger_bucket = 'osv-ledger'
osv.s3_connect_timeout = '500ms'
osv.s3_timeout = '5s'
osv.storage_sync_backoff = '100ms'
osv.storage_sync_backoff_max = '300ms'
});
$node->safe_psql('postgres', 'CREATE EXTENSION osv');

# Drain with osv.storage_sync() until nothing is pending (entries that
# failed once wait for their backoff); returns the status row.
sub drain
{
	my ($db) = @_;
	$db //= 'postgres';
	for (1 .. 50)
	{
		$node->psql($db, 'SELECT osv.storage_sync()');
		my $left = $node->safe_psql($db,
			"SELECT sum(pending) FROM osv.storage_sync_status WHERE target <> 'qdrant_sweeps'");
		return 1 if $left eq '0';
		usleep(200_000);
	}
	return 0;
}

sub status
{
	my ($target, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT pending, failed, coalesce(last_error, '-'), coalesce(blocked_by, '-') FROM osv.storage_sync_status WHERE target = '$target'");
}

# Users and documents; every document has its object in the bucket.
my @keys = ('users/ada/my notes (v2).pdf', 'users/ada/ünïcode + plus=eq&amp.pdf', 'users/ada/100% done~.mp3',
	'users/bob/keep me.pdf', 'users/bob/also kept.txt', 'users/cy/old draft.pdf', 'users/cy/fresh.pdf',
	'users/dee/diary 1.txt', 'users/dee/diary 2.txt');
$node->safe_psql('postgres', q{
INSERT INTO osv.users (auth0_id, email, name) VALUES
  ('auth0|ada', 'ada@example.org', 'Ada'), ('auth0|bob', 'bob@example.org', 'Bob'),
  ('auth0|cy', 'cy@example.org', 'Cy'), ('auth0|dee', 'dee@example.org', 'Dee');
});
for my $key (@keys)
{
	my ($who) = $key =~ m{^users/(\w+)/};
	my $k = $key =~ s/'/''/gr;
	$node->safe_psql('postgres', "INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT id, 'other', 'doc', 'osv-documents', '$k' FROM osv.users WHERE auth0_id = 'auth0|$who'");
	seed('osv-documents', $key);
}
is(scalar @{ objects('osv-documents') }, scalar @keys, 'every document has its object');

# ------------------------------------------------------------------------
# Erasure and purge delete exactly their objects.
# ------------------------------------------------------------------------
my $receipt = $node->safe_psql('postgres',
	"SELECT osv.data_delete(id)->>'receipt' FROM osv.users WHERE auth0_id = 'auth0|ada'");
like($receipt, qr/^[0-9a-f-]{36}$/, 'data_delete returns its receipt');
$node->safe_psql('postgres', "UPDATE osv.documents SET deleted_at = now() - interval '40 days' WHERE storage_key = 'users/cy/old draft.pdf'");
is($node->safe_psql('postgres', "SELECT osv.purge_trashed('30 days') > 0"), 't', 'purge of the trash');
ok(drain(), 'the storage queue drains');
is_deeply(objects('osv-documents'),
	[ sort grep { !m{^users/ada/} && $_ ne 'users/cy/old draft.pdf' } @keys ],
	'objects of the erased user and of the purged document are gone, the others kept');
my @log = @{ test_api('GET', 'requests')->{result} };
# (osv.s3_delete_batch_size is 1000: the four objects go as DeleteObjects.)
my @batches = grep { $_->{method} eq 'POST' && $_->{query} =~ /^delete/ } @log;
is(join(',', sort map { my $k = $_; utf8::encode($k); $k } map { @{ $_->{delete_keys} // [] } } grep { ($_->{status} // 0) == 200 } @batches),
	join(',', sort grep { m{^users/ada/} || $_ eq 'users/cy/old draft.pdf' } @keys),
	'DeleteObjects requests, answered 200, named exactly the four objects');
ok(!grep({ $_->{method} eq 'DELETE' } @log), 'and no DeleteObject was needed');
# (s3rver itself sometimes answers 500 InternalError under concurrent
# deletes; osv retries those, and they are no refusal of the gate.)
my @refused = grep { defined $_->{error} && $_->{error} ne 'InternalError' } @log;
ok(!@refused, 'the gate accepted every signature')
  or diag(explain([ map { "$_->{method} $_->{path}: $_->{error}" } @refused ]));

my $ledger = objects('osv-ledger');
is(scalar @$ledger, 1, 'the receipt is copied to the ledger bucket');
like($ledger->[0], qr{^erasures/\d{8}T\d{6}Z_${receipt}_[0-9a-f]{64}_[0-9a-f]{64}\.json$}, 'under a key of time, receipt and hashes');
my $copy = s3_object($gate, 'osv-ledger', $ledger->[0]);
my $doc = decode_json($copy);
is($doc->{targets}{object_storage}, 'confirmed', 'the copy says object storage confirmed');
ok(defined $doc->{confirmed_at}, 'and the receipt confirmed');
# (The copy's hashes and ids are hex: "ada" may occur inside them by chance,
# so the name counts only where no hex digit touches it.)
unlike($copy, qr/auth0\||example\.org|users\/|(?<![0-9a-f])ada(?![0-9a-f])/i, 'the copy holds no personal data');
is($node->safe_psql('postgres', "SELECT targets->>'object_storage', confirmed_at IS NOT NULL, object_written_at IS NOT NULL FROM osv.erasure_ledger WHERE receipt = '$receipt'"),
	'confirmed|t|t', 'the ledger row is confirmed and its copy written');
is(status('object_storage'), '0|0|-|-', 'nothing pending');

# A plain DELETE and a user cascade queue too.
$node->safe_psql('postgres', "DELETE FROM osv.documents WHERE storage_key = 'users/cy/fresh.pdf'");
ok(drain(), 'a DELETE drains');
ok(!grep({ $_ eq 'users/cy/fresh.pdf' } @{ objects('osv-documents') }), 'its object is gone');

# ------------------------------------------------------------------------
# Wrong credentials: the queue holds, the status says why, a reload fixes it.
# ------------------------------------------------------------------------
write_secret('not-the-secret');
# (A reload, so that the sync worker, if it runs by now, reads the wrong key too.)
$node->reload;
usleep(300_000);
$node->safe_psql('postgres', "DELETE FROM osv.documents WHERE storage_key = 'users/bob/also kept.txt'");
$node->psql('postgres', 'SELECT osv.storage_sync()');
my ($pending, $failed, $err) = split /\|/, status('object_storage');
is("$pending|$failed", '1|1', 'a wrong secret key: the entry stays and is counted as failed');
like($err, qr/^HTTP 403 SignatureDoesNotMatch/, 'the status says why');
ok(grep({ $_ eq 'users/bob/also kept.txt' } @{ objects('osv-documents') }), 'the object is still there');
set_and_reload($node, 'osv.s3_access_key_id' => 'someoneelse');
write_secret('osvtestsecret');
usleep(400_000);
$node->psql('postgres', 'SELECT osv.storage_sync()');
($pending, $failed, $err) = split /\|/, status('object_storage');
is($pending, 1, 'a wrong access key id: still queued');
like($err, qr/^HTTP 403 InvalidAccessKeyId/, 'and the status says so');
set_and_reload($node, 'osv.s3_access_key_id' => 'osvtestkey');
ok(drain(), 'fixed by a reload: the queue drains');
ok(!grep({ $_ eq 'users/bob/also kept.txt' } @{ objects('osv-documents') }), 'the object is gone');
my $server_log = slurp_file($node->logfile);
unlike($server_log, qr/osvtestsecret|not-the-secret/, 'no secret key in the server log');

# ------------------------------------------------------------------------
# An unreachable endpoint and an outage: nothing lost, the status says why.
# ------------------------------------------------------------------------
set_and_reload($node, 'osv.s3_endpoint' => 'http://127.0.0.1:9');
$node->safe_psql('postgres', "DELETE FROM osv.users WHERE auth0_id = 'auth0|cy'");
seed('osv-documents', 'users/zed/outage.bin');
$node->safe_psql('postgres', "INSERT INTO osv.storage_deletions (storage_bucket, storage_key) VALUES ('osv-documents', 'users/zed/outage.bin')");
$node->psql('postgres', 'SELECT osv.storage_sync()');
($pending, $failed, $err) = split /\|/, status('object_storage');
is("$pending|$failed", '1|1', 'unreachable endpoint: queued, failed, kept');
like($err, qr/^could not reach "http:\/\/127\.0\.0\.1:9"/, 'the status names the endpoint');
# (Long enough for a reload and two statements on a busy machine.)
test_api('POST', 'outage', { seconds => 6 });
set_and_reload($node, 'osv.s3_endpoint' => $s3);
$node->psql('postgres', 'SELECT osv.storage_sync()');
is((split /\|/, status('object_storage'))[0], 1, 'during an outage: still queued');
sleep 6;
ok(drain(), 'after the outage the queue drains');
ok(!grep({ $_ eq 'users/zed/outage.bin' } @{ objects('osv-documents') }), 'the object is gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM osv.storage_deletions'), 0, 'nothing left in the queue');

# ------------------------------------------------------------------------
# A backup taken before an erasure, restored, then reapply_erasures().
# ------------------------------------------------------------------------
my $dump = "$s3dir/before.sql";
system('pg_dump', '-h', $node->host, '-p', $node->port, '-f', $dump, 'postgres') == 0
  or die 'pg_dump failed';
my $dee = $node->safe_psql('postgres', "SELECT id FROM osv.users WHERE auth0_id = 'auth0|dee'");
$node->safe_psql('postgres', "SELECT osv.data_delete($dee)");
ok(drain(), 'the erasure of Dee drains');
ok(!grep({ m{^users/dee/} } @{ objects('osv-documents') }), "Dee's objects are gone");
is(scalar @{ objects('osv-ledger') }, 2, 'two receipts in the ledger bucket');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($ret, $out, $stderr) = $node->psql('restored', undef, extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', $dump ]);
is($ret, 0, 'the older backup restores') or diag($stderr);
is($node->safe_psql('restored', "SELECT count(*) FROM osv.users WHERE auth0_id = 'auth0|dee'"), 1, 'the restore brought Dee back');
is($node->safe_psql('restored', 'SELECT count(*) FROM osv.erasure_ledger'), 1, 'its ledger lacks the later erasure');
is($node->safe_psql('restored', 'SELECT osv.reapply_erasures()'), 1, 'reapply_erasures() erases one person again');
is($node->safe_psql('restored', 'SELECT count(*) FROM osv.erasure_ledger'), 2, 'the receipt from the bucket is in the ledger again');
my $left = $node->safe_psql('restored', "SELECT
	(SELECT count(*) FROM osv.users WHERE id = $dee OR auth0_id = 'auth0|dee' OR email = 'dee\@example.org') +
	(SELECT count(*) FROM osv.documents WHERE user_id = $dee) +
	(SELECT count(*) FROM osv.summaries WHERE user_id = $dee) +
	(SELECT count(*) FROM osv.activity_logs WHERE user_id = $dee) +
	(SELECT count(*) FROM osv.points WHERE user_id = $dee)");
is($left, 0, 'nothing of the person is left in the restored database');
ok(drain('restored'), 'the restored database drains its re-queued deletions');
is($node->safe_psql('restored', "SELECT reapplied, targets->>'object_storage', confirmed_at IS NOT NULL FROM osv.erasure_ledger l
	WHERE user_hash = osv.erasure_subject_hash('user', '$dee')"), '1|confirmed|t', 'the receipt is confirmed again');
is($node->safe_psql('restored', "SELECT count(*) FROM osv.users WHERE auth0_id = 'auth0|bob'"), 1, 'others stay');
is($node->safe_psql('restored', 'SELECT osv.reapply_erasures()'), 0, 'a second reapply finds no one');

# ------------------------------------------------------------------------
# The sync worker drains by itself, woken by the deleting commit.
# ------------------------------------------------------------------------
ok($node->poll_query_until('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv vector sync'", '1'),
	'the sync worker runs');
$node->safe_psql('postgres', "DELETE FROM osv.documents WHERE storage_key = 'users/bob/keep me.pdf'");
my $gone = 0;
for (1 .. 50)
{
	if (!grep { $_ eq 'users/bob/keep me.pdf' } @{ objects('osv-documents') }) { $gone = 1; last; }
	usleep(100_000);
}
ok($gone, 'the worker deleted the object within 5 s, with no call of osv.storage_sync()');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM osv.storage_deletions'), 'and emptied the queue');

# Several objects: the worker sends them as one DeleteObjects.
my @more = map { "users/bob/worker batch $_ & more.pdf" } 1 .. 3;
for my $key (@more)
{
	seed('osv-documents', $key);
	$node->safe_psql('postgres', "INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT id, 'other', 'doc', 'osv-documents', '$key' FROM osv.users WHERE auth0_id = 'auth0|bob'");
}
test_api('DELETE', 'requests');
$node->safe_psql('postgres', "DELETE FROM osv.documents WHERE storage_key LIKE 'users/bob/worker batch %'");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM osv.storage_deletions'), 'the worker drains three deletions');
ok(!grep({ m{^users/bob/worker batch} } @{ objects('osv-documents') }), 'their objects are gone');
is(join(',', sort map { @{ $_->{delete_keys} // [] } } grep { $_->{method} eq 'POST' && ($_->{status} // 0) == 200 } @{ test_api('GET', 'requests')->{result} }),
	join(',', sort @more), 'with DeleteObjects');

done_testing();
