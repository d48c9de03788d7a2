<?php
/*
 * test/php/laravel_pdo.php: osv as a Laravel 10/11 app uses it, through PHP's
 * PDO pgsql driver and exactly the SQL that Eloquent's PostgresGrammar
 * writes (quoted identifiers, "returning "id"", ? placeholders prepared on
 * the server, Laravel's PDO options and bindings).  Run by
 * test/t/051_laravel_pdo.pl, which starts the cluster; prints TAP.
 *
 * Environment:
 *   OSV_PDO_DSN_FRESH    database without osv (the migration creates it)
 *   OSV_PDO_DSN_OLD      database with osv 1.0 (the migration updates it)
 *   OSV_PDO_ADMIN        role of migrations and seeders (a superuser)
 *   OSV_PDO_APP          login role granted osv_app (the app's requests)
 *   OSV_README           README.md, whose table of SQLSTATEs is checked
 */
declare(strict_types=1);

$tests = 0;
$failures = 0;

function ok(bool $cond, string $name): bool
{
	global $tests, $failures;
	$tests++;
	if (!$cond)
		$failures++;
	echo ($cond ? 'ok' : 'not ok') . " $tests - $name\n";
	return $cond;
}

function is_same($got, $want, string $name): bool
{
	$res = ok($got === $want, $name);
	if (!$res)
		echo '# got:  ' . var_export($got, true) . "\n# want: " . var_export($want, true) . "\n";
	return $res;
}

/* The SQLSTATE a statement fails with (PDOException::getCode()), or null. */
function sqlstate(callable $f): ?string
{
	try {
		$f();
	} catch (PDOException $e) {
		return (string) $e->getCode();
	}
	return null;
}

/*
 * The parts of Illuminate\Database\Connection that Eloquent goes through:
 * the PDO options of Connectors\Connector, the session setup of
 * Connectors\PostgresConnector, bindValues(), prepareBindings(), and the
 * insertGetId() of Query\Processors\PostgresProcessor.
 */
final class Db
{
	public PDO $pdo;
	private int $level = 0;

	public function __construct(string $dsn, string $user)
	{
		$this->pdo = new PDO($dsn, $user, null, [
			PDO::ATTR_CASE => PDO::CASE_NATURAL,
			PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
			PDO::ATTR_ORACLE_NULLS => PDO::NULL_NATURAL,
			PDO::ATTR_STRINGIFY_FETCHES => false,
			PDO::ATTR_EMULATE_PREPARES => false,
		]);
		$this->pdo->prepare("set names 'utf8'")->execute();
		$this->pdo->prepare("set time zone 'UTC'")->execute();
	}

	private function run(string $sql, array $bindings): PDOStatement
	{
		$st = $this->pdo->prepare($sql);
		foreach (array_values($bindings) as $i => $v) {
			if ($v instanceof DateTimeInterface)
				$v = $v->format('Y-m-d H:i:s');
			elseif (is_bool($v))
				$v = (int) $v;
			$st->bindValue($i + 1, $v, is_int($v) ? PDO::PARAM_INT : PDO::PARAM_STR);
		}
		$st->execute();
		return $st;
	}

	public function select(string $sql, array $bindings = []): array
	{
		return $this->run($sql, $bindings)->fetchAll(PDO::FETCH_OBJ);
	}

	public function statement(string $sql, array $bindings = []): bool
	{
		$this->run($sql, $bindings);
		return true;
	}

	public function affectingStatement(string $sql, array $bindings = []): int
	{
		return $this->run($sql, $bindings)->rowCount();
	}

	public function insertGetId(string $sql, array $bindings): int
	{
		$row = $this->select($sql, $bindings)[0];
		return (int) $row->id;
	}

	/* DB::transaction(): BEGIN, or a savepoint "trans2", ... when nested. */
	public function transaction(callable $f)
	{
		$this->level++;
		if ($this->level == 1)
			$this->pdo->beginTransaction();
		else
			$this->pdo->exec('SAVEPOINT trans' . $this->level);
		try {
			$result = $f($this);
		} catch (Throwable $e) {
			if ($this->level == 1)
				$this->pdo->rollBack();
			else
				$this->pdo->exec('ROLLBACK TO SAVEPOINT trans' . $this->level);
			$this->level--;
			throw $e;
		}
		if ($this->level == 1)
			$this->pdo->commit();
		$this->level--;
		return $result;
	}
}

/*
 * Eloquent's SQL for a model with SoftDeletes and timestamps on table
 * $t (e.g. 'osv.documents'): PostgresGrammar wraps "osv"."documents".
 */
function wrap(string $t): string
{
	return implode('.', array_map(fn($p) => '"' . $p . '"', explode('.', $t)));
}

/*
 * Model::create(): insert ... returning "id", with the model's UPDATED_AT
 * and CREATED_AT columns last, in the order Eloquent sets them (null: the
 * model's constant is null).
 */
function create(Db $db, string $t, array $attributes, ?string $created = 'created_at', ?string $updated = 'updated_at'): int
{
	$now = new DateTimeImmutable('now', new DateTimeZone('UTC'));
	if ($updated !== null)
		$attributes[$updated] = $now;
	if ($created !== null)
		$attributes[$created] = $now;
	$cols = implode(', ', array_map(fn($c) => '"' . $c . '"', array_keys($attributes)));
	$marks = implode(', ', array_fill(0, count($attributes), '?'));
	return $db->insertGetId('insert into ' . wrap($t) . " ($cols) values ($marks) returning \"id\"", array_values($attributes));
}

/* $model->save() of a changed model: update ... set <dirty>, "updated_at" = ? where "id" = ? */
function save(Db $db, string $t, int $id, array $dirty): int
{
	$dirty['updated_at'] = new DateTimeImmutable('now', new DateTimeZone('UTC'));
	$sets = implode(', ', array_map(fn($c) => '"' . $c . '" = ?', array_keys($dirty)));
	return $db->affectingStatement('update ' . wrap($t) . " set $sets where \"id\" = ?", [...array_values($dirty), $id]);
}

/* SoftDeletes::runSoftDelete(): update ... set "deleted_at" = ?, "updated_at" = ? where "id" = ? */
function soft_delete(Db $db, string $t, int $id): int
{
	$now = new DateTimeImmutable('now', new DateTimeZone('UTC'));
	return $db->affectingStatement('update ' . wrap($t) . ' set "deleted_at" = ?, "updated_at" = ? where "id" = ?', [$now, $now, $id]);
}

/* SoftDeletes::restore(): deleted_at = null, then save(). */
function restore(Db $db, string $t, int $id): int
{
	return save($db, $t, $id, ['deleted_at' => null]);
}

/* forceDelete(): delete from ... where "id" = ? */
function force_delete(Db $db, string $t, int $id): int
{
	return $db->affectingStatement('delete from ' . wrap($t) . ' where "id" = ?', [$id]);
}

/* Model::find($id), and withTrashed()->find($id). */
function find(Db $db, string $t, int $id, bool $withTrashed = false): ?object
{
	$q = 'select * from ' . wrap($t) . ' where ' . wrap($t) . '."id" = ?';
	if (!$withTrashed)
		$q .= ' and ' . wrap($t) . '."deleted_at" is null';
	$rows = $db->select($q . ' limit 1', [$id]);
	return $rows[0] ?? null;
}

/* An embedding as PostgreSQL array text, the way a PHP app passes real[]. */
function vector_text(int $seed, int $dims = 384): string
{
	$v = [];
	for ($i = 0; $i < $dims; $i++)
		$v[] = sprintf('%.6F', sin($seed * 7.0 + $i * 0.37) + ($i % ($seed + 2) == 0 ? 0.5 : 0.0));
	return '{' . implode(',', $v) . '}';
}

$admin = getenv('OSV_PDO_ADMIN');
$appRole = getenv('OSV_PDO_APP');

/* ------------------------------------------------------------------------
 * The migration (database/migrations/..._install_osv.php): in the
 * transaction Laravel's migrator opens on PostgreSQL.
 * ------------------------------------------------------------------------
 */
foreach (['OSV_PDO_DSN_FRESH' => 'fresh database', 'OSV_PDO_DSN_OLD' => 'database with osv 1.0'] as $env => $what) {
	$db = new Db(getenv($env), $admin);
	$db->transaction(function (Db $db) use ($appRole) {
		$db->statement('create extension if not exists osv');
		$db->statement('alter extension osv update');
		$db->statement('grant osv_app to ' . $appRole);
	});
	is_same($db->select('select "extversion" from "pg_extension" where "extname" = ?', ['osv'])[0]->extversion ?? null,
		'1.1', "migration: $what has osv 1.1");
}
$dsn = getenv('OSV_PDO_DSN_FRESH');

/* ------------------------------------------------------------------------
 * A seeder with explicit ids (as the admin role), then a normal create.
 * ------------------------------------------------------------------------
 */
$db = new Db($dsn, $admin);
foreach ([[1, 'auth0|ada', 'ada@example.org', 'Ada'], [2, 'auth0|bob', 'bob@example.org', 'Bob'],
		  [3, 'auth0|cy', 'cy@example.org', 'Cy']] as [$id, $sub, $email, $name])
	$got = create($db, 'osv.users', ['id' => $id, 'auth0_id' => $sub, 'email' => $email, 'name' => $name]);
is_same($got, 3, 'seeder: User::create with an explicit id returns it');
/* DB::table('osv.badges')->insert([...]): one multi-row insert with explicit ids. */
ok($db->statement('insert into "osv"."badges" ("id", "slug", "name", "criteria") values (?, ?, ?, ?), (?, ?, ?, ?)',
	[5, 'reader', 'Reader', '{"documents_at_least": 1}', 6, 'joiner', 'Joiner', '{"rooms_joined_at_least": 1}']),
	'seeder: DB::table()->insert of several rows with explicit ids');
$quiz = create($db, 'osv.quizzes', ['id' => 10, 'user_id' => 1, 'title' => 'Algebra check-up', 'questions' => json_encode([
	['id' => 'q1', 'prompt' => '2 + 2?', 'type' => 'single', 'choices' => [['id' => 'a', 'text' => '3'], ['id' => 'b', 'text' => '4']],
	 'correct' => ['b'], 'points' => 2]])]);
$room = create($db, 'osv.rooms', ['id' => 20, 'user_id' => 1, 'name' => 'Exam week']);
is_same(sqlstate(fn() => create($db, 'osv.users', ['auth0_id' => 'auth0|dan', 'email' => 'dan@example.org'])), '23505',
	'seeder: without a reset the next default id collides (unique_violation)');
is_same($db->select('select osv.reset_identities() as "moved"')[0]->moved, 4, 'seeder: osv.reset_identities() moves badges, users, quizzes, rooms');
is_same(create($db, 'osv.users', ['auth0_id' => 'auth0|dan', 'email' => 'dan@example.org', 'name' => 'Dan']), 4,
	'seeder: then User::create gets the next id');
/* The models whose timestamps are named otherwise: one line each in the model. */
ok(create($db, 'osv.points', ['user_id' => 4, 'amount' => 3, 'reason' => 'seeded'], 'created_at', null) > 0,
	'Point::create with const UPDATED_AT = null');
$badge = create($db, 'osv.badges', ['slug' => 'welcome', 'name' => 'Welcome', 'criteria' => '{}']);
ok(create($db, 'osv.awards', ['user_id' => 4, 'badge_id' => $badge], 'awarded_at', null) > 0,
	"Award::create with const CREATED_AT = 'awarded_at', UPDATED_AT = null");
/* Summaries with embeddings (as real[] array text) for search and recommendations. */
foreach ([1, 2, 3] as $owner) {
	$doc = create($db, 'osv.documents', ['user_id' => $owner, 'type' => 'pdf', 'title' => "Notes $owner",
		'storage_bucket' => 'osv-documents', 'storage_key' => "users/$owner/notes.pdf"]);
	create($db, 'osv.summaries', ['document_id' => $doc, 'topic' => 'math', 'content' => "summary $owner",
		'embedding' => vector_text($owner)]);
}

/* ------------------------------------------------------------------------
 * The app's requests: a login role granted osv_app, acting for a user.
 * ------------------------------------------------------------------------
 */
$app = new Db($dsn, $appRole);
is_same(count($app->select('select * from "osv"."documents"')), 0, 'app: acting for nobody, no document is visible');
/* The middleware: SET, as DB::statement prepares it (no placeholder: SET takes none). */
$app->statement('set osv.acting_user_id = ' . (int) 1);
is_same(count($app->select('select * from "osv"."documents" where "osv"."documents"."deleted_at" is null')), 1,
	'app: acting for Ada (SET), her document is visible');
$app->statement('select set_config(?, ?, false)', ['osv.acting_user_id', (string) 2]);
is_same(count($app->select('select * from "osv"."documents" where "osv"."documents"."deleted_at" is null')), 1,
	'app: acting for Bob (set_config with bindings), only his document is visible');
$app->statement('set osv.acting_user_id = 1');

/* Document: create, find, update, soft delete, find (trashed or not), restore, forceDelete. */
$id = create($app, 'osv.documents', ['user_id' => 1, 'type' => 'pdf', 'title' => 'Algebra',
	'storage_bucket' => 'osv-documents', 'storage_key' => 'users/1/algebra.pdf']);
is_same($id, 4, 'Document::create returns the new id');
$doc = find($app, 'osv.documents', $id);
is_same([$doc->id ?? null, $doc->user_id ?? null, $doc->title ?? null], [$id, 1, 'Algebra'],
	'Document::find: bigint columns arrive as int');
is_same(save($app, 'osv.documents', $id, ['title' => 'Algebra II']), 1, 'Document save(): update ... "updated_at" = ?');
is_same(find($app, 'osv.documents', $id)->title, 'Algebra II', 'Document save(): the title changed');
is_same(soft_delete($app, 'osv.documents', $id), 1, 'Document delete(): soft delete sets deleted_at and updated_at');
is_same(find($app, 'osv.documents', $id), null, 'Document::find does not find it');
ok(find($app, 'osv.documents', $id, true)?->deleted_at !== null, 'Document::withTrashed()->find finds it trashed');
is_same(restore($app, 'osv.documents', $id), 1, 'Document restore()');
ok(find($app, 'osv.documents', $id) !== null, 'Document::find finds it again');
is_same(force_delete($app, 'osv.documents', $id), 1, 'Document forceDelete()');
is_same(find($app, 'osv.documents', $id, true), null, 'Document::withTrashed()->find: gone');

ok(create($app, 'osv.activity_logs', ['user_id' => 1, 'event_type' => 'page.view', 'properties' => '{"path": "/"}'], 'occurred_at', null) > 0,
	"ActivityLog::create with const CREATED_AT = 'occurred_at', UPDATED_AT = null");

/* Functions: select * from osv.f(?, ...), in a transaction as DB::transaction runs it. */
$app->statement('set osv.acting_user_id = 2');
$answer = $app->transaction(fn(Db $db) => $db->select('select * from osv.submit_answer(?, ?, ?)',
	[$quiz, 2, json_encode(['q1' => 'b'])])[0]);
is_same([$answer->score, $answer->max_score, $answer->passed, $answer->rewarded], [2, 2, true, true],
	'submit_answer: integer score and boolean passed arrive typed');
ok(is_string($answer->responses) && json_decode($answer->responses, true) == ['q1' => 'b'],
	'submit_answer: jsonb arrives as a JSON string ($casts: array)');
ok(is_string($answer->updated_at), 'submit_answer: the answer has updated_at');
$export = json_decode($app->select('select osv.data_export(?) as "export"', [2])[0]->export, true);
ok(array_key_exists('updated_at', $export['answers'][0] ?? []), 'data_export: answers carry updated_at');
/* The models that lacked updated_at: Answer, Recommendation, RoomParticipation. */
is_same(soft_delete($app, 'osv.answers', $answer->id), 1, 'Answer delete(): soft delete with updated_at');
is_same(restore($app, 'osv.answers', $answer->id), 1, 'Answer restore()');
$participation = $app->select('select osv.join_room(?, ?) as "id"', [$room, 2])[0]->id;
ok(create($db, 'osv.room_participations', ['room_id' => $room, 'user_id' => 4], 'joined_at') > 0,
	"RoomParticipation::create with const CREATED_AT = 'joined_at'");
is_same(soft_delete($app, 'osv.room_participations', $participation), 1, 'RoomParticipation delete(): soft delete with updated_at');
is_same(restore($app, 'osv.room_participations', $participation), 1, 'RoomParticipation restore()');
is_same($app->select('select osv.refresh_recommendations(?, ?) as "stored"', [2, 5])[0]->stored, 2,
	'refresh_recommendations: integer result');
$recs = $app->select('select * from "osv"."recommendations" where "user_id" = ? and "osv"."recommendations"."deleted_at" is null order by "score" desc', [2]);
is_same(count($recs), 2, 'Recommendation::where(user_id): two');
$score = $recs[0]->score;
ok(PHP_VERSION_ID < 80400 ? is_string($score) : is_float($score), 'Recommendation score (real) arrives as ' . gettype($score) . ' on PHP ' . PHP_VERSION . ' ($casts: float)');
ok(abs((float) $score) <= 1.0, 'Recommendation score casts to a float in [-1, 1]');
is_same(soft_delete($app, 'osv.recommendations', $recs[0]->id), 1, 'Recommendation delete(): soft delete with updated_at');
is_same(restore($app, 'osv.recommendations', $recs[0]->id), 1, 'Recommendation restore()');
$hits = $app->select('select * from osv.search_summaries(?, ?, ?)', [vector_text(2), 3, 2]);
is_same(count($hits) >= 1 ? $hits[0]->summary_id : null, $db->select('select "id" from "osv"."summaries" where "user_id" = ?', [2])[0]->id,
	'search_summaries with a real[] passed as array text: own memory, best first');
/* A rolled back transaction leaves nothing. */
try {
	$app->transaction(function (Db $db) {
		create($db, 'osv.rooms', ['user_id' => 2, 'name' => 'Rolled back']);
		throw new RuntimeException('rollback');
	});
} catch (RuntimeException $e) {
}
is_same(count($app->select('select * from "osv"."rooms" where "name" = ?', ['Rolled back'])), 0, 'DB::transaction rolled back: no room');
/* SET LOCAL inside a transaction (transaction poolers). */
$app->statement('set osv.acting_user_id = 0');
is_same($app->transaction(function (Db $db) {
	$db->statement('set local osv.acting_user_id = 1');
	return count($db->select('select * from "osv"."documents"'));
}), 1, 'SET LOCAL inside DB::transaction acts for Ada');
is_same(count($app->select('select * from "osv"."documents"')), 0, 'after the transaction, nobody again');

/* ------------------------------------------------------------------------
 * Exceptions: every row of README.md's table of SQLSTATEs is raised here
 * and PDOException::getCode() gives the SQLSTATE the table names.
 * ------------------------------------------------------------------------
 */
$app->statement('set osv.acting_user_id = 1');
$db->statement('update "osv"."rooms" set "deleted_at" = now() where "id" = ?', [$room]);
$triggers = [
	'no_data_found' => fn() => $app->select('select osv.join_room(?, ?)', [-1, 1]),
	'object_not_in_prerequisite_state' => fn() => $app->select('select osv.join_room(?, ?)', [$room, 1]),
	'insufficient_privilege' => fn() => $app->select('select osv.award_points(?, ?, ?)', [2, 5, 'not mine']),
	'wrong_object_type' => fn() => $app->select('select osv.soft_delete(?, ?)', ['osv.points', 1]),
	'null_value_not_allowed' => fn() => $app->select('select osv.create_room(?, ?)', [1, null]),
	'invalid_parameter_value' => fn() => $app->select('select * from osv.leaderboard(?)', [0]),
	'check_violation' => fn() => $app->select('select osv.create_quiz(?, ?, ?)', [1, 'Bad', '[{"id": "q1"}]']),
	'unique_violation' => fn() => $app->select('select osv.upsert_auth0_user(?)', [json_encode(['sub' => 'auth0|ada2', 'email' => 'BOB@example.org'])]),
	'foreign_key_violation' => fn() => $db->select('insert into "osv"."documents" ("user_id", "type", "title", "storage_bucket", "storage_key") values (?, ?, ?, ?, ?) returning "id"',
		[999, 'pdf', 'x', 'osv-documents', 'x']),
	'data_exception' => fn() => $app->select('select * from osv.search_summaries(?, ?)', ['{1,2,3}', 5]),
	'numeric_value_out_of_range' => fn() => $app->select('select * from osv.search_summaries(?, ?)', ['{' . implode(',', array_fill(0, 384, '1e20')) . '}', 5]),
	'prohibited_sql_statement_attempted' => fn() => $db->select('update "osv"."points" set "amount" = ?', [1]),
	'read_only_sql_transaction' => fn() => $app->transaction(function (Db $db) {
		$db->statement('set transaction read only');
		return $db->select('select osv.create_room(?, ?)', [1, 'Read only']);
	}),
];
$readme = file_get_contents(getenv('OSV_README'));
preg_match_all('/^\| ([^|]+?) \| `([0-9A-Z]{5})` \| `([a-z_]+)` \|/m', $readme, $rows, PREG_SET_ORDER);
ok(count($rows) >= 10, 'README.md lists SQLSTATEs (' . count($rows) . ' rows)');
$seen = [];
foreach ($rows as [, $condition, $code, $name]) {
	$seen[$name] = true;
	if (!ok(isset($triggers[$name]), "README condition $name is raised by this test"))
		continue;
	is_same(sqlstate($triggers[$name]), $code, "README: $condition -> $code ($name), as PDOException::getCode()");
}
foreach (array_keys($triggers) as $name)
	ok(isset($seen[$name]), "condition $name raised here is in README.md's table");

echo "1..$tests\n";
exit($failures > 0 ? 1 : 0);
