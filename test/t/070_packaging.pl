# Packaging: "make installcheck" runs against the running server that
# PGHOST/PGPORT/PGUSER name, and refuses with a clear message a server that
# does not preload osv as the tests need; META.json is valid PGXN metadata
# of the current version.  With OSV_TEST_PACKAGE=1 (about a minute: dh and a
# second build), debian/ is built with dpkg-buildpackage (pg_buildext) in a
# copy of the tree and the .deb's contents are checked.
use strict;
use warnings;
use Cwd ();
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OsvTest;

my $root = $ENV{OSV_ROOT} || dirname(dirname(dirname(__FILE__)));

sub make_installcheck
{
	my ($node, @args) = @_;
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGUSER} = 'postgres';
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'make', '-s', '-C', $root, 'installcheck', @args ], '>', \$stdout, '2>', \$stderr);
	return ($ok, "$stdout$stderr");
}

# A server without osv preloaded: a clear refusal.
my $plain = osv_node('installcheck_plain', preload => '');
my ($ok, $out) = make_installcheck($plain);
ok(!$ok, 'make installcheck refuses a server that does not preload osv');
like($out, qr/osv's tests need the running server set up as test\/osv.conf says:.*shared_preload_libraries = 'osv'.*osv.database = 'contrib_regression'/s,
	'and says what to set') or diag $out;
like($out, qr/\(osv not preloaded\)/, 'and what it found');
$plain->stop;

# A server set up as test/osv.conf says: the PGXS installcheck passes.
my $node = osv_node('installcheck', preload => '', conf => slurp_file("$root/test/osv.conf"));
($ok, $out) = make_installcheck($node, 'REGRESS=schema errors', 'ISOLATION=archive_twice');
ok($ok, 'make installcheck runs the suites against the running server') or diag $out;
like($out, qr/schema\s+\.\.\. ok.*errors\s+\.\.\. ok/s, 'pg_regress ran there');
like($out, qr/archive_twice\s+\.\.\. ok/, 'and so did the isolation suite');
$node->stop;

# META.json: PGXN's required keys, the version of osv.control.
my $meta = slurp_file("$root/META.json");
my ($control_version) = slurp_file("$root/osv.control") =~ /default_version\s*=\s*'([^']+)'/;
like($meta, qr/"version": "\Q$control_version\E\.0"/, "META.json carries version $control_version.0");
like($meta, qr/"$_"/, "META.json has $_") for qw(name abstract maintainer license provides meta-spec);
my $json_ok = system('python3', '-c', 'import json,sys; json.load(open(sys.argv[1]))', "$root/META.json") == 0;
ok($json_ok, 'META.json is valid JSON');
like(slurp_file("$root/debian/changelog"), qr/^osv \(\Q$control_version\E-\d+\)/, 'debian/changelog has the version too');

SKIP:
{
	skip 'set OSV_TEST_PACKAGE=1 to build the Debian package (about a minute)', 4
	  unless $ENV{OSV_TEST_PACKAGE};
	skip 'dpkg-buildpackage, dh or pg_buildext missing (debhelper, postgresql-common)', 4
	  unless grep { -x "$_/dpkg-buildpackage" } split /:/, $ENV{PATH} and -x '/usr/bin/dh' and -x '/usr/bin/pg_buildext';
	my $tmp = Cwd::abs_path(PostgreSQL::Test::Utils::tempdir);
	system("tar -C '$root' --exclude=./tmp_install --exclude=./tmp_check --exclude=./results --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | (mkdir -p '$tmp/osv' && tar -C '$tmp/osv' -xf -)") == 0
	  or die 'copy failed';
	unlink glob("$tmp/osv/osv--1.1.sql $tmp/osv/osv--1.0--1.1.sql");
	my $built = system("cd '$tmp/osv' && DEB_BUILD_OPTIONS='parallel=2 nocheck noautodbgsym' "
		  . "dpkg-buildpackage -us -uc -b >'$tmp/build.log' 2>&1") == 0;
	ok($built, 'dpkg-buildpackage -b builds debian/') or diag substr(slurp_file("$tmp/build.log"), -3000);
	my ($deb) = glob("$tmp/postgresql-15-osv_*.deb");
	ok(defined $deb, 'into postgresql-15-osv');
	my $files = defined $deb ? `dpkg-deb -c '$deb'` : '';
	my @want = map { "./usr/share/postgresql/15/extension/$_" } qw(osv.control osv--1.0.sql osv--1.1.sql osv--1.0--1.1.sql);
	push @want, './usr/lib/postgresql/15/lib/osv.so';
	is(scalar(grep { index($files, $_) >= 0 } @want), scalar(@want), 'the .deb holds osv.so, the control file and every script')
	  or diag $files;
	like(defined $deb ? `dpkg-deb -f '$deb' Depends` : '', qr/postgresql-15\b.*libcurl4.*libjson-c5/s, 'and depends on the server, libcurl and json-c');
}

done_testing();
