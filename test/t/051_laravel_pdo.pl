# A Laravel app's view of osv, through PHP's PDO pgsql driver: the
# migration (CREATE EXTENSION IF NOT EXISTS osv / ALTER EXTENSION osv
# UPDATE, on a fresh database and on one with osv 1.0), a seeder with
# explicit ids, Eloquent's SQL for create, save, soft delete, restore,
# forceDelete and find (with and without trashed), osv's functions, the
# acting user, transactions, and PDOException::getCode() of every row of
# README.md's table of SQLSTATEs.  The PHP script (test/php/laravel_pdo.php)
# prints TAP; each of its lines is one assertion here.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $root = $ENV{OSV_ROOT} || dirname(dirname(dirname(__FILE__)));

my $php = `sh -c 'command -v php'`;
chomp $php;
plan skip_all => 'php (Debian php-cli) is not installed' unless $php;
my $modules = `$php -m`;
plan skip_all => 'pdo_pgsql (Debian php-pgsql) is not installed' unless $modules =~ /^pdo_pgsql$/m;

my $node = osv_node('laravel', database => 'fresh', scheduler => 0, vector_sync => 0, conf => "timezone = 'UTC'\n");
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', "CREATE EXTENSION osv VERSION '1.0'");
# Rows of 1.0 in the tables that get updated_at: the update gives each the
# last time it is known to have changed.
$node->safe_psql('old', q{
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|old', 'old@example.org');
INSERT INTO osv.rooms (user_id, name) SELECT id, 'Old room' FROM osv.users;
INSERT INTO osv.room_participations (room_id, user_id, joined_at, left_at, last_seen_at)
SELECT r.id, r.user_id, '2020-01-01', '2020-01-03', '2020-01-02' FROM osv.rooms r;
});
$node->safe_psql('postgres', 'CREATE ROLE laravel LOGIN');

my $admin = $node->safe_psql('postgres', 'SELECT current_user');
my $dsn = sub { 'pgsql:host=' . $node->host . ';port=' . $node->port . ";dbname=$_[0]" };
local $ENV{OSV_PDO_DSN_FRESH} = $dsn->('fresh');
local $ENV{OSV_PDO_DSN_OLD} = $dsn->('old');
local $ENV{OSV_PDO_ADMIN} = $admin;
local $ENV{OSV_PDO_APP} = 'laravel';
local $ENV{OSV_README} = "$root/README.md";

my ($stdout, $stderr);
my $ok = IPC::Run::run([ $php, "$root/test/php/laravel_pdo.php" ], '>', \$stdout, '2>', \$stderr);
my $count = 0;
for my $line (split /\n/, $stdout)
{
	if ($line =~ /^(not )?ok \d+ - (.*)$/)
	{
		ok(!defined $1, $2);
		$count++;
	}
	elsif ($line =~ /^#/)
	{
		diag $line;
	}
}
ok($ok, 'the PHP script ends with success') or diag "$stdout\n$stderr";
is($stderr, '', 'the PHP script writes nothing to stderr');
ok($count >= 40, "the PHP script made its assertions ($count)");
is($node->safe_psql('old', q{SELECT updated_at = '2020-01-03' FROM osv.room_participations}), 't',
	'the update from 1.0 sets updated_at of a participation to its last change');

$node->stop;
done_testing();
