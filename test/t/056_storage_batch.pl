# Object deletions in batches (S3 DeleteObjects, osv.s3_delete_batch_size)
# against the S3 test gate (test/s3: s3rver behind a gate that checks every
# SigV4 signature and the Content-MD5 of the body): keys that need XML
# escaping, the same key in several rows and buckets, missing keys, per-key
# errors (injected by the gate) and NoSuchKey, a whole request refused
# with 403, an unreachable endpoint, unparsable and truncated answers, a
# store that refuses DeleteObjects (501, 400: one DeleteObject per object),
# batch size 1 and smaller batches; an erasure is confirmed only when all
# its objects are gone, and no object of another user is deleted.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $gate = start_s3_gate(buckets => [ 'osv-documents', 'osv-extra' ]);
my ($s3, $s3dir) = ($gate->{url}, $gate->{dir});

sub test_api { return s3_test_api($gate, @_); }
sub seed { s3_seed($gate, $_[0], $_[1], 'bytes'); }
sub objects { return s3_objects($gate, @_); }
sub faults { test_api('DELETE', 'faults'); test_api('POST', 'faults', { faults => [@_] }) if @_; }
sub requests { return @{ test_api('GET', 'requests')->{result} }; }
sub clear_log { test_api('DELETE', 'requests'); }

my $node = osv_node('batch', scheduler => 0, vector_sync => 0, s3 => $gate, conf => q{
osv.s3_connect_timeout = '500ms'
osv.s3_timeout = '5s'
osv.storage_sync_backoff = '1ms'
osv.storage_sync_backoff_max = '1ms'
});
$node->safe_psql('postgres', 'CREATE EXTENSION osv');

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

# One osv.storage_sync() (failures back off 1 ms: the next call retries).
sub sync_once { $node->psql('postgres', 'SELECT osv.storage_sync()'); usleep(5_000); }

sub status
{
	return sql("SELECT pending, failed, coalesce(last_error, '-') FROM osv.storage_sync_status WHERE target = 'object_storage'");
}

sub row_errors
{
	return sql("SELECT string_agg(storage_bucket || ':' || storage_key || ' ' || coalesce(last_status::text, '-') || ' ' || coalesce(last_error, '-'), E'\\n' ORDER BY storage_bucket, storage_key) FROM osv.storage_deletions");
}

# Queue deletions: [bucket, key] pairs, as rows of osv.storage_deletions.
sub queue
{
	sql("INSERT INTO osv.storage_deletions (storage_bucket, storage_key) VALUES "
		  . join(', ', map { '(' . lit($_->[0]) . ', ' . lit($_->[1]) . ')' } @_));
}

# The DeleteObjects requests of the log: [bucket, status, [keys]].
sub batches
{
	return map { [ $_->{bucket}, $_->{status}, $_->{delete_keys} ] }
	  grep { $_->{method} eq 'POST' && ($_->{query} // '') =~ /^delete/ } requests();
}

# ------------------------------------------------------------------------
# An erasure and a DELETE: keys that need escaping, the same key in two
# buckets and in two rows, a key another user's document names, missing
# objects, a per-key error and a NoSuchKey.
# ------------------------------------------------------------------------
my @ada = ('ada/a & b <c> "d" \'e\'.pdf', "ada/\x{fc}n\x{ef} c\x{f6}d\x{e9} \x{2713}.txt", 'ada/100% done;=+?#.mp3',
	"ada/tab\there", 'ada/denied once.pdf', 'shared/same key.pdf', ' padded ', '007');
my @bob = ('bob/a & b <c> "d" \'e\'.pdf', 'bob/kept.pdf');
sql(q{INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|ada', 'ada@example.org'), ('auth0|bob', 'bob@example.org')});
my $docs = join(', ',
	(map { "((SELECT id FROM osv.users WHERE auth0_id = 'auth0|ada'), 'other', 'doc', 'osv-documents', " . lit($_) . ')' } @ada),
	"((SELECT id FROM osv.users WHERE auth0_id = 'auth0|ada'), 'other', 'doc', 'osv-extra', 'shared/same key.pdf')",
	(map { "((SELECT id FROM osv.users WHERE auth0_id = 'auth0|bob'), 'other', 'doc', 'osv-documents', " . lit($_) . ')' } @bob),
	"((SELECT id FROM osv.users WHERE auth0_id = 'auth0|bob'), 'other', 'doc', 'osv-extra', 'bob/extra.pdf')");
{
	my $u = $docs;
	utf8::encode($u);
	$node->safe_psql('postgres', "INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key) VALUES $u");
}
seed('osv-documents', $_) for @ada, @bob;
seed('osv-extra', $_) for 'shared/same key.pdf', 'bob/extra.pdf';
# Bob's document in the trash names Ada's "shared" key in osv-documents:
# that object stays.
sql(q{UPDATE osv.documents SET storage_key = 'shared/same key.pdf', deleted_at = now() WHERE storage_key = 'bob/kept.pdf'});
seed('osv-documents', 'bob/kept.pdf');

faults({ method => 'POST', path => '^/osv-documents/ada/denied once\.pdf$', action => { type => 'key_error' } },
	{ method => 'POST', path => '^/osv-documents/ada/never uploaded\.pdf$', action => { type => 'key_error', code => 'NoSuchKey', message => 'The specified key does not exist.' } });
clear_log();
my $receipt = sql("SELECT osv.data_delete(id)->>'receipt' FROM osv.users WHERE auth0_id = 'auth0|ada'");
# Two more rows: a repeated key and an object never uploaded.
queue([ 'osv-documents', $ada[0] ], [ 'osv-documents', 'ada/never uploaded.pdf' ], [ 'osv-documents', 'ada/gone already' ]);
sync_once();

my @b = batches();
is_deeply([ map { $_->[0] } @b ], ['osv-documents'], 'one DeleteObjects request, for the bucket with several keys');
is_deeply([ sort @{ $b[0][2] } ],
	[ sort 'ada/a & b <c> "d" \'e\'.pdf', "ada/\x{fc}n\x{ef} c\x{f6}d\x{e9} \x{2713}.txt", 'ada/100% done;=+?#.mp3',
		"ada/tab\there", 'ada/denied once.pdf', 'ada/never uploaded.pdf', 'ada/gone already', ' padded ', '007' ],
	'its keys arrived intact (XML-escaped and unescaped), each once, and not the key another document names');
is_deeply([ map { "$_->{bucket} $_->{key} $_->{status}" } grep { $_->{method} eq 'DELETE' } requests() ],
	['osv-extra shared/same key.pdf 204'], 'the lone key of the other bucket went as DeleteObject');
ok(!grep({ defined $_->{error} && $_->{error} ne 'InternalError' } requests()), 'the gate accepted every signature and Content-MD5');
is(row_errors(), 'osv-documents:ada/denied once.pdf 200 DeleteObjects key error AccessDenied: Access Denied',
	'only the row whose key got an error is left, with the code and message of that key');
is(status(), '1|1|DeleteObjects key error AccessDenied: Access Denied', 'the status says why');
is_deeply(objects('osv-documents'), [ sort 'ada/denied once.pdf', 'bob/a & b <c> "d" \'e\'.pdf', 'bob/kept.pdf', 'shared/same key.pdf' ],
	"Ada's objects are gone but the one refused; Bob's, and the key his document names, are kept");
is_deeply(objects('osv-extra'), [ 'bob/extra.pdf' ], "in the other bucket Ada's object is gone, Bob's kept");
is(sql("SELECT targets->>'object_storage' FROM osv.erasure_ledger WHERE receipt = '$receipt'"), 'pending',
	'the erasure is not confirmed while one of its objects is left');
sync_once();
is(status(), '0|0|-', 'the refused key is retried and done');
is(sql("SELECT targets->>'object_storage' FROM osv.erasure_ledger WHERE receipt = '$receipt'"), 'confirmed',
	'then the erasure is confirmed');
is_deeply(objects('osv-documents'), [ sort 'bob/a & b <c> "d" \'e\'.pdf', 'bob/kept.pdf', 'shared/same key.pdf' ],
	"nothing of Bob's is deleted");

# ------------------------------------------------------------------------
# Whole-request failures: every row of the request fails, nothing is lost.
# ------------------------------------------------------------------------
my @keys = map { "batch/object $_.bin" } 1 .. 5;
sub seed_and_queue { seed('osv-documents', $_) for @keys; queue(map { [ 'osv-documents', $_ ] } @keys); clear_log(); }
sub batch_left { return scalar grep { m{^batch/} } @{ objects('osv-documents') }; }

seed_and_queue();
faults({ method => 'POST', path => '^/osv-documents$', action => { type => 'status', status => 403 } });
sync_once();
like(status(), qr{^5\|5\|HTTP 403 AccessDenied: Access Denied$}, 'a 403 to the request: all five rows failed, the status says why');
is(batch_left(), 5, 'and the objects are there');
faults();
sync_once();
is(status(), '0|0|-', 'the next round deletes them');
is(batch_left(), 0, 'all of them');

for my $case ([ 'an unparsable answer', { type => 'garbage' }, qr/no complete DeleteResult/ ],
	[ 'a truncated answer', { type => 'status', status => 200,
		body => '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Deleted><Key>batch/object 1.bin</Key></Deleted>' },
	  qr/no complete DeleteResult/ ],
	[ 'an answer that leaves keys out', { type => 'status', status => 200,
		body => '<DeleteResult><Deleted><Key>not asked</Key></Deleted></DeleteResult>' },
	  qr/does not mention the key/ ],
	[ 'a 503', { type => 'status', status => 503 }, qr/^HTTP 503 SlowDown/ ])
{
	my ($what, $action, $error) = @$case;
	seed_and_queue();
	faults({ method => 'POST', path => '^/osv-documents$', action => $action });
	sync_once();
	my ($pending, $failed, $err) = split /\|/, status();
	is("$pending|$failed", '5|5', "$what: every row of the request fails");
	like($err, $error, "$what: the status says why");
	is(batch_left(), 5, "$what: no object lost track of (the gate's answer deleted none)");
	faults();
	sync_once();
	is(status(), '0|0|-', "$what: the next round deletes them");
}

seed_and_queue();
set_and_reload($node, 'osv.s3_endpoint' => 'http://127.0.0.1:9');
sync_once();
like(status(), qr{^5\|5\|could not reach "http://127\.0\.0\.1:9"}, 'an unreachable endpoint: queued, failed, named');
set_and_reload($node, 'osv.s3_endpoint' => $s3);
sync_once();
is(status(), '0|0|-', 'after a reload the queue drains');
is(batch_left(), 0, 'and the objects are gone');

# ------------------------------------------------------------------------
# A store without DeleteObjects: 501 or 400 to the POST, one DeleteObject
# per object in the same round, logged once.
# ------------------------------------------------------------------------
my $log_offset = -s $node->logfile;
seed_and_queue();
faults({ method => 'POST', path => '^/osv-documents$', count => -1, action => { type => 'status', status => 501 } });
# Two rounds in one session (one process): the refusal is logged once.
sql("SELECT osv.storage_sync(); INSERT INTO osv.storage_deletions (storage_bucket, storage_key)
	VALUES ('osv-documents', 'batch/again 1'), ('osv-documents', 'batch/again 2'); SELECT osv.storage_sync()");
is(status(), '0|0|-', 'DeleteObjects answered 501: the rows are done in the same round');
is(batch_left(), 0, 'the objects are gone');
is(join(',', map { "$_->{method} $_->{status}" } grep { $_->{method} ne 'GET' } requests()),
	join(',', 'POST 501', ('DELETE 204') x 5, 'POST 501', ('DELETE 204') x 2),
	'each round: one refused POST, then one DeleteObject per object');
seed_and_queue();
faults({ method => 'POST', path => '^/osv-documents$', action => { type => 'status', status => 400 } });
sync_once();
is(status(), '0|0|-', 'DeleteObjects answered 400: the rows are done in the same round too');
is(join(',', map { "$_->{method} $_->{status}" } grep { $_->{method} ne 'GET' } requests()),
	join(',', 'POST 400', ('DELETE 204') x 5), 'by one DeleteObject per object');
faults();
my $server_log = substr(slurp_file($node->logfile), $log_offset);
my @refused = $server_log =~ /object storage refused a DeleteObjects request: (.*)/g;
is_deeply(\@refused, [ 'HTTP 501 NotImplemented: A header you provided implies functionality that is not implemented.',
	'HTTP 400 BadRequest: Injected fault' ], 'the refusal is logged once per process, with the answer');

# ------------------------------------------------------------------------
# osv.s3_delete_batch_size: its limits, 1 (one DeleteObject per object),
# 2 (requests of two keys; a lone key goes as a DeleteObject).
# ------------------------------------------------------------------------
for my $bad (0, 1001)
{
	my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET osv.s3_delete_batch_size = $bad");
	like($err, qr/$bad is outside the valid range for parameter "osv.s3_delete_batch_size" \(1 \.\. 1000\)/,
		"osv.s3_delete_batch_size = $bad is refused");
}
set_and_reload($node, 'osv.s3_delete_batch_size' => 1);
seed_and_queue();
sync_once();
is(status(), '0|0|-', 'batch size 1: done');
is(join(',', map { $_->{method} } requests()), join(',', ('DELETE') x 5), 'with one DeleteObject per object');
set_and_reload($node, 'osv.s3_delete_batch_size' => 2);
seed_and_queue();
queue([ 'osv-documents', "batch/control\x01char" ]);
sync_once();
is(status(), '0|0|-', 'batch size 2: done');
is(batch_left(), 0, 'the objects are gone');
is_deeply([ sort map { scalar @{ $_->[2] } } batches() ], [ 2, 2 ], 'two DeleteObjects of two keys');
is_deeply([ sort map { $_->{key} } grep { $_->{method} eq 'DELETE' } requests() ],
	[ 'batch/control' . "\x01" . 'char', 'batch/object 5.bin' ],
	'the fifth key and a key XML cannot carry go as DeleteObject');
set_and_reload($node, 'osv.s3_delete_batch_size' => undef);

done_testing();
