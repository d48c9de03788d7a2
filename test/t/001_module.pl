# The module loads preloaded and not preloaded, reserves the osv. prefix,
# and picks up reloaded settings.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

# Not preloaded: every SQL function works, startup settings do not exist.
my $plain = osv_node('plain', preload => '');
my ($ret, $stdout, $stderr) = $plain->psql('postgres', 'CREATE EXTENSION osv');
is($ret, 0, 'CREATE EXTENSION osv works without preloading');
like($stderr, qr/WARNING:  osv is not preloaded: its background workers do not run/, 'and warns');
like($stderr, qr/HINT:  Add osv to shared_preload_libraries, set osv.database = 'postgres' and restart/, 'with a hint');
is($plain->safe_psql('postgres', "SELECT osv.setting_interval('osv.trash_retention')"),
	'30 days', 'interval settings are readable without preloading');
is($plain->safe_psql('postgres',
		"INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|p', 'p\@example.org'); "
		  . "SELECT osv.soft_delete('osv.users', id) FROM osv.users"),
	't', 'soft deletes work without preloading');
($ret, $stdout, $stderr) = $plain->psql('postgres', 'SHOW osv.database');
isnt($ret, 0, 'osv.database exists only when preloaded');
like($stderr, qr/unrecognized configuration parameter "osv.database"/, 'and says so');
$plain->stop;

# Preloaded: startup settings exist; reloadable settings follow SIGHUP.
my $node = osv_node('preloaded', database => undef, scheduler => 0, vector_sync => 0);
is($node->safe_psql('postgres', 'SHOW osv.database'), 'postgres', 'osv.database defaults to postgres');
is($node->safe_psql('postgres', 'SHOW osv.qdrant_collection'), 'osv_summaries', 'default collection');
$node->append_conf('postgresql.conf', "osv.qdrant_collection = 'reloaded'\n");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW osv.qdrant_collection', 'reloaded'), 'settings follow a reload');

# A bad value in the configuration file is refused at reload, the old one kept.
$node->append_conf('postgresql.conf', "osv.qdrant_url = 'ftp://nowhere'\n");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW osv.qdrant_url', ''), 'a bad URL in the file keeps the old value');
ok($node->wait_for_log(qr/invalid value for parameter "osv.qdrant_url"/), 'and is reported in the log');

# The API key is hidden from non-superusers.
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW osv.qdrant_api_key', extra_params => [ '-U', 'app' ]);
like($stderr, qr/must be superuser|permission denied|privileges of pg_read_all_settings/, 'the API key is hidden from other roles');
$node->stop;

done_testing();
