# Every ```sql block of README.md runs, as written, against a database
# with osv and the demo's sample data (demo/sample_data.sql): each block in
# a fresh copy of that database (CREATE DATABASE ... TEMPLATE), with
# ON_ERROR_STOP, so an example with a wrong calling form, a wrong argument
# or a name that no longer exists fails here.  Lines that need a service
# the test does not start are skipped, each listed in %skip with its
# reason; a skip that matches no line fails too, so the list stays honest.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $root = $ENV{OSV_ROOT} || dirname(dirname(dirname(__FILE__)));

# Lines skipped: a substring of the line => why.
my %skip = (
	q{SELECT * FROM osv.qdrant_search('{...}'::real[]} => 'needs a Qdrant server (and the vector is elided)',
	q{SELECT osv.vector_reconcile();} => 'needs a Qdrant server',
	q{SELECT osv.vector_sync();} => 'needs a Qdrant server (osv.qdrant_url; embedded mode refuses)',
	q{SELECT osv.vector_sync(100);} => 'needs a Qdrant server (osv.qdrant_url; embedded mode refuses)',
	q{SELECT osv.vector_resync();} => 'needs a Qdrant server (osv.qdrant_url; embedded mode refuses)',
	q{SELECT osv.qdrant_delete_user_points(7);} => 'needs a Qdrant server',
	q{SELECT cron.schedule_in_database(} => 'needs pg_cron (run for real by test/t/012_pg_cron_database.pl)',
	q{SELECT cron.unschedule(} => 'needs pg_cron (run for real by test/t/012_pg_cron_database.pl)',
	q{ALTER EXTENSION osv UPDATE;} => 'needs an older osv installed (run for real by test/t/040_upgrade_backup.pl)',
);
my %skip_used;

open(my $fh, '<', "$root/README.md") or die "README.md: $!";
my (@blocks, $cur, $start);
my $lineno = 0;
while (my $line = <$fh>)
{
	$lineno++;
	if (!defined $cur && $line =~ /^```sql\s*$/)
	{
		$cur = '';
		$start = $lineno;
		next;
	}
	if (defined $cur && $line =~ /^```\s*$/)
	{
		push @blocks, [ $start, $cur ];
		undef $cur;
		next;
	}
	next unless defined $cur;
	my ($why) = grep { index($line, $_) >= 0 } sort keys %skip;
	if (defined $why)
	{
		$skip_used{$why}++;
		note "README.md line $lineno skipped ($skip{$why}): $line";
		$line = "-- skipped: $line";
	}
	$cur .= $line;
}
close $fh;
ok(@blocks >= 5, 'README.md has SQL examples (' . scalar(@blocks) . ' blocks)');

my $node = osv_node('readme', database => 'readme_template', scheduler => 0, vector_sync => 0, conf => "timezone = 'UTC'\n");
$node->safe_psql('postgres', 'CREATE DATABASE readme_template');
$node->safe_psql('readme_template', 'CREATE EXTENSION osv');
my ($ret, $out, $err) = $node->psql('readme_template', undef,
	extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', "$root/demo/sample_data.sql" ]);
is($ret, 0, 'the sample data loads') or diag $err;
# The sample data has no summaries: one per document, embedded.
$node->safe_psql('readme_template', q{
INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT d.id, 'notes', d.title, osv.embed_text(d.title) FROM osv.documents d ORDER BY d.id;
});

my $i = 0;
for my $b (@blocks)
{
	my ($first, $sql) = @$b;
	$i++;
	$node->safe_psql('postgres', "CREATE DATABASE readme_$i TEMPLATE readme_template");
	($ret, $out, $err) = $node->psql("readme_$i", $sql, on_error_stop => 1);
	is($ret, 0, "README.md block at line $first runs") or diag "$sql\n$err";
	unlike($err, qr/^(ERROR|WARNING):/m, "README.md block at line $first raises no error or warning")
	  or diag $err;
}

for my $s (sort keys %skip)
{
	ok($skip_used{$s}, "skip \"$s\" matches a README line");
}

$node->stop;
done_testing();
