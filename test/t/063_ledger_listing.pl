# The listing of the erasure ledger bucket (osv.erasure_ledger_objects(),
# which osv.reapply_erasures() reads) against a lying endpoint: pages that
# say the listing goes on, with a continuation token given before (the
# same one each time, or a cycle of two), end it with an error at once;
# before, the listing went on for ever (until a statement timeout), its
# memory growing by a page each time.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Cwd ();

my $root = $ENV{OSV_ROOT};
my $s3rver = $ENV{OSV_S3RVER_DIR} // '/var/cache/osv-npm/s3rver';
plan skip_all => "s3rver is not installed in $s3rver (test/run s3 tap installs it)"
  unless -d "$s3rver/node_modules";

my $s3dir = Cwd::abs_path(PostgreSQL::Test::Utils::tempdir());
my $port = `$root/test/s3/start $s3dir --bucket osv-ledger 2>>$s3dir/start.err`;
chomp $port;
die "test/s3/start failed: " . slurp_file("$s3dir/start.err") unless $port =~ /^\d+$/;
END { system("$root/test/s3/stop", $s3dir) if $s3dir; }
my $s3 = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 30);

sub test_api
{
	my ($method, $path, $body) = @_;
	my $r = $http->request($method, "$s3/__test/$path",
		{ defined $body ? (content => encode_json($body), headers => { 'Content-Type' => 'application/json' }) : () });
	die "$method /__test/$path: $r->{status} $r->{content}" unless $r->{success};
	return decode_json($r->{content});
}

sub faults { test_api('DELETE', 'faults'); test_api('POST', 'faults', { faults => [@_] }) if @_; }

# A page of a ListObjectsV2 answer with no key, saying more follow.
sub page
{
	my ($token, $count) = @_;
	return { method => 'GET', path => '^/osv-ledger/?$', count => $count // 1,
		action => { type => 'status', status => 200,
			body => '<?xml version="1.0" encoding="UTF-8"?>'
			  . '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>osv-ledger</Name>'
			  . '<Prefix>erasures/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>'
			  . "<IsTruncated>true</IsTruncated><NextContinuationToken>$token</NextContinuationToken>"
			  . '</ListBucketResult>' } };
}

my $secret_file = "$s3dir/secret";
open my $fh, '>', $secret_file or die;
print $fh "osvtestsecret\n";
close $fh;
chmod 0600, $secret_file;

my $node = PostgreSQL::Test::Cluster->new('ledger_listing');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'osv'
osv.database = 'postgres'
osv.scheduler_worker = off
osv.vector_sync_worker = off
osv.s3_endpoint = '$s3'
osv.s3_access_key_id = 'osvtestkey'
osv.s3_secret_access_key_file = '$secret_file'
osv.s3_timeout = '5s'
osv.erasure_ledger_bucket = 'osv-ledger'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION osv');

my $list = q{SET statement_timeout = '20s'; SELECT count(*) FROM osv.erasure_ledger_objects()};

# The same token on every page.
faults(page('loop', -1));
my ($ret, $out, $err) = $node->psql('postgres', $list);
isnt($ret, 0, 'a listing that repeats its token fails');
like($err, qr/could not list the erasure ledger bucket "osv-ledger": object storage gave the same continuation token twice/,
	'at the second page, not at the statement timeout');
like($err, qr/The listing stopped after 2 pages/, 'the detail says after how many pages');

# A cycle of two tokens.
faults(map { page($_ % 2 ? 'odd' : 'even') } 1 .. 10);
($ret, $out, $err) = $node->psql('postgres', $list);
like($err, qr/object storage gave the same continuation token twice.*\n.*after 3 pages/,
	'a cycle of two tokens fails at the third page');

# So does osv.reapply_erasures(), which reads the bucket first.
faults(page('loop', -1));
($ret, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '20s'; SELECT osv.reapply_erasures()});
like($err, qr/gave the same continuation token twice/, 'osv.reapply_erasures() stops with the error');

# An honest listing (s3rver's own answer).
faults();
is($node->safe_psql('postgres', 'SELECT count(*) FROM osv.erasure_ledger_objects()'), '0',
	'an honest listing of the empty bucket');

$node->stop;
done_testing();
