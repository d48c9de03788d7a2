# test/perl/OsvTest.pm: helpers shared by osv's TAP tests.
#
# - A PostgreSQL::Test::Cluster node with osv preloaded and a test's
#   settings (osv_node), osv created with emb() and study data in it
#   (create_osv), settings changed with a reload (set_and_reload), a
#   worker's pid (backend_pid), a file only its owner reads
#   (write_secret_file).
# - The Qdrant-compatible test server (test/qdrant/qdrant_server.py): start
#   and stop it, call its API and its /__test/ endpoints (faults, the
#   request log), and compare its content with the live summaries of a
#   database (compare_points, and the checks qdrant_matches and
#   qdrant_converged).
# - The S3 test gate (test/s3: s3rver behind a SigV4 gate): start it, call
#   its /__test/ endpoints, seed and list objects.
package OsvTest;

use strict;
use warnings;

use Cwd ();
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(start_qdrant stop_qdrant qdrant_request qdrant_dump
  db_points compare_points wait_synced
  osv_node create_worker_role create_osv emb_sql add_user_summaries set_and_reload alter_system_reload
  backend_pid write_secret_file
  qdrant_matches qdrant_converged qdrant_add_faults qdrant_clear_faults
  qdrant_requests user_points
  start_s3_gate s3_uri_encode s3_test_api s3_seed s3_object s3_objects);

my @servers;
my @gates;
my $http = HTTP::Tiny->new(timeout => 30);

# Start a server; returns a hash: port, url, pid.  Options: api_key, sink.
sub start_qdrant
{
	my (%opt) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $port_file = "$dir/port";
	my @cmd = ('python3', "$ENV{OSV_ROOT}/test/qdrant/qdrant_server.py",
		'--port', '0', '--port-file', $port_file, '--log', "$dir/qdrant.log");
	push @cmd, '--api-key', $opt{api_key} if $opt{api_key};
	push @cmd, '--sink' if $opt{sink};
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>', "$dir/qdrant.out");
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or die "exec: $!";
	}
	for (1 .. 200)
	{
		last if -s $port_file;
		usleep(50_000);
	}
	die "Qdrant test server did not start" unless -s $port_file;
	my $port = slurp_file($port_file);
	chomp $port;
	my $server = { port => $port, pid => $pid, url => "http://127.0.0.1:$port",
		api_key => $opt{api_key}, log => "$dir/qdrant.log" };
	push @servers, $server;
	return $server;
}

sub stop_qdrant
{
	my ($server) = @_;
	return unless $server->{pid};
	kill 'TERM', $server->{pid};
	waitpid($server->{pid}, 0);
	$server->{pid} = undef;
}

END
{
	stop_qdrant($_) for @servers;
}

# Call the server; returns (status, decoded body or raw text).
sub qdrant_request
{
	my ($server, $method, $path, $body) = @_;
	my %headers = ('Content-Type' => 'application/json');
	$headers{'api-key'} = $server->{api_key} if $server->{api_key};
	my $res = HTTP::Tiny->new(timeout => 30)->request($method, "$server->{url}$path",
		{ headers => \%headers, defined $body ? (content => encode_json($body)) : () });
	my $content = $res->{content};
	my $decoded = eval { decode_json($content) };
	return ($res->{status}, defined $decoded ? $decoded : $content);
}

# Points of the collection: { id => { vector => [...], payload => {...} } }.
sub qdrant_dump
{
	my ($server, $collection) = @_;
	$collection //= 'osv_summaries';
	my ($status, $body) = qdrant_request($server, 'GET', "/__test/dump/$collection");
	return {} if $status == 404;
	die "dump failed: $status" unless $status == 200;
	return { map { $_->{id} => $_ } @{ $body->{result}{points} } };
}

# Live summaries with an embedding, as Qdrant should hold them.
sub db_points
{
	my ($node, $db) = @_;
	my $out = $node->safe_psql($db // 'postgres', q{
		SELECT id, user_id, coalesce(topic, '<null>'),
			   to_char(timezone('UTC', created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			   array_to_string(embedding, ',')
		  FROM osv.summaries WHERE deleted_at IS NULL AND embedding IS NOT NULL ORDER BY id});
	my %points;
	for my $line (split /\n/, $out)
	{
		my ($id, $user, $topic, $created, $vec) = split /\|/, $line;
		$points{$id} = { user_id => $user, topic => $topic eq '<null>' ? undef : $topic,
			created_at => $created, vector => [ split /,/, $vec ] };
	}
	return \%points;
}

# Compare Qdrant with the database; returns a list of differences (empty
# when equal).  Qdrant normalises cosine vectors, so vectors are compared
# after normalisation.
sub compare_points
{
	my ($server, $node, $db) = @_;
	my $q = qdrant_dump($server);
	my $d = db_points($node, $db);
	my @diff;
	for my $id (sort { $a <=> $b } keys %$d)
	{
		my $p = $q->{$id};
		if (!$p) { push @diff, "summary $id missing in Qdrant"; next; }
		my $w = $d->{$id};
		for my $k (qw(user_id created_at))
		{
			push @diff, "summary $id: $k $p->{payload}{$k} <> $w->{$k}"
			  unless defined $p->{payload}{$k} && $p->{payload}{$k} eq $w->{$k};
		}
		my ($pt, $wt) = ($p->{payload}{topic}, $w->{topic});
		push @diff, "summary $id: topic differs"
		  unless (!defined $pt && !defined $wt) || (defined $pt && defined $wt && $pt eq $wt);
		push @diff, "summary $id: summary_id payload" unless ($p->{payload}{summary_id} // -1) == $id;
		my $norm = 0;
		$norm += $_ * $_ for @{ $w->{vector} };
		$norm = sqrt($norm) || 1;
		my @v = @{ $p->{vector} };
		if (@v != @{ $w->{vector} }) { push @diff, "summary $id: dimensions"; next; }
		for my $i (0 .. $#v)
		{
			if (abs($v[$i] - $w->{vector}[$i] / $norm) > 1e-5)
			{
				push @diff, "summary $id: vector element $i differs";
				last;
			}
		}
	}
	for my $id (sort { $a <=> $b } keys %$q)
	{
		push @diff, "point $id has no live summary" unless $d->{$id};
	}
	return @diff;
}

# Wait until the outbox is drained (nothing pending or in flight).
sub wait_synced
{
	my ($node, $db) = @_;
	return $node->poll_query_until($db // 'postgres',
		'SELECT pending = 0 AND in_flight = 0 FROM osv.vector_sync_status');
}

# Check (one is_deeply, named $test_name) that Qdrant holds the live
# summaries of the database, with the first differences as diagnostics.
sub qdrant_matches
{
	my ($server, $node, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @diff = compare_points($server, $node);
	my $ok = is_deeply(\@diff, [], $test_name);
	diag(join("\n", @diff[0 .. ($#diff > 10 ? 10 : $#diff)])) unless $ok;
	return $ok;
}

# Wait until the sync converged, then check that Qdrant equals the
# database: two checks, "$name: outbox drained" and qdrant_matches
# ("$name: Qdrant equals the database").
# Options: settled => 1 waits also until nothing is in doubt and no
# erasure sweep is left (the first check is then "$name: outbox drained,
# nothing in doubt, no sweep left"); target => 1 checks first that the
# worker reconciled this server's collection ("$name: the target is
# reconciled", a third check); what => the text of the last check.
sub qdrant_converged
{
	my ($server, $node, $name, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok($node->poll_query_until('postgres',
			"SELECT synced_url = '$server->{url}|osv_summaries' FROM osv.vector_sync_targets"),
		"$name: the target is reconciled")
	  if $opt{target};
	if ($opt{settled})
	{
		ok($node->poll_query_until('postgres',
				'SELECT pending = 0 AND in_flight = 0 AND in_doubt = 0 AND erasure_sweeps = 0 FROM osv.vector_sync_status'),
			"$name: outbox drained, nothing in doubt, no sweep left");
	}
	else
	{
		ok(wait_synced($node), "$name: outbox drained");
	}
	return qdrant_matches($server, $node, "$name: " . ($opt{what} // 'Qdrant equals the database'));
}

# Add fault rules (hashes: method, path, count, action) to the server;
# dies unless it took them.
sub qdrant_add_faults
{
	my ($server, @rules) = @_;
	my ($status) = qdrant_request($server, 'POST', '/__test/faults', { faults => \@rules });
	die "could not add faults: $status" unless $status == 200;
}

# Remove every fault rule of the server.
sub qdrant_clear_faults
{
	my ($server) = @_;
	qdrant_request($server, 'DELETE', '/__test/faults');
}

# The server's request log (hashes: method, path, ...), oldest first;
# with $method and $path_re only the requests that match both.
sub qdrant_requests
{
	my ($server, $method, $path_re) = @_;
	my (undef, $log) = qdrant_request($server, 'GET', '/__test/requests');
	return grep { !defined $method || ($_->{method} eq $method && $_->{path} =~ $path_re) }
	  @{ $log->{result} };
}

# How many points of the server's collection name the user in their payload.
sub user_points
{
	my ($server, $user) = @_;
	my $dump = qdrant_dump($server);
	return scalar grep { ($_->{payload}{user_id} // -1) == $user } values %$dump;
}

# ---------------------------------------------------------------------------
# Nodes.

# A new node, initialised (streaming => 1: allows_streaming) and started
# (start => 0: not), with these lines in postgresql.conf, in this order:
#   preload      shared_preload_libraries ('osv' unless given; '' for none)
#   database     osv.database ('postgres' unless given, when preloaded;
#                undef for no line)
#   scheduler,   osv.scheduler_worker, osv.vector_sync_worker: on or off
#   vector_sync  (by truth), where given
#   qdrant       a server of start_qdrant: osv.qdrant_url
#   s3           a gate of start_s3_gate: osv.s3_endpoint and its credentials
#                (osv.s3_access_key_id, osv.s3_secret_access_key_file)
#   dimensions   osv.vector_dimensions (8 unless given, with qdrant)
#   sync         { naptime => '60s', ... }: osv.vector_sync_NAPTIME = '60s'
#   conf         the rest, as it is
sub osv_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init($opt{streaming} ? (allows_streaming => 1) : ());
	my $preload = $opt{preload} // 'osv';
	my $conf = '';
	$conf .= "shared_preload_libraries = '$preload'\n" if $preload ne '';
	my $database = exists $opt{database} ? $opt{database} : $preload ne '' ? 'postgres' : undef;
	$conf .= "osv.database = '$database'\n" if defined $database;
	for my $w ([ scheduler => 'scheduler_worker' ], [ vector_sync => 'vector_sync_worker' ])
	{
		$conf .= "osv.$w->[1] = " . ($opt{ $w->[0] } ? 'on' : 'off') . "\n" if exists $opt{ $w->[0] };
	}
	$conf .= "osv.qdrant_url = '$opt{qdrant}{url}'\n" if $opt{qdrant};
	$conf .= "osv.s3_endpoint = '$opt{s3}{url}'\nosv.s3_access_key_id = '$opt{s3}{access_key_id}'\n"
	  . "osv.s3_secret_access_key_file = '$opt{s3}{secret_file}'\n"
	  if $opt{s3};
	my $dimensions = $opt{dimensions} // ($opt{qdrant} ? 8 : undef);
	$conf .= "osv.vector_dimensions = $dimensions\n" if defined $dimensions;
	$conf .= "osv.vector_sync_$_ = '$opt{sync}{$_}'\n" for sort keys %{ $opt{sync} // {} };
	$conf .= $opt{conf} // '';
	$node->append_conf('postgresql.conf', $conf);
	$node->start unless defined $opt{start} && !$opt{start};
	return $node;
}

# The workers connect as osv.worker_role (osv_worker), which CREATE
# EXTENSION osv creates; here it exists before the extension, as when an
# operator created it or osv is installed in another database.
sub create_worker_role
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'CREATE ROLE osv_worker LOGIN');
}

# CREATE FUNCTION emb(seed bigint) RETURNS real[]: a test's embedding, the
# same for the same seed.  Options: dims (8), term (the element i of
# 1 .. dims: 'sin(seed * 7 + i)'), dims_argument => 1 (emb(seed, dims)
# with dims defaulting to the dims option).
sub emb_sql
{
	my (%opt) = @_;
	my $dims = $opt{dims} // 8;
	my $term = $opt{term} // 'sin(seed * 7 + i)';
	my ($args, $n) = $opt{dims_argument}
	  ? ("seed bigint, dims integer DEFAULT $dims", 'dims') : ('seed bigint', $dims);
	return "CREATE FUNCTION emb($args) RETURNS real[] LANGUAGE sql IMMUTABLE\n"
	  . "\tAS \$\$ SELECT ARRAY(SELECT ${term}::real FROM generate_series(1, $n) i) \$\$;\n";
}

# CREATE EXTENSION osv in the postgres database, then in the same psql
# session (one safe_psql), where given:
#   emb        emb() (a hash of emb_sql's options; {} for its defaults)
#   users      N users, auth0|<user_prefix>1 .. N (user_prefix 'u') with
#              e-mail <user_prefix>1@example.org ..., or [ names ]: a user
#              auth0|NAME, NAME@example.org each
#   documents  M documents 'doc 1' .. 'doc M' spread over the users
#              (user 1 + g % N), of doc_type ('pdf') in bucket ('tap-bucket'),
#              keys key_prefix ('k/') || g
#   sql        the rest, as it is
sub create_osv
{
	my ($node, %opt) = @_;
	my $sql = "CREATE EXTENSION osv;\n";
	$sql .= emb_sql(%{ $opt{emb} }) if $opt{emb};
	my $n = ref $opt{users} ? scalar @{ $opt{users} } : $opt{users};
	if (ref $opt{users})
	{
		$sql .= "INSERT INTO osv.users (auth0_id, email) VALUES "
		  . join(', ', map { "('auth0|$_', '$_\@example.org')" } @{ $opt{users} }) . ";\n";
	}
	elsif ($n)
	{
		my $p = $opt{user_prefix} // 'u';
		$sql .= "INSERT INTO osv.users (auth0_id, email)\n"
		  . "\tSELECT 'auth0|$p' || g, '$p' || g || '\@example.org' FROM generate_series(1, $n) g;\n";
	}
	if ($opt{documents})
	{
		my $owner = $n == 1 ? '1' : "1 + g % $n";
		my $type = $opt{doc_type} // 'pdf';
		my $bucket = $opt{bucket} // 'tap-bucket';
		my $key = $opt{key_prefix} // 'k/';
		$sql .= "INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)\n"
		  . "\tSELECT $owner, '$type', 'doc ' || g, '$bucket', '$key' || g FROM generate_series(1, $opt{documents}) g;\n";
	}
	$sql .= $opt{sql} // '';
	$node->safe_psql('postgres', $sql);
}

# A summary (topic 'topic', embedding emb(document id)) of each document
# of the user that has none yet.
sub add_user_summaries
{
	my ($node, $user) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO osv.summaries (document_id, topic, content, embedding)
		SELECT d.id, 'topic', 'summary ' || d.id, emb(d.id)
		  FROM osv.documents d WHERE d.user_id = $user
		   AND NOT EXISTS (SELECT FROM osv.summaries s WHERE s.document_id = d.id)});
}

# ALTER SYSTEM SET each setting (RESET where the value is undef), then
# reload the configuration.
sub alter_system_reload
{
	my ($node, %settings) = @_;
	for my $k (sort keys %settings)
	{
		my $v = $settings{$k};
		if (defined $v)
		{
			$v =~ s/'/''/g;
			$node->safe_psql('postgres', "ALTER SYSTEM SET $k = '$v'");
		}
		else
		{
			$node->safe_psql('postgres', "ALTER SYSTEM RESET $k");
		}
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# alter_system_reload, then 300 ms for the workers to process the SIGHUP.
sub set_and_reload
{
	alter_system_reload(@_);
	usleep(300_000);
}

# The pid of the backend of that type ('osv vector sync' unless given) and,
# where given, that application_name; '' when there is none.
sub backend_pid
{
	my ($node, $type, $application_name) = @_;
	my $sql = "SELECT pid FROM pg_stat_activity WHERE backend_type = '" . ($type // 'osv vector sync') . "'";
	$sql .= " AND application_name = '$application_name'" if defined $application_name;
	return $node->safe_psql('postgres', $sql);
}

# Write "$content\n" to $path, readable by its owner only (key files).
sub write_secret_file
{
	my ($path, $content) = @_;
	open(my $fh, '>', $path) or die "open $path: $!";
	print $fh "$content\n";
	close($fh);
	chmod(0600, $path);
}

# ---------------------------------------------------------------------------
# The S3 test gate.

# Start the gate (test/s3/start) with these buckets made; skips the whole
# script where s3rver is not installed.  Returns a hash: url, dir (a
# directory of the test, where the gate keeps its files), access_key_id and
# secret_file (the gate's secret access key, in dir, mode 0600).  Stopped
# at exit.
sub start_s3_gate
{
	my (%opt) = @_;
	my $root = $ENV{OSV_ROOT};
	my $s3rver = $ENV{OSV_S3RVER_DIR} // '/var/cache/osv-npm/s3rver';
	plan skip_all => "s3rver is not installed in $s3rver (test/run s3 tap installs it)"
	  unless -d "$s3rver/node_modules";
	my $dir = Cwd::abs_path(PostgreSQL::Test::Utils::tempdir());
	my $buckets = join('', map { " --bucket $_" } @{ $opt{buckets} // [] });
	my $port = `$root/test/s3/start $dir$buckets 2>>$dir/start.err`;
	chomp $port;
	die "test/s3/start failed: " . slurp_file("$dir/start.err") unless $port =~ /^\d+$/;
	push @gates, $dir;
	write_secret_file("$dir/secret", 'osvtestsecret');
	return { url => "http://127.0.0.1:$port", dir => $dir, access_key_id => 'osvtestkey',
		secret_file => "$dir/secret" };
}

END
{
	system("$ENV{OSV_ROOT}/test/s3/stop", $_) for @gates;
}

# A key percent-encoded for a URL path (UTF-8; '/' kept with $keep_slash).
sub s3_uri_encode
{
	my ($s, $keep_slash) = @_;
	utf8::encode($s) if utf8::is_utf8($s);
	$s =~ s/([^A-Za-z0-9\-._~\/])/sprintf('%%%02X', ord($1))/ge;
	$s =~ s/\//%2F/g unless $keep_slash;
	return $s;
}

# Call the gate's /__test/$path; returns the decoded answer, dies on failure.
sub s3_test_api
{
	my ($gate, $method, $path, $body) = @_;
	my $r = $http->request($method, "$gate->{url}/__test/$path",
		{ defined $body ? (content => encode_json($body), headers => { 'Content-Type' => 'application/json' }) : () });
	die "$method /__test/$path: $r->{status} $r->{content}" unless $r->{success};
	return decode_json($r->{content});
}

# Put an object in the store behind the gate (no signature needed).
sub s3_seed
{
	my ($gate, $bucket, $key, $content) = @_;
	my $r = $http->request('PUT', "$gate->{url}/__test/objects/$bucket/" . s3_uri_encode($key, 1),
		{ content => $content });
	die "seed $key: $r->{status} $r->{content}" unless $r->{success};
}

# The content of an object in the store behind the gate.
sub s3_object
{
	my ($gate, $bucket, $key) = @_;
	return $http->get("$gate->{url}/__test/objects/$bucket/" . s3_uri_encode($key, 1))->{content};
}

# The keys of a bucket.
sub s3_objects
{
	my ($gate, $bucket) = @_;
	return [ map { $_->{key} } @{ s3_test_api($gate, 'GET', "objects/$bucket")->{result}{objects} } ];
}

1;
