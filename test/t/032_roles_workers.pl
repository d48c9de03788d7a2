# Roles, workers and secrets (DESIGN.md section 9): the workers connect as
# osv.worker_role, never as a superuser, with a pinned search_path; the
# Qdrant API key comes from osv.qdrant_api_key_file, read again at reload,
# and never reaches the server log, pg_settings or an error message.
use strict;
use warnings;

use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use OsvTest;

my $key = 'file-key-3e1d9b7c';
my $q = start_qdrant(api_key => $key);
# The server reads the file from its data directory: an absolute path.
my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());
my $key_file = "$dir/qdrant.key";

write_secret_file($key_file, $key);

my $node = osv_node('roles', qdrant => $q, sync => { naptime => '1s', backoff => '100ms', backoff_max => '500ms' },
	conf => qq{
osv.qdrant_api_key_file = '$key_file'
osv.retention_interval = '1h'
});

# --- Before CREATE EXTENSION the worker role does not exist. --------------
ok($node->poll_query_until('postgres', "SELECT true", 't'), 'server up');
usleep(1_000_000);
like(slurp_file($node->logfile), qr/role "osv_worker" does not exist/,
	'the workers cannot connect before the extension creates their role');

create_osv($node, emb => {}, users => ['w1'], documents => 20, key_prefix => 'tap/');

ok($node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('osv vector sync', 'osv scheduler') AND usename = 'osv_worker'"),
	'both workers connect as osv_worker once the extension exists');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename WHERE a.backend_type LIKE 'osv %' AND r.rolsuper"),
	'0', 'no worker runs as a superuser');

# --- The key from the file reaches Qdrant. --------------------------------
$node->safe_psql('postgres', q{
	INSERT INTO osv.summaries (document_id, content, embedding)
	SELECT d.id, 'summary ' || d.id, emb(d.id) FROM osv.documents d WHERE d.id <= 10});
ok(wait_synced($node), 'synced with the key from the file');
qdrant_matches($q, $node, 'Qdrant equals the database');

# --- A wrong key in the file, reload: failures; the right one: synced. -----
write_secret_file($key_file, 'wrong-key-0000');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
usleep(500_000);
$node->safe_psql('postgres', q{
	INSERT INTO osv.summaries (document_id, content, embedding)
	SELECT d.id, 'summary ' || d.id, emb(d.id) FROM osv.documents d WHERE d.id BETWEEN 11 AND 15});
ok($node->poll_query_until('postgres', 'SELECT last_error IS NOT NULL FROM osv.vector_sync_status'),
	'a wrong key read at reload makes the sync fail');
write_secret_file($key_file, $key);
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(wait_synced($node), 'the right key read at the next reload syncs again');

# --- The key appears nowhere. ---------------------------------------------
my $settings = $node->safe_psql('postgres',
	"SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name LIKE 'osv.%'");
unlike($settings, qr/\Q$key\E/, 'pg_settings does not show the key');
like($settings, qr/\Q$key_file\E/, 'pg_settings shows the key file');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT osv.setting_interval('osv.qdrant_api_key_file')");
unlike("$out $err", qr/\Q$key\E|\Q$key_file\E/, 'a superuser\'s error of setting_interval shows no secret');
($rc, $out, $err) = $node->psql('postgres', "SELECT osv.setting_interval('osv.qdrant_api_key')");
like($err, qr/is secret/, 'osv.setting_interval refuses the inline key');

# --- A worker set to run as a superuser refuses. --------------------------
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET osv.worker_role = 'postgres';
	SELECT pg_reload_conf();
});
usleep(300_000);
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'osv scheduler'");
$node->wait_for_log(qr/FATAL:  osv scheduler cannot run as superuser "postgres"/);
ok(1, 'a worker refuses to run as a superuser');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET osv.worker_role;
	SELECT pg_reload_conf();
});

# --- A planted operator and search_path do not reach the workers. ---------
$node->safe_psql('postgres', q{
	CREATE SCHEMA evil;
	-- Each call records who made it (the test's own sessions resolve to it too).
	CREATE TABLE evil.calls (backend_type text);
	GRANT INSERT ON evil.calls TO PUBLIC;
	CREATE FUNCTION evil.who() RETURNS text LANGUAGE sql
		AS $$ SELECT a.backend_type FROM pg_catalog.pg_stat_activity a
			  WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() $$;
	CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql
		AS $$ INSERT INTO evil.calls VALUES (evil.who()) RETURNING true $$;
	CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql
		AS $$ INSERT INTO evil.calls VALUES (evil.who()) RETURNING true $$;
	CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
	CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
	GRANT USAGE ON SCHEMA evil TO PUBLIC;
	ALTER DATABASE postgres SET search_path = evil, pg_catalog, public;
});
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type LIKE 'osv %'");
ok($node->poll_query_until('postgres',
		"SELECT count(*) OPERATOR(pg_catalog.=) 2 FROM pg_stat_activity"
		  . " WHERE backend_type OPERATOR(pg_catalog.=) ANY (ARRAY['osv vector sync', 'osv scheduler'])"
		  . " AND usename OPERATOR(pg_catalog.=) 'osv_worker'"),
	'the workers come back');
$node->safe_psql('postgres', q{
	SET search_path = pg_catalog, public;
	INSERT INTO osv.summaries (document_id, content, embedding)
	SELECT d.id, 'summary ' || d.id, emb(d.id) FROM osv.documents d WHERE d.id BETWEEN 16 AND 20;
	UPDATE osv.summaries SET topic = 'moved' WHERE id % 2 = 0;
	SELECT osv.soft_delete('osv.documents', 3);
});
ok(wait_synced($node), 'synced under a planted search_path');
qdrant_matches($q, $node, 'Qdrant still equals the database');
$node->safe_psql('postgres', 'SET search_path = pg_catalog; SELECT osv.run_retention()');
usleep(1_500_000);
is($node->safe_psql('postgres', "SET search_path = pg_catalog; SELECT count(*) FROM evil.calls WHERE backend_type LIKE 'osv %'"),
	'0', 'no planted operator ran in a worker');

# --- Nothing of the key in the server log. --------------------------------
$node->stop;
unlike(slurp_file($node->logfile), qr/\Q$key\E/, 'the server log never shows the key');

stop_qdrant($q);
done_testing();
