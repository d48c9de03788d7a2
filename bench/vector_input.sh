#!/usr/bin/env bash
# bench/vector_input.sh: what each form of a vector costs a writer.
#
# Single-row inserts of a document and its summary with a 384-dimension
# embedding (one transaction each, one client, bench/vector_input.c: a libpq
# loop with PQexecParams, binary parameters where a client sends binary),
# the embedding sent as
#   text:   '{...}' array text into the real[] column (baseline),
#   json:   '[...]' JSON text through osv.vector_from_text($1),
#   bytes:  raw little-endian float4 bytes (bytea, binary) through
#           osv.vector_from_bytes($1),
#   binary: real[] in PostgreSQL's binary array format (psycopg, Npgsql).
# ROUNDS rounds (default 7) of INSERTS inserts (default 2000) per form,
# forms alternating; prints the parameter's bytes on the wire and the
# median insert rate of each form with its ratio to the baseline, and
# writes bench/plots/vector_input.tsv (label<TAB>ratio, baseline first),
# then draws it with bench/plot.sh when that exists.
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-7}
INSERTS=${INSERTS:-1000}

# The benchmark runs as postgres in a copy of the tree (bench/lib.sh): the
# figures go to this tree's bench/plots, prepared for postgres to write.
if [ -z "${VECTOR_INPUT_TSV:-}" ]; then
	export VECTOR_INPUT_TSV="$OSV_ROOT/bench/plots/vector_input.tsv"
	mkdir -p "$OSV_ROOT/bench/plots"
	touch "$VECTOR_INPUT_TSV"
	[ "$(id -u)" -ne 0 ] || chown postgres "$VECTOR_INPUT_TSV"
fi
bench_start vector_input.sh "osv.vector_dimensions = 384"

client="$BENCH_DIR/vector_input"
gcc -O2 -Wall -I"$(pg_config --includedir)" -o "$client" "$OSV_ROOT/bench/vector_input.c" \
	-L"$(pg_config --libdir)" -lpq -lm
bench_psql -q -c "INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|vi', 'vi@example.org')" \
	-c 'CHECKPOINT'

"$client" "host=$BENCH_DIR/data port=$BENCH_PORT user=postgres dbname=bench" "$ROUNDS" "$INSERTS" \
	>"$BENCH_DIR/rounds.txt"
cat "$BENCH_DIR/rounds.txt" >&2

forms="text json bytes binary"
declare -A rate bytes read_ms
for f in $forms; do
	rate[$f]=$(awk -v f="$f" '$1 == f { print $3 }' "$BENCH_DIR/rounds.txt" | bench_median)
	bytes[$f]=$(awk -v f="$f" '$1 == f { print $4; exit }' "$BENCH_DIR/rounds.txt")
done

echo "single-row insert of a document + summary, 384-dim embedding, 1 client, median of $ROUNDS alternating rounds of $INSERTS:"
for f in $forms; do
	awk -v f="$f" -v r="${rate[$f]}" -v b="${bytes[$f]}" -v base="${rate[text]}" 'BEGIN {
		printf "  %-7s %5d bytes/vector  %8.1f inserts/s  ratio %.2f\n", f, b, r, r / base }'
done

# The server's cost of reading one vector in each form, without the
# insert or the wire: EXPLAIN ANALYZE's execution time of converting the
# same value ROWS times (a constant of the plan, so nothing is detoasted;
# the CASE keeps it from being folded), forms alternating over ROUNDS.
# The text forms carry the digits of a client holding doubles.
ROWS=${ROWS:-20000}
values=$(bench_psql -At -F ' ' -c "SELECT v::float8[]::text, '[' || array_to_string(v::float8[], ',') || ']',
	osv.vector_to_bytes(v) FROM (SELECT osv.embed_text('a summary of the bench document') AS v) e")
read -r text_value json_value bytes_value <<<"$values"
declare -A read_sql=(
	[text]="SELECT sum(cardinality(CASE WHEN g > 0 THEN :'text' END::real[])) FROM generate_series(1, $ROWS) g"
	[json]="SELECT sum(cardinality(osv.vector_from_text(CASE WHEN g > 0 THEN :'json' END))) FROM generate_series(1, $ROWS) g"
	[bytes]="SELECT sum(cardinality(osv.vector_from_bytes(CASE WHEN g > 0 THEN :'bytes'::bytea END))) FROM generate_series(1, $ROWS) g"
)
for f in text json bytes; do : >"$BENCH_DIR/read_$f.txt"; done
for round in $(seq 1 "$ROUNDS"); do
	for f in text json bytes; do
		echo "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) ${read_sql[$f]}" |
			bench_psql -At -v text="$text_value" -v json="$json_value" -v bytes="$bytes_value" |
			sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' >>"$BENCH_DIR/read_$f.txt"
	done
done
echo "server time to read one 384-dim vector (median of $ROUNDS alternating rounds over $ROWS values):"
for f in text json bytes; do
	read_ms[$f]=$(bench_median <"$BENCH_DIR/read_$f.txt")
	awk -v f="$f" -v ms="${read_ms[$f]}" -v rows="$ROWS" -v base="$(bench_median <"$BENCH_DIR/read_text.txt")" 'BEGIN {
		printf "  %-7s %7.2f us  ratio %.2f\n", f, ms * 1000 / rows, ms / base }'
done

tsv=$VECTOR_INPUT_TSV
{
	printf 'text {...} (baseline)\t1.00\n'
	awk -v r="${rate[json]}" -v base="${rate[text]}" 'BEGIN { printf "JSON [...] via vector_from_text\t%.2f\n", r / base }'
	awk -v r="${rate[bytes]}" -v base="${rate[text]}" 'BEGIN { printf "float4 bytes via vector_from_bytes\t%.2f\n", r / base }'
	awk -v r="${rate[binary]}" -v base="${rate[text]}" 'BEGIN { printf "binary real[]\t%.2f\n", r / base }'
} >"$tsv"
echo "wrote $tsv"
plot="$(dirname "$tsv")/../plot.sh"
if [ -x "$plot" ]; then
	"$plot" vector_input "Vector input: insert rate by form (384 dims)" \
		"insert rate / text array" "$tsv"
fi
