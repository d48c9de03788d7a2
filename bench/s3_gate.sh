#!/usr/bin/env bash
# bench/s3_gate.sh [REV]: what the S3 test gate's upstream keep-alive is
# worth.  One s3rver, two gates in front of it: this tree's (a kept
# connection to s3rver per client connection) and REV's (default ae0c151:
# a new upstream connection per request); OBJECTS (2,000) single deletions
# signed by curl --aws-sigv4, 16 at once (curl --parallel), through each
# gate in alternating rounds (ROUNDS, 3); objects per second, median.
# No PostgreSQL involved.
set -euo pipefail
OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
REV=${1:-ae0c151}
OBJECTS=${OBJECTS:-2000}
ROUNDS=${ROUNDS:-3}

dir=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench-gate.XXXXXX")
new_port=$("$OSV_ROOT/test/s3/start" "$dir")
git -C "$OSV_ROOT" show "$REV:test/s3/s3_gate.py" >"$dir/old_gate.py"
python3 "$dir/old_gate.py" --port 0 --port-file "$dir/old.port" --upstream-port "$(cat "$dir/s3rver.port")" \
	</dev/null >>"$dir/old_gate.log" 2>&1 &
old_pid=$!
trap 'kill $old_pid 2>/dev/null || true; "$OSV_ROOT/test/s3/stop" "$dir"; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/old.port" ] && break; sleep 0.1; done
old_port=$(cat "$dir/old.port")

run() { # run PORT PREFIX: seed, then delete through the gate on PORT; prints objects/s
	local port="$1" prefix="$2" args=() start end
	python3 - "$new_port" "$OBJECTS" "$prefix" <<'PY'
import http.client, sys, urllib.parse
port, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    c.request("PUT", f"/__test/objects/osv-documents/{prefix}/d{i % 50}/o{i}", body=b"x")
    r = c.getresponse(); r.read(); assert r.status == 200
PY
	for i in $(seq 0 $((OBJECTS - 1))); do
		args+=(-o /dev/null -X DELETE "http://127.0.0.1:$port/osv-documents/$prefix/d$((i % 50))/o$i")
	done
	start=$(date +%s.%N)
	curl -s --parallel --parallel-max 16 --aws-sigv4 "aws:amz:us-east-1:s3" --user "osvtestkey:osvtestsecret" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "${args[@]}" 2>/dev/null
	end=$(date +%s.%N)
	python3 -c "print(round($OBJECTS / ($end - $start)))"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

kept=() fresh=()
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then
		fresh+=("$(run "$old_port" "old$round")"); kept+=("$(run "$new_port" "new$round")")
	else
		kept+=("$(run "$new_port" "new$round")"); fresh+=("$(run "$old_port" "old$round")")
	fi
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gate of $REV (new upstream connection per request): median $(printf '%s\n' "${fresh[@]}" | median) objects/s (${fresh[*]})"
echo "this gate (upstream connection kept): median $(printf '%s\n' "${kept[@]}" | median) objects/s (${kept[*]})"
