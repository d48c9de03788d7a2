#!/usr/bin/env bash
# bench/laravel.sh: what the Laravel changes of 1.1 cost.
#
# 1. Explicit ids leave identity sequences behind.  osv moves them with
#    osv.reset_identities(), run once after a seeder, so inserts pay
#    nothing.  The alternative, a statement trigger (NEW TABLE transition
#    relation) advancing the sequence past every inserted id, is measured
#    here: insert rate of a document and its summary per transaction
#    (pgbench, 1 client) with that trigger on both tables against without,
#    alternating rounds, median of the per-round ratios.
# 2. updated_at on room_participations: a presence heartbeat (UPDATE of
#    last_seen_at) with the touch_updated_at trigger against with it
#    disabled (as in 1.0), alternating rounds.
# 3. osv.reset_identities() over 1,000,000 activity logs, 100,000 documents
#    and summaries and 10,000 users (median of ROUNDS calls).
. "$(dirname "$0")/lib.sh"
bench_start laravel.sh

ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-10}

bench_psql -q <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|b' || g, 'b' || g || '@example.org', 'Bench ' || g FROM generate_series(1, 100) g;
INSERT INTO osv.rooms (user_id, name) SELECT id, 'room ' || id FROM osv.users;
INSERT INTO osv.room_participations (room_id, user_id) SELECT r.id, u.id FROM osv.rooms r, osv.users u WHERE u.id <= 10;
CREATE SEQUENCE bench_keys;

-- the alternative to osv.reset_identities(): advance the sequence after every insert statement
CREATE FUNCTION bench_advance_identity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	seq regclass := pg_get_serial_sequence(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'id');
	top bigint;
BEGIN
	SELECT max(id) INTO top FROM new_rows;
	IF top > coalesce(pg_sequence_last_value(seq), 0) THEN
		PERFORM setval(seq, top);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER bench_advance_identity AFTER INSERT ON osv.documents REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION bench_advance_identity();
CREATE TRIGGER bench_advance_identity AFTER INSERT ON osv.summaries REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION bench_advance_identity();
SQL

cat >"$BENCH_DIR/insert.pgbench" <<'SQL'
\set u random(1, 100)
WITH d AS (INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
           VALUES (:u, 'pdf', 'bench', 'bench-docs', 'k' || :client_id || '-' || nextval('bench_keys')) RETURNING id)
INSERT INTO osv.summaries (document_id, user_id, content) SELECT id, :u, 'a summary of the bench document' FROM d;
SQL
cat >"$BENCH_DIR/heartbeat.pgbench" <<'SQL'
\set p random(1, 1000)
UPDATE osv.room_participations SET last_seen_at = now() WHERE id = :p;
SQL

# run_pair NAME FILE SQL_OFF SQL_ON: alternating rounds, off then on
run_pair() {
	local name="$1" file="$2" off="$3" on="$4" side tps
	for round in $(seq 1 "$ROUNDS"); do
		for side in off on; do
			if [ "$side" = off ]; then bench_psql -q -c "$off"; else bench_psql -q -c "$on"; fi
			tps=$(bench_pgbench -n -c 1 -T "$SECONDS_PER_ROUND" -f "$file" 2>/dev/null |
				sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			echo "$tps" >>"$BENCH_DIR/$name.$side.tps"
			echo "round $round $name $side: $tps tps"
		done
	done
	echo "$name: off $(bench_median <"$BENCH_DIR/$name.off.tps") tps, on $(bench_median <"$BENCH_DIR/$name.on.tps") tps," \
		"median of per-round on/off ratios $(paste "$BENCH_DIR/$name.on.tps" "$BENCH_DIR/$name.off.tps" |
			awk '{ printf "%.3f\n", $1 / $2 }' | bench_median)"
}

run_pair insert_with_advance_trigger "$BENCH_DIR/insert.pgbench" \
	'ALTER TABLE osv.documents DISABLE TRIGGER bench_advance_identity; ALTER TABLE osv.summaries DISABLE TRIGGER bench_advance_identity' \
	'ALTER TABLE osv.documents ENABLE TRIGGER bench_advance_identity; ALTER TABLE osv.summaries ENABLE TRIGGER bench_advance_identity'
run_pair heartbeat_with_touch_updated_at "$BENCH_DIR/heartbeat.pgbench" \
	'ALTER TABLE osv.room_participations DISABLE TRIGGER touch_updated_at' \
	'ALTER TABLE osv.room_participations ENABLE TRIGGER touch_updated_at'

# 3. osv.reset_identities() on a seeded database
bench_psql -q <<'SQL'
DROP TRIGGER bench_advance_identity ON osv.documents;
DROP TRIGGER bench_advance_identity ON osv.summaries;
INSERT INTO osv.users (id, auth0_id, email, name)
SELECT 1000 + g, 'auth0|s' || g, 's' || g || '@example.org', 'Seeded ' || g FROM generate_series(1, 10000) g;
INSERT INTO osv.documents (id, user_id, type, title, storage_bucket, storage_key)
SELECT 1000000 + g, 1000 + (g % 10000) + 1, 'pdf', 'seeded', 'seed-docs', 'k' || g FROM generate_series(1, 100000) g;
INSERT INTO osv.summaries (id, document_id, content) SELECT id, id, 'seeded summary' FROM osv.documents WHERE storage_bucket = 'seed-docs';
INSERT INTO osv.activity_logs (id, user_id, event_type, occurred_at)
SELECT 10000000 + g, 1000 + (g % 10000) + 1, 'page.view', now() - (g % 30) * interval '1 day' FROM generate_series(1, 1000000) g;
VACUUM ANALYZE;
SQL
for round in $(seq 1 "$ROUNDS"); do
	bench_psql -At <<'SQL'
SELECT 'reset_ms ' || round(extract(epoch FROM clock_timestamp() - t) * 1000, 1) || ' moved ' || m
FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT osv.reset_identities() AS m) x;
SQL
done | tee "$BENCH_DIR/reset.txt"
echo "osv.reset_identities() over 1,110,000 seeded rows: median $(awk '{ print $2 }' "$BENCH_DIR/reset.txt" | bench_median) ms"
bench_psql -q -At -c "INSERT INTO osv.activity_logs (user_id, event_type) VALUES (1001, 'page.view') RETURNING 'next activity log id after the reset: ' || id"
