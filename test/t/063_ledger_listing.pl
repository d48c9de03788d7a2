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
use OsvTest;

my $gate = start_s3_gate(buckets => ['osv-ledger']);

sub faults { s3_test_api($gate, 'DELETE', 'faults'); s3_test_api($gate, 'POST', 'faults', { faults => [@_] }) if @_; }

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

my $node = osv_node('ledger_listing', scheduler => 0, vector_sync => 0, s3 => $gate,
	conf => "osv.s3_timeout = '5s'\nosv.erasure_ledger_bucket = 'osv-ledger'\n");
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
