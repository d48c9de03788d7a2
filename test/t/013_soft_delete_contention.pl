# Trash and restore of users under contention: 8 pgbench clients trash and
# restore 40 users who own rooms and take part in each other's rooms.  A
# user's cascade updates rooms and participations of other users' rows
# while the soft-delete guard, on restore, reads parents FOR SHARE; before
# the fix the two took their locks in opposite orders and dozens of
# transactions died in deadlocks.  Now a trash or restore of users first
# takes one advisory lock, so no deadlock is left, and the invariant holds:
# no live row under a trashed parent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $node = osv_node('soft_delete_contention', database => undef, scheduler => 0, vector_sync => 0, conf => q{
max_connections = 40
deadlock_timeout = 50ms
});
$node->safe_psql('postgres', q{
CREATE EXTENSION osv;
SELECT setseed(0.42);
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|c' || g, 'c' || g || '@example.org' FROM generate_series(1, 40) g;
INSERT INTO osv.rooms (user_id, name) SELECT u.id, 'room ' || u.id || '/' || g FROM osv.users u, generate_series(1, 2) g;
INSERT INTO osv.room_participations (room_id, user_id)
SELECT DISTINCT r.id, u.id FROM osv.users u
  CROSS JOIN LATERAL (SELECT r.id FROM osv.rooms r WHERE r.user_id <> u.id ORDER BY random() + u.id * 0 LIMIT 6) r;
});

my $script = $node->basedir . '/trash_restore.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set u random(1, 40)
\set v random(1, 40)
SELECT osv.soft_delete('osv.users', :u);
SELECT osv.restore('osv.users', :v);
});

my $offset = -s $node->logfile;
$node->command_checks_all(
	[ 'pgbench', '--no-vacuum', '--client=8', '--jobs=2', '--time=8', "--file=$script", 'postgres' ],
	0, [qr/number of failed transactions: 0 /], [],
	'pgbench: 8 clients trash and restore 40 users, no transaction failed');
my $log = slurp_file($node->logfile, $offset);
my $deadlocks = () = $log =~ /deadlock detected/g;
is($deadlocks, 0, 'no deadlock between the guard and the cascade');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM osv.room_participations p
	  JOIN osv.rooms r ON r.id = p.room_id JOIN osv.users u ON u.id = p.user_id
	 WHERE p.deleted_at IS NULL AND (r.deleted_at IS NOT NULL OR u.deleted_at IS NOT NULL)}),
	'0', 'no live participation in a trashed room or of a trashed user');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM osv.rooms r JOIN osv.users u ON u.id = r.user_id
	 WHERE r.deleted_at IS NULL AND u.deleted_at IS NOT NULL}),
	'0', 'no live room of a trashed user');

$node->stop;
done_testing();
