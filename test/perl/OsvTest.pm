# test/perl/OsvTest.pm: helpers shared by osv's TAP tests.
#
# The Qdrant-compatible test server (test/qdrant/qdrant_server.py): start
# and stop it, call its API and its /__test/ endpoints, and compare its
# content with the live summaries of a database.
package OsvTest;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(start_qdrant stop_qdrant qdrant_request qdrant_dump
  db_points compare_points wait_synced);

my @servers;

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

1;
