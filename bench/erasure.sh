#!/usr/bin/env bash
# bench/erasure.sh: GDPR export and erasure of a big user, and the drain of
# object deletions against s3rver, directly and behind the SigV4 gate.
#
# 1. osv.data_export and osv.data_delete of a user owning 10,000 rows across
#    the tables (2,000 documents with their summaries, 3,000 activity logs,
#    1,500 points, 500 quizzes, 500 answers, 200 rooms, 300 participations),
#    among 100 other users with data; time measured in the database
#    (clock_timestamp() around the call), median of ROUNDS rounds (the user
#    is built again for each erasure), in a session that already exported
#    and erased a small user (a pooled connection: caches warm); the first
#    export in a fresh session (cold caches) is shown too.  The export
#    (src/export_json.c) is timed against the baseline of its SQL body
#    before it (to_jsonb() of a row of arrays of the rows,
#    bench_export_before()), alternating which runs first; the two
#    results are checked equal (as text) first.
#    Target: < 200 ms each.
# 2. Deletion of OBJECTS (5,000) objects (keys with spaces) queued by a
#    DELETE of their documents, drained by osv.storage_sync() in one
#    session and by the sync worker (DeleteObjects of up to 1,000 keys,
#    osv.s3_delete_batch_size), against s3rver directly and behind the
#    SigV4-checking gate (test/s3); objects per second, against an external
#    client doing the same DeleteObjects (curl --aws-sigv4 posting the same
#    XML bodies, 16 at once) and the ceiling of single deletions (curl
#    --parallel, 16 transfers), in alternating rounds (S3_ROUNDS, 3); and
#    osv with batch size 1 and with 1 connection.  Target: >= 500 objects/s.
#    Writes bench/plots/erasure_storage.tsv (medians); part 1 writes
#    bench/plots/erasure.tsv.
. "$(dirname "$0")/lib.sh"

# As root, bench_start re-runs this script as postgres and exits.
[ "$(id -u)" -ne 0 ] || bench_start erasure.sh

S3DIR=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench-s3.XXXXXX")
S3PORT=$("$OSV_ROOT/test/s3/start" "$S3DIR")
echo "test/s3 gate on port $S3PORT"
printf 'osvtestsecret\n' >"$S3DIR/secret"
chmod 600 "$S3DIR/secret"
stop_s3() { "$OSV_ROOT/test/s3/stop" "$S3DIR"; rm -rf "$S3DIR"; }

bench_start erasure.sh "osv.s3_endpoint = 'http://127.0.0.1:$S3PORT'
osv.s3_access_key_id = 'osvtestkey'
osv.s3_secret_access_key_file = '$S3DIR/secret'
osv.erasure_ledger_bucket = 'osv-ledger'
osv.vector_sync_worker = on
osv.vector_sync_naptime = '1h'"
trap 'bench_stop; stop_s3' EXIT

ROUNDS=${ROUNDS:-5}
OBJECTS=${OBJECTS:-5000}

bench_psql -q <<'SQL'
SELECT osv.create_activity_log_partitions(2);
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|other' || g, 'other' || g || '@example.org', 'Other ' || g FROM generate_series(1, 100) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', 'doc', 'osv-documents', 'other/' || u.id || '/' || g FROM osv.users u, generate_series(1, 100) g;
INSERT INTO osv.activity_logs (user_id, event_type) SELECT u.id, 'page.view' FROM osv.users u, generate_series(1, 100);

CREATE FUNCTION bench_make_user(n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	uid bigint;
BEGIN
	INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|big' || n, 'big' || n || '@example.org', 'Big ' || n)
	RETURNING id INTO uid;
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	SELECT uid, 'pdf', 'document ' || g, 'osv-documents', 'big/' || n || '/notes ' || g || '.pdf' FROM generate_series(1, 2000) g;
	INSERT INTO osv.summaries (document_id, topic, content)
	SELECT d.id, 'topic', 'summary of ' || d.title FROM osv.documents d WHERE d.user_id = uid;
	INSERT INTO osv.activity_logs (user_id, event_type, properties)
	SELECT uid, 'page.view', jsonb_build_object('page', g) FROM generate_series(1, 3000) g;
	INSERT INTO osv.points (user_id, amount, reason) SELECT uid, 1, 'bench' FROM generate_series(1, 1500);
	INSERT INTO osv.quizzes (user_id, title, questions)
	SELECT uid, 'quiz ' || g, '[{"id": "q1", "prompt": "2 + 2?", "type": "single", "choices": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}], "correct": ["b"], "points": 1}]'
	FROM generate_series(1, 500) g;
	INSERT INTO osv.answers (quiz_id, user_id, responses, score, max_score, passed)
	SELECT q.id, uid, '{"q1": ["b"]}', 1, 1, true FROM osv.quizzes q WHERE q.user_id = uid;
	INSERT INTO osv.rooms (user_id, name) SELECT uid, 'room ' || g FROM generate_series(1, 200) g;
	INSERT INTO osv.room_participations (room_id, user_id, left_at)
	SELECT r.id, uid, now() FROM osv.rooms r WHERE r.user_id = uid;
	INSERT INTO osv.room_participations (room_id, user_id)
	SELECT r.id, uid FROM osv.rooms r WHERE r.user_id = uid ORDER BY r.id LIMIT 100;
	RETURN uid;
END
$$;

CREATE FUNCTION bench_make_small(n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	uid bigint;
BEGIN
	INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|small' || n, 'small' || n || '@example.org') RETURNING id INTO uid;
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	VALUES (uid, 'pdf', 'document', 'osv-documents', 'small/' || n || '/notes.pdf');
	INSERT INTO osv.activity_logs (user_id, event_type) VALUES (uid, 'page.view');
	INSERT INTO osv.points (user_id, amount, reason) VALUES (uid, 1, 'bench');
	RETURN uid;
END
$$;

-- Wall and backend CPU time (user + system, from /proc/self/stat, in 10 ms
-- ticks) of one statement: the CPU figure is what a loaded machine distorts least.
CREATE FUNCTION bench_time(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	f text[] := regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ');
	c0 bigint := f[12]::bigint + f[13]::bigint;
BEGIN
	EXECUTE sql;
	f := regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ');
	RETURN round((1000 * extract(epoch FROM clock_timestamp() - t0))::numeric, 1) || ' ' || ((f[12]::bigint + f[13]::bigint - c0) * 10);
END
$$;

CREATE FUNCTION bench_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE sql;
	RETURN 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$$;
SQL

# The export as 1.1 had it before src/export_json.c, its SQL body (one
# statement, to_jsonb() of a row of arrays of the user's rows), taken from
# the update fragment that defines it, under another name.
sed -n '/^CREATE OR REPLACE FUNCTION osv.data_export(user_id bigint)$/,/^\$\$;$/p' \
	"$OSV_ROOT/src/sql/updates/1.0--1.1/47_erasure_finish.sql" |
	sed 's/^CREATE OR REPLACE FUNCTION osv.data_export(/CREATE FUNCTION bench_export_before(/' | bench_psql -q
[ "$(bench_psql -qAt -c "SELECT to_regprocedure('bench_export_before(bigint)') IS NOT NULL")" = t ] ||
	{ echo "no SQL body of data_export in 47_erasure_finish.sql" >&2; exit 1; }

export_ms=()
before_ms=()
delete_ms=()
cold_ms=()
cold_before_ms=()
export_cpu=()
before_cpu=()
delete_cpu=()
for round in $(seq 1 "$ROUNDS"); do
	uid=$(bench_psql -qAt -c "SELECT bench_make_user($round)")
	small=$(bench_psql -qAt -c "SELECT bench_make_small($round)")
	[ "$round" -gt 1 ] || bench_psql -qAt -c "SELECT 'rows owned: ' ||
		((SELECT count(*) FROM osv.documents WHERE user_id = $uid) + (SELECT count(*) FROM osv.summaries WHERE user_id = $uid)
		 + (SELECT count(*) FROM osv.activity_logs WHERE user_id = $uid) + (SELECT count(*) FROM osv.points WHERE user_id = $uid)
		 + (SELECT count(*) FROM osv.quizzes WHERE user_id = $uid) + (SELECT count(*) FROM osv.answers WHERE user_id = $uid)
		 + (SELECT count(*) FROM osv.rooms WHERE user_id = $uid) + (SELECT count(*) FROM osv.room_participations WHERE user_id = $uid))"
	bench_psql -q -c 'VACUUM ANALYZE'
	# The same export from both (one statement: the same exported_at).
	[ "$round" -gt 1 ] || [ "$(bench_psql -qAt -c "SELECT osv.data_export($uid)::text = bench_export_before($uid)::text")" = t ] ||
		{ echo "data_export and its SQL body differ" >&2; exit 1; }
	# A fresh session: the first export pays for every catalog cache.
	cold_ms+=("$(bench_psql -qAt -c "SELECT round(bench_ms('SELECT osv.data_export($uid)')::numeric, 1)")")
	cold_before_ms+=("$(bench_psql -qAt -c "SELECT round(bench_ms('SELECT bench_export_before($uid)')::numeric, 1)")")
	if [ $((round % 2)) -eq 1 ]; then order="new before"; else order="before new"; fi
	out=$(bench_psql -qAt <<SQL
SELECT osv.data_export($small), bench_export_before($small);
SELECT osv.data_delete($small);
SELECT '$order' = 'new before' AS new_first \gset
\if :new_first
SELECT 'new ' || bench_time('SELECT osv.data_export($uid)');
SELECT 'before ' || bench_time('SELECT bench_export_before($uid)');
\else
SELECT 'before ' || bench_time('SELECT bench_export_before($uid)');
SELECT 'new ' || bench_time('SELECT osv.data_export($uid)');
\endif
SELECT 'delete ' || bench_time('SELECT osv.data_delete($uid)');
SQL
)
	export_ms+=("$(echo "$out" | awk '$1 == "new" { printf "%.1f", $2 }')")
	before_ms+=("$(echo "$out" | awk '$1 == "before" { printf "%.1f", $2 }')")
	delete_ms+=("$(echo "$out" | awk '$1 == "delete" { printf "%.1f", $2 }')")
	export_cpu+=("$(echo "$out" | awk '$1 == "new" { print $3 }')")
	before_cpu+=("$(echo "$out" | awk '$1 == "before" { print $3 }')")
	delete_cpu+=("$(echo "$out" | awk '$1 == "delete" { print $3 }')")
done
export_med=$(printf '%s\n' "${export_ms[@]}" | bench_median)
before_med=$(printf '%s\n' "${before_ms[@]}" | bench_median)
delete_med=$(printf '%s\n' "${delete_ms[@]}" | bench_median)
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data_export of a user owning 10,000 rows: median $export_med ms (${export_ms[*]})"
echo "  baseline (the SQL body, to_jsonb of a row of arrays): median $before_med ms (${before_ms[*]}); ratio $(python3 -c "print(round($before_med / $export_med, 2))")x"
echo "  first export in a fresh session: median $(printf '%s\n' "${cold_ms[@]}" | bench_median) ms (${cold_ms[*]})"
echo "  first export in a fresh session, baseline: median $(printf '%s\n' "${cold_before_ms[@]}" | bench_median) ms (${cold_before_ms[*]})"
echo "data_delete of a user owning 10,000 rows: median $delete_med ms (${delete_ms[*]})"
echo "backend CPU time (ms, 10 ms ticks): data_export median $(printf '%s\n' "${export_cpu[@]}" | bench_median) (${export_cpu[*]});" \
	"baseline $(printf '%s\n' "${before_cpu[@]}" | bench_median) (${before_cpu[*]});" \
	"data_delete $(printf '%s\n' "${delete_cpu[@]}" | bench_median) (${delete_cpu[*]})"
mkdir -p "$OSV_ROOT/bench/plots"
printf 'data_export before (ms)\t%s\ndata_export (ms)\t%s\ndata_delete (ms)\t%s\n' \
	"$before_med" "$export_med" "$delete_med" >"$OSV_ROOT/bench/plots/erasure.tsv"
cat "$OSV_ROOT/bench/plots/erasure.tsv"
[ ! -x "$OSV_ROOT/bench/plot.sh" ] || "$OSV_ROOT/bench/plot.sh" erasure "GDPR export and erasure of a user owning 10,000 rows" \
	"ms in the database (median)" "$OSV_ROOT/bench/plots/erasure.tsv"
bench_psql -q -c 'TRUNCATE osv.storage_deletions; TRUNCATE osv.erasure_ledger CASCADE'

# Seed OBJECTS objects (unsigned, through the gate's /__test/ API) and their
# documents, 100 to a "directory" (50 prefixes): s3rver stores objects as
# files and reads the whole directory after each delete (to remove it when
# empty), so thousands of objects in one directory would measure that.
seed_objects() {
	python3 - "$S3PORT" "$OBJECTS" "$1" <<'PY'
import http.client, sys, threading, urllib.parse
port, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def seed(first):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(first, n, 4):
        key = urllib.parse.quote(f"{prefix}/dir {i % 50}/object {i}.bin", safe="/")
        c.request("PUT", f"/__test/objects/osv-documents/{key}", body=b"x" * 1024)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
threads = [threading.Thread(target=seed, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
	[ "${2:-docs}" = docs ] || return 0
	bench_psql -q -c "INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
		SELECT (SELECT min(id) FROM osv.users), 'other', 'bench', 'osv-documents', '$1/dir ' || g % 50 || '/object ' || g || '.bin'
		FROM generate_series(0, $OBJECTS - 1) g"
}
remaining() {
	python3 - "$S3PORT" "$1" <<'PY'
import http.client, json, sys, urllib.parse
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", "/__test/objects/osv-documents?prefix=" + urllib.parse.quote(sys.argv[2] + "/"))
reply = json.loads(c.getresponse().read())
print(len(reply["result"]["objects"]) if "result" in reply else "unknown (listing failed: %s)" % reply.get("status"))
PY
}

# Drain in one session with osv.storage_sync(): the deletions are queued
# and drained in the same transaction, so the worker never sees them.
# drain_session PREFIX CONNECTIONS PORT KEYS_PER_REQUEST NAME
drain_session() {
	local prefix="$1" conns="$2" port="$3" size="$4" name="$5" out
	seed_objects "$prefix"
	bench_psql -q -c "ALTER SYSTEM SET osv.s3_max_connections = $conns" \
		-c "ALTER SYSTEM SET osv.s3_delete_batch_size = $size" \
		-c "ALTER SYSTEM SET osv.s3_endpoint = 'http://127.0.0.1:$port'" \
		-c "ALTER SYSTEM SET osv.s3_access_key_id = '$KEY_ID'" -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 0.3
	out=$(bench_psql -qAt <<SQL
BEGIN;
DELETE FROM osv.documents WHERE storage_key LIKE '$prefix/%';
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0, 0::bigint AS done;
UPDATE t SET done = osv.storage_sync();
SELECT round(done / extract(epoch FROM clock_timestamp() - t0)) || ' ' || done FROM t;
COMMIT;
SQL
)
	record "$name" "${out%% *}"
	echo "$name: ${out%% *} objects/s (${out#* } deleted; objects left: $(remaining "$prefix"))"
}
# rates[NAME]: the figures of each round, for the medians.
declare -A rates
record() { rates[$1]="${rates[$1]:-} $2"; }
median_of() { printf '%s\n' ${rates[$1]} | bench_median; }
# The ceiling of the endpoint for single deletions: curl --parallel,
# signing with --aws-sigv4 as osv does, deleting the same number of seeded
# objects.
curl_baseline() {
	local prefix="$1" conns="$2" port="$3" name="$4" args=() start end rate
	seed_objects "$prefix" nodocs
	for i in $(seq 0 $((OBJECTS - 1))); do
		args+=(-o /dev/null -X DELETE "http://127.0.0.1:$port/osv-documents/$prefix/dir%20$((i % 50))/object%20$i.bin")
	done
	start=$(date +%s.%N)
	curl -s --parallel --parallel-max "$conns" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY_ID:osvtestsecret" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "${args[@]}" 2>/dev/null
	end=$(date +%s.%N)
	rate=$(python3 -c "print(round($OBJECTS / ($end - $start)))")
	record "$name" "$rate"
	echo "$name: $rate objects/s; objects left: $(remaining "$prefix")"
}
# The baseline for batches: an external client doing the same
# DeleteObjects (1,000 keys a request, XML body, Content-MD5, signed by
# curl --aws-sigv4 as osv signs), up to CONNECTIONS requests at once.
batch_baseline() {
	local prefix="$1" conns="$2" port="$3" name="$4" start end rate dir
	seed_objects "$prefix" nodocs
	dir=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench-batch.XXXXXX")
	python3 - "$dir" "$port" "$KEY_ID" "$OBJECTS" "$prefix" <<'PY'
import base64, hashlib, sys
from xml.sax.saxutils import escape
d, port, key_id, n, prefix = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
with open(f"{d}/curl.cfg", "w") as cfg:
    for first in range(0, n, 1000):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                '<Quiet>false</Quiet>' + "".join(f"<Object><Key>{escape(f'{prefix}/dir {i % 50}/object {i}.bin')}</Key></Object>"
                                                 for i in range(first, min(n, first + 1000))) + "</Delete>").encode()
        with open(f"{d}/{first}.xml", "wb") as f:
            f.write(body)
        if first:
            cfg.write("next\n")
        cfg.write(f'url = "http://127.0.0.1:{port}/osv-documents/?delete="\noutput = "{d}/{first}.out"\n'
                  f'aws-sigv4 = "aws:amz:us-east-1:s3"\nuser = "{key_id}:osvtestsecret"\n'
                  f'data-binary = "@{d}/{first}.xml"\nheader = "Content-Type: application/xml"\n'
                  f'header = "Content-MD5: {base64.b64encode(hashlib.md5(body).digest()).decode()}"\n'
                  f'header = "x-amz-content-sha256: {hashlib.sha256(body).hexdigest()}"\n')
PY
	start=$(date +%s.%N)
	curl -s --parallel --parallel-max "$conns" -K "$dir/curl.cfg" 2>/dev/null
	end=$(date +%s.%N)
	rate=$(python3 -c "print(round($OBJECTS / ($end - $start)))")
	record "$name" "$rate"
	echo "$name: $rate objects/s ($(grep -o '<Deleted>' "$dir"/*.out | wc -l) Deleted in the answers); objects left: $(remaining "$prefix")"
	rm -rf "$dir"
}
# The worker: queue, commit (which wakes it), wait until the queue is
# empty; timed from the commit of the DELETE (clock_timestamp() in the
# session) to the empty queue (the worker's own clock_timestamp(), polled).
drain_worker() {
	local prefix="$1" port="$2" size="$3" name="$4" rate out
	seed_objects "$prefix"
	bench_psql -q -c "ALTER SYSTEM RESET osv.s3_max_connections" -c "ALTER SYSTEM SET osv.s3_delete_batch_size = $size" \
		-c "ALTER SYSTEM SET osv.s3_endpoint = 'http://127.0.0.1:$port'" \
		-c "ALTER SYSTEM SET osv.s3_access_key_id = '$KEY_ID'" -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 0.3
	out=$(bench_psql -qAt <<SQL
SELECT clock_timestamp() AS d0 \gset
DELETE FROM osv.documents WHERE storage_key LIKE '$prefix/%';
SELECT clock_timestamp() AS t0 \gset
DO \$\$ BEGIN
	FOR i IN 1 .. 6000 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM osv.storage_deletions);
		PERFORM pg_sleep(0.02);
	END LOOP;
END \$\$;
SELECT round($OBJECTS / extract(epoch FROM clock_timestamp() - :'t0'::timestamptz))
	|| ' ' || round(1000 * extract(epoch FROM :'t0'::timestamptz - :'d0'::timestamptz));
SQL
)
	rate=${out%% *}
	record "$name" "$rate"
	echo "$name: $rate objects/s from the commit of the DELETE (the DELETE itself: ${out#* } ms); objects left: $(remaining "$prefix")"
}

# s3rver directly (it checks the access key id only, its own: S3RVER) and
# behind the gate (which checks the signature of osvtestkey and the
# Content-MD5, then forwards).  Rounds alternate which runs first: the
# external client or osv.
DIRECT_PORT=$(cat "$S3DIR/s3rver.port")
for label in direct gate; do
	if [ "$label" = direct ]; then port=$DIRECT_PORT KEY_ID=S3RVER; else port=$S3PORT KEY_ID=osvtestkey; fi
	bench_psql -q -c 'TRUNCATE osv.storage_deletions'   # nothing left over from the other endpoint
	for round in $(seq 1 "${S3_ROUNDS:-3}"); do
		steps=(curl batch session worker)
		[ $((round % 2)) -eq 1 ] || steps=(worker session batch curl)
		for step in "${steps[@]}"; do
			case $step in
			curl) curl_baseline "curl$label$round" 16 "$port" "curl --parallel-max 16, DeleteObject ($label)" ;;
			batch) batch_baseline "batch$label$round" 16 "$port" "curl --parallel-max 16, DeleteObjects of 1000 ($label)" ;;
			session) drain_session "session$label$round" 16 "$port" 1000 "osv.storage_sync(), 16 connections, DeleteObjects ($label)" ;;
			worker) drain_worker "worker$label$round" "$port" 1000 "sync worker, DeleteObjects ($label)" ;;
			esac
		done
	done
	drain_session "single$label" 16 "$port" 1 "osv.storage_sync(), 16 connections, DeleteObject (batch size 1, $label)"
	drain_session "session1$label" 1 "$port" 1000 "osv.storage_sync(), 1 connection, DeleteObjects ($label)"
	drain_worker "workersingle$label" "$port" 1 "sync worker, DeleteObject (batch size 1, $label)"
done
bench_psql -q -c "ALTER SYSTEM RESET osv.s3_delete_batch_size" -c 'SELECT pg_reload_conf()' >/dev/null

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
tsv="$OSV_ROOT/bench/plots/erasure_storage.tsv"
: >"$tsv"
for label in direct gate; do
	for name in "curl --parallel-max 16, DeleteObjects of 1000 ($label)" "osv.storage_sync(), 16 connections, DeleteObjects ($label)" \
		"sync worker, DeleteObjects ($label)" "curl --parallel-max 16, DeleteObject ($label)"; do
		echo "median $name: $(median_of "$name") objects/s (${rates[$name]# })"
		printf '%s\t%s\n' "${name//_/ }" "$(median_of "$name")" >>"$tsv"   # (gnuplot: _ makes a subscript)
	done
done
[ ! -x "$OSV_ROOT/bench/plot.sh" ] || "$OSV_ROOT/bench/plot.sh" erasure_storage \
	"Object deletions drained, $OBJECTS objects, s3rver (direct, behind the SigV4 gate)" \
	"objects/s (median)" "$tsv"
