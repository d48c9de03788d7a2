# Vector input from real clients, as a member of osv_app acting for one
# user: node-postgres (test/node_pg, pinned by its package-lock.json,
# installed by test/run) sends a query vector as JSON.stringify(array), as
# a JS array, as a Float32Array's bytes; psycopg 3 (Debian's
# python3-psycopg) as float8[], float32 bytes and json.dumps; both write
# embeddings through the conversion functions and read them back.  Results
# must equal those of a real[] call and wrong shapes must reach the client
# with their SQLSTATE.  The checks run in test/node_pg/vector_clients.js
# and test/psycopg/vector_clients.py; each of their lines is one assertion
# here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;
use IPC::Run;

my $root = $ENV{OSV_ROOT} or die "OSV_ROOT is not set (test/run sets it)";
my $modules = ($ENV{OSV_NODE_PG_DIR} || '/var/cache/osv-npm/node-pg') . '/node_modules';
# test/run installs node-postgres for the TAP suite; a missing one is a failure, not a skip.
ok(-f "$modules/pg/package.json", "node-postgres is installed in $modules")
  or BAIL_OUT('run test/node_pg/install_node_pg');

my $node = osv_node('clients', database => undef, scheduler => 0, vector_sync => 0);
$node->safe_psql('postgres', q{
	CREATE EXTENSION osv;
	CREATE ROLE vector_client LOGIN IN ROLE osv_app;
	INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|client', 'client@example.org', 'client');
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	SELECT 1, 'text', t, 'osv-docs', 'client/' || md5(t)
	FROM unnest(ARRAY['cell membranes control what enters the cell', 'photosynthesis turns light into energy',
					  'the french revolution began in 1789', 'quantum mechanics of small particles',
					  'written by the client']) t;
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT d.id, 'misc', d.title, osv.embed_text(d.title) FROM osv.documents d
	WHERE d.title <> 'written by the client';
});
my $doc = $node->safe_psql('postgres', q{SELECT id FROM osv.documents WHERE title = 'written by the client'});

# Run a client script with the PG* settings of an osv_app member acting for
# user 1; each of its "ok - " / "not ok - " lines is an assertion, and it
# must make all its checks.
sub run_client
{
	my ($name, $checks, @command) = @_;
	my ($stdout, $stderr, $ran) = ('', '');
	{
		local $ENV{PGHOST} = $node->host;
		local $ENV{PGPORT} = $node->port;
		local $ENV{PGUSER} = 'vector_client';
		local $ENV{PGDATABASE} = 'postgres';
		local $ENV{NODE_PATH} = $modules;
		local $ENV{OSV_ACTING_USER} = '1';
		local $ENV{OSV_DOCUMENT} = $doc;
		$ran = IPC::Run::run(\@command, '>', \$stdout, '2>', \$stderr);
	}
	ok($ran, "the $name script ran") or diag($stderr);
	my @lines = split /\n/, $stdout;
	my $done = (@lines && $lines[-1] =~ /^done (\d+)$/) ? pop(@lines) =~ s/^done //r : -1;
	for my $line (@lines)
	{
		ok($line =~ /^ok - /, "$name: " . ($line =~ s/^(?:not )?ok - //r));
	}
	is($done, $checks, "the $name script made all its $checks checks");
}

# What each client wrote is what a real[] write stores.
run_client('node-postgres', 19, 'node', "$root/test/node_pg/vector_clients.js");
is($node->safe_psql('postgres', q{
	SELECT embedding = osv.embed_text('the cell membrane') FROM osv.summaries WHERE topic = 'clients'}),
	't', 'the embedding node-postgres wrote equals the real[] value');
run_client('psycopg', 13, 'python3', "$root/test/psycopg/vector_clients.py");

is($node->safe_psql('postgres', q{
	SELECT embedding = osv.embed_text('the cell membrane') FROM osv.summaries WHERE topic = 'clients'}),
	't', 'the embedding psycopg wrote (float32 bytes) equals the real[] value');

$node->stop;
done_testing();
