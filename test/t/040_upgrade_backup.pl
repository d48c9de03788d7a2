# Released versions update to the current one with every row kept and the
# catalog of a fresh install; logical backups (pg_dump, plain and custom
# format) restore every row, sequence position and the analytics secret,
# without an error.
#
# For each released version (osv--V.sql at the top of the tree, frozen): a
# database gets that version and data through the public API, then
# ALTER EXTENSION osv UPDATE; its table contents must not change, and its
# schema (pg_dump --schema-only --binary-upgrade, which lists the
# extension's members one by one, normalised) must equal a fresh install's.
# Then both databases are dumped and restored into new databases, whose
# contents must equal the originals'.  Finally, a database whose dump lacks
# one config-dump mark must fail that comparison, so the comparison can
# tell.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;
use IPC::Run;

my $root = $ENV{OSV_ROOT} || dirname(dirname(dirname(__FILE__)));
my $sample = "$root/demo/sample_data.sql";

# A Qdrant URL (nothing listens there; the sync worker is off) so that the
# outbox holds pending entries, which a backup must keep too.
my $node = osv_node('backup', database => undef, scheduler => 0, vector_sync => 0, conf => q{
osv.qdrant_url = 'http://127.0.0.1:9'
timezone = 'UTC'
});

my $bindir = $node->config_data('--bindir');
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub psql_file
{
	my ($db, $file) = @_;
	my ($ret, $out, $err) = $node->psql($db, undef, extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', $file ]);
	return ($ret, $err);
}

# The activity the sample data lacks: logs of days with their own partition,
# of old days in the archive (moved partitions and rows moved one by one), a
# trashed user and document, a pending outbox.
my $more_data = <<'SQL';
SELECT osv.create_activity_log_partitions(3, (now() AT TIME ZONE 'UTC')::date - 100);
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
	SELECT id, 'page.view', now() - interval '99 days' FROM osv.users;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
	SELECT id, 'page.view', now() - interval '300 days' FROM osv.users;
SELECT osv.archive_activity_logs('90 days');
SELECT osv.create_activity_log_partitions(2);
SELECT osv.log_activity(id, 'page.view') FROM osv.users ORDER BY id;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT d.id, 'notes', d.title, osv.embed_text(d.title) FROM osv.documents d
	WHERE NOT EXISTS (SELECT FROM osv.summaries s WHERE s.document_id = d.id);
UPDATE osv.documents SET deleted_at = now() WHERE id = 2;
SELECT osv.soft_delete('osv.users', 3);
DELETE FROM osv.summaries WHERE id = (SELECT max(id) FROM osv.summaries);
SQL

# Every table of schema osv (each partition on its own) and every sequence,
# as "name|md5 of the ordered rows:count" or "name|last value"; plus the
# analytics tokens, which depend on the secret.  Rows are compared as JSON
# without NULL members, so that a nullable column an update adds (NULL in
# the rows it finds, e.g. osv.job_runs.run_by) does not count as a change.
my $contents_sql = <<'SQL';
SELECT c.relname || '|' ||
	CASE WHEN c.relkind = 'S' THEN coalesce(pg_sequence_last_value(c.oid)::text, 'unused')
	ELSE (xpath('/row/m/text()', query_to_xml(format(
		'SELECT md5(coalesce(string_agg(jsonb_strip_nulls(to_jsonb(t))::text, E''\n'' ORDER BY jsonb_strip_nulls(to_jsonb(t))::text), '''')) || '':'' || count(*) AS m FROM ONLY %s t',
		c.oid::regclass), false, true, '')))[1]::text END
FROM pg_class c
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'S')
UNION ALL
SELECT 'analytics_events|' || md5(string_agg(e::text, E'\n' ORDER BY e::text)) FROM osv.analytics_events e
ORDER BY 1;
SQL

sub contents { return $node->safe_psql($_[0], $contents_sql); }

# The columns of every table of schema osv: { relname => "col,col,..." }.
sub columns_of
{
	my ($db) = @_;
	my %cols = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql($db, q{
		SELECT c.relname || '|' || string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum)
		  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind = 'r' GROUP BY c.relname});
	return \%cols;
}

# contents() after an update, as it was before: a table the update added
# must be empty and is left out; a table that got columns (at its end) is
# compared on the columns it had before.
sub contents_since
{
	my ($db, $before) = @_;
	my $now = columns_of($db);
	my @out;
	for my $line (split /\n/, contents($db))
	{
		my ($name, $rest) = split /\|/, $line, 2;
		if (exists $now->{$name} && !exists $before->{$name})
		{
			push @out, "$name: added by the update, but not empty" unless $rest =~ /:0$/;
			next;
		}
		if (exists $before->{$name} && $before->{$name} ne $now->{$name})
		{
			# The same form as contents(), on the columns the table had before.
			my $row = 'jsonb_strip_nulls(jsonb_build_object('
			  . join(',', map { "'$_', t.$_" } split /,/, $before->{$name}) . '))::text';
			$rest = $node->safe_psql($db,
				"SELECT md5(coalesce(string_agg($row, E'\\n' ORDER BY $row), '')) || ':' || count(*) FROM ONLY osv.$name t");
		}
		push @out, "$name|$rest";
	}
	return join("\n", @out);
}

# The catalog as pg_dump sees it, without what differs between any two
# databases (OIDs, transaction ids, sequence positions) and without the
# daily log partitions, which are data made at run time.
sub schema
{
	my ($db) = @_;
	my $out = `$bindir/pg_dump -h ${\$node->host} -p ${\$node->port} --schema-only --binary-upgrade $db`;
	die "pg_dump $db failed" if $?;
	my @kept;
	for my $block (split /\n(?=--\n-- )/, $out)
	{
		next if $block =~ /activity_logs(?:_archive)?_p\d{8}/;
		$block = join "\n", grep {
			!/^(?:SELECT pg_catalog\.binary_upgrade_set_next_|SET relfrozenxid|WHERE oid = |UPDATE pg_catalog\.pg_class$|\\(?:un)?restrict |SELECT pg_catalog\.setval\()/
		} split /\n/, $block;
		$block =~ s/(binary_upgrade_create_empty_extension\('osv', 'pg_catalog', false, '[\d.]+', )'\{[\d,]*\}'/$1'{...}'/;
		push @kept, $block;
	}
	return join "\n", @kept;
}

# The tables marked for pg_dump, by name (the OIDs in the dump differ).
sub config_tables
{
	return $_[0] eq '' ? '' : $node->safe_psql($_[0],
		"SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) "
		  . "FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'osv'");
}

# The current version, from the control file.
my $current = $node->safe_psql('postgres', "SELECT default_version FROM pg_available_extensions WHERE name = 'osv'");

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION osv');
my ($ret, $err) = psql_file('fresh', $sample);
is($ret, 0, "sample data loads into a fresh $current") or diag($err);
$node->safe_psql('fresh', $more_data);

# ------------------------------------------------------------------------
# Updates from every released version.
# ------------------------------------------------------------------------
my @released = map { /osv--([\d.]+)\.sql$/ ? $1 : () } glob("$root/osv--*.sql");
@released = grep { $_ ne $current } @released;
ok(scalar(@released) >= 1, 'released versions: ' . join(', ', @released));
for my $version (@released)
{
	my $db = "from_$version";
	$db =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION osv VERSION '$version'");
	($ret, $err) = psql_file($db, $sample);
	is($ret, 0, "sample data loads into $version") or diag($err);
	$node->safe_psql($db, $more_data);
	my $before = contents($db);
	my $columns_before = columns_of($db);
	($ret, my $out, $err) = $node->psql($db, 'ALTER EXTENSION osv UPDATE');
	is($ret, 0, "ALTER EXTENSION osv UPDATE from $version") or diag($err);
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'osv'"), $current, "$version is now $current");
	is(contents_since($db, $columns_before), $before, "the update from $version keeps every row and sequence position");
	my ($a, $b) = (schema($db), schema('fresh'));
	ok($a eq $b, "the catalog updated from $version equals a fresh $current") or do {
		open my $fa, '>', "$tmp/a.sql"; print $fa $a; close $fa;
		open my $fb, '>', "$tmp/b.sql"; print $fb $b; close $fb;
		diag(`diff $tmp/a.sql $tmp/b.sql | head -60`);
	};
	is(config_tables($db), config_tables('fresh'), "the same tables are marked for pg_dump after the update from $version");
	# After the update the database works like a fresh one.
	is($node->safe_psql($db, "SELECT osv.log_activity(1, 'after.update') IS NOT NULL"), 't', "logging works after the update from $version");
}

# ------------------------------------------------------------------------
# pg_dump and restore, plain and custom format.
# ------------------------------------------------------------------------
my $n = 0;

# Dump $db in $format, restore into a new database; returns its name and
# what the restore wrote to stderr.
sub round_trip
{
	my ($db, $format) = @_;
	my $target = 'restored_' . ++$n;
	my $file = "$tmp/$db.$format";
	my @conn = ('-h', $node->host, '-p', $node->port);
	system("$bindir/pg_dump", @conn, "--format=$format", '-f', $file, $db) == 0 or die "pg_dump $db failed";
	$node->safe_psql('postgres', "CREATE DATABASE $target");
	my $stderr;
	if ($format eq 'plain')
	{
		($ret, my $out, $stderr) = $node->psql($target, undef, extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', $file ]);
	}
	else
	{
		IPC::Run::run([ "$bindir/pg_restore", @conn, '-d', $target, $file ], '>', \my $out, '2>', \$stderr);
		$ret = $? >> 8;
	}
	return ($target, $ret, $stderr);
}

for my $db ('fresh', map { my $d = "from_$_"; $d =~ s/\./_/g; $d } @released)
{
	my $expected = contents($db);
	for my $format ('plain', 'custom')
	{
		my ($target, $rc, $stderr) = round_trip($db, $format);
		is($rc, 0, "$db: $format restore succeeds");
		is($stderr, '', "$db: $format restore prints no error");
		is(contents($target), $expected, "$db: $format restore gives back every row, sequence position and token");
		# The next insert of every table with an identity succeeds: each
		# identity continues after the highest id.
		is($node->safe_psql($target, <<'SQL'), '', "$db: $format restore continues every identity");
SELECT string_agg(format('%s: %s <= %s', t.relname, s.last, t.maxid), ', ')
FROM (SELECT c.relname, c.oid, pg_get_serial_sequence(format('osv.%I', c.relname), 'id') AS seq,
			 (xpath('/row/m/text()', query_to_xml(format('SELECT max(id) AS m FROM osv.%I', c.relname), false, true, '')))[1]::text::bigint AS maxid
	  FROM pg_class c
	  WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' AND a.attidentity <> '')) t
CROSS JOIN LATERAL (SELECT coalesce(pg_sequence_last_value(t.seq::regclass), 0) AS last) s
WHERE t.maxid IS NOT NULL AND s.last < t.maxid;
SQL
		is($node->safe_psql($target, <<'SQL'), 't', "$db: $format restore takes new rows through the API");
SELECT osv.upsert_auth0_user('{"user_id": "auth0|after-restore", "email": "after@example.org", "name": "After"}') IS NOT NULL
   AND osv.log_activity(1, 'after.restore') IS NOT NULL
   AND osv.award_points(1, 1, 'after restore') IS NOT NULL
   AND osv.create_room(1, 'After restore') IS NOT NULL;
SQL
	}
}

# The pending outbox and the trash survived (the comparison above covers
# them; this says that there was something to compare).
is($node->safe_psql('fresh', "SELECT count(*) > 0 FROM osv.vector_outbox"), 't', 'the dumped database had a pending outbox');
is($node->safe_psql('fresh', "SELECT count(*) > 0 FROM osv.users WHERE deleted_at IS NOT NULL"), 't', 'and trashed rows');
is($node->safe_psql('fresh', "SELECT count(*) > 0 FROM osv.activity_logs_archive"), 't', 'and archived logs');

# Without one mark the round trip loses that table's rows, and the
# comparison sees it.
$node->safe_psql('fresh',
	"UPDATE pg_extension SET extconfig = array_remove(extconfig, 'osv.points'::regclass), "
	  . "extcondition = extcondition[1:cardinality(extconfig) - 1] WHERE extname = 'osv'");
my ($target) = round_trip('fresh', 'custom');
isnt(contents($target), contents('fresh'), 'a dump without the mark of osv.points does not compare equal');

$node->stop;
done_testing();
