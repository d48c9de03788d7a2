#!/usr/bin/env bash
# bench/claim_user.sh: what keeping the claimed point's user costs a claim.
#
# Since the erasure fix (issue 12), the outbox claim (src/sync_engine.c,
# sync_claim()) also sets vector_outbox.claimed_user_id from the summary, a
# primary-key probe of osv.summaries per claimed row.  This runs the claim
# statement (the same statement and planner settings; BATCH (256) entries
# of an outbox of N (100,000) pending ones) with and without that column,
# TRANSACTIONS (2,000) claims a side by pgbench (prepared, each rolled
# back, so each claims the same rows), in ROUNDS (5) alternating rounds;
# prints the median mean latency of a claim of each and the ratio
# with/without.  The vector sync worker is off: only the claim is timed.
. "$(dirname "$0")/lib.sh"

N=${N:-100000}
BATCH=${BATCH:-256}
ROUNDS=${ROUNDS:-5}

bench_start claim_user.sh "osv.vector_dimensions = 8
osv.qdrant_url = 'http://127.0.0.1:9'"

osv_log "loading $N summaries"
bench_psql -q <<SQL
INSERT INTO osv.users (auth0_id, email)
SELECT 'auth0|c' || g, 'c' || g || '@example.org' FROM generate_series(1, 100) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT 1 + g % 100, 'text', 'doc ' || g, 'bench-docs', 'claim/' || g FROM generate_series(1, $N) g;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'topic', 'summary ' || d.id, ARRAY(SELECT sin(d.id * 7 + i)::real FROM generate_series(1, 8) i)
  FROM osv.documents d;
VACUUM ANALYZE osv.summaries;
VACUUM ANALYZE osv.vector_outbox;
SQL

# The claim of the worker (one statement, BATCH entries from the start of
# the due index, prepared as SPI caches it), with or without
# claimed_user_id, rolled back: every transaction claims the same rows.
claim_script() {
	cat <<SQL
BEGIN;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_sort = off;
UPDATE osv.vector_outbox o
   SET claim_id = 1, claimed_version = o.version, lease_until = now() + interval '1 minute',
	   attempts = o.attempts + 1, last_attempt_at = now() $1
 WHERE o.summary_id = ANY (ARRAY(
	SELECT d.summary_id FROM osv.vector_outbox d
	 WHERE d.state = 'pending' AND d.next_attempt_at <= now()
	   AND (d.claim_id IS NULL OR d.lease_until < now())
	   AND (d.next_attempt_at, d.summary_id) > ('-infinity', -1)
	 ORDER BY d.next_attempt_at, d.summary_id LIMIT $BATCH
	 FOR UPDATE SKIP LOCKED))
RETURNING o.next_attempt_at, o.summary_id;
ROLLBACK;
SQL
}
claim_script "" >"$BENCH_DIR/false.sql"
claim_script ", claimed_user_id = (SELECT s.user_id FROM osv.summaries s WHERE s.id = o.summary_id)" >"$BENCH_DIR/true.sql"

# TRANSACTIONS claims; prints the mean latency of one, in ms.
TRANSACTIONS=${TRANSACTIONS:-2000}
pass() {
	bench_pgbench -n -M prepared -f "$BENCH_DIR/$1.sql" -t "$TRANSACTIONS" 2>&1 |
		awk '/latency average/ { print $4 }'
}

pass false >/dev/null	# warm-up
: >"$BENCH_DIR/without"
: >"$BENCH_DIR/with"
for r in $(seq 1 "$ROUNDS"); do
	pass false >>"$BENCH_DIR/without"
	pass true >>"$BENCH_DIR/with"
	osv_log "round $r: without $(tail -1 "$BENCH_DIR/without") ms, with $(tail -1 "$BENCH_DIR/with") ms"
done
without=$(bench_median <"$BENCH_DIR/without")
with=$(bench_median <"$BENCH_DIR/with")
echo "claim of $BATCH of $N entries: without claimed_user_id $without ms, with $with ms (medians of $ROUNDS rounds of $TRANSACTIONS claims)"
echo "ratio with/without: $(echo "scale=3; $with / $without" | bc)"
