# A refusal of Qdrant (401/403: a wrong API key) is an error of the
# search, never a fallback to the in-database scan (DESIGN.md section 10),
# also while the sync target is backing off after that refusal: the
# back-off says Qdrant cannot be asked only when the cause is an outage.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $q = start_qdrant(api_key => 'right-key');

my $node = osv_node('refusal', qdrant => $q, sync => { naptime => '1s', backoff => '1h', backoff_max => '1h' },
	conf => q{
osv.qdrant_api_key = 'wrong-key'
osv.qdrant_timeout = '1s'
});

create_osv($node, emb => {}, users => ['u1'], documents => 5, sql => q{
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'odd', 'summary ' || d.id, emb(d.id) FROM osv.documents d;
});

# The worker is refused and backs off after the refusal: for 30 to 60
# minutes by the settings (jitter of 0.5 to 1).  A reload ends a back-off:
# the worker tries again, is refused again and draws a new one; 8 draws.
# (The jitter was once random() alone, 0 to 1, for want of parentheses
# around a product written with OPERATOR(): every OPERATOR() has one
# precedence.  2 of about 20 runs then found a back-off of minutes.)
my @gaps;
for my $draw (1 .. 8)
{
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()') if $draw > 1;
	$node->poll_query_until('postgres', qq{
		SELECT consecutive_failures >= $draw AND retry_at IS NOT NULL AND last_error LIKE '%HTTP status 401%'
		  FROM osv.vector_sync_status})
	  or last;
	push @gaps, $node->safe_psql('postgres',
		'SELECT extract(epoch FROM retry_at - last_error_at)::int FROM osv.vector_sync_status');
}
is(scalar(@gaps), 8, 'the sync is refused (401) after each reload');
is(scalar(grep { $_ >= 1799 && $_ <= 3601 } @gaps), 8,
	'each back-off after a refusal is 30 to 60 minutes: ' . join(' ', @gaps));

my ($rc, $out, $err) = $node->psql('postgres',
	'SELECT count(*) FROM osv.search_summaries(emb(3), 3)');
isnt($rc, 0, 'backing off after a refusal: the search is an error');
like($err, qr/HTTP status 401/, 'with Qdrant\'s refusal');
unlike($err, qr/in-database scan/, 'not a fallback to the in-database scan');

$node->stop;
done_testing();
