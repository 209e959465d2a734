#!/usr/bin/env bash
# Measures the three tiers against the course's FastAPI originals, with wrk, in
# alternating rounds: tier-raw, FastAPI + asyncpg, tier-sqlx, FastAPI + databases,
# tier-orm, FastAPI + SQLAlchemy, then again. Each run: the server started alone, 2 s of
# warm-up, then `wrk -t1 -c64 -dDURATION` with random_id.lua (GET /users/{id}, ids
# 1..10000), then the server stopped. Prints each run, then `FIGURE` lines with the
# median requests/s of each server and the ratios tier / counterpart.
#
# Before measuring: a fresh database `fastapi_baseline` (dropped at exit) with
# migrations/ applied and 10,000 users, then check.py against tier-raw for each stack (exits 1 on a difference,
# or if any run saw an error or a non-2xx answer).
#
# Usage: baseline/fastapi/measure.sh [ROUNDS (3)] [DURATION_S (10)]
#        TIER_BIN_DIR=DIR baseline/fastapi/measure.sh ...   (tiers already built in DIR)
# Needs: wrk, psql, curl, python3 with venv; PostgreSQL at DATABASE_URL (its database
# part is ignored; default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
rounds="${1:-3}"
duration="${2:-10}"
rows=10000
admin_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db_url="${admin_url%/*}/fastapi_baseline"
for tool in wrk psql curl python3; do
    command -v "$tool" >/dev/null || { echo "measure.sh needs $tool (Debian: apt-get install $tool)" >&2; exit 1; }
done

# TIER_BIN_DIR: take the tiers' binaries from there as they are (no build); by default
# the release build of this work tree.
if [ -n "${TIER_BIN_DIR:-}" ]; then
    bin_dir="$TIER_BIN_DIR"
else
    cargo build --release --quiet -p tier-raw -p tier-sqlx -p tier-orm
    bin_dir=target/release
fi
"$here/run.sh" --install
work=$(mktemp -d)
pids=()
# Stops every server started so far (SIGTERM: each drains and exits).
stop_servers() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
drop_database() {
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS fastapi_baseline WITH (FORCE)" || true
}
trap 'stop_servers; drop_database; rm -rf "$work"' EXIT

echo "seeding $rows users into fastapi_baseline"
psql -q "$admin_url" -c "DROP DATABASE IF EXISTS fastapi_baseline WITH (FORCE)" \
    -c "CREATE DATABASE fastapi_baseline"
for migration in migrations/*.sql; do
    psql -q -v ON_ERROR_STOP=1 -1 "$db_url" -f "$migration" >/dev/null
done
# User 1 has a name JSON must escape and a created_at with no fraction (".000000Z").
psql -q -v ON_ERROR_STOP=1 "$db_url" <<SQL
INSERT INTO users (name, email, created_at)
VALUES ('Zoë "Ada" Lovelace \\ ☃', 'Zoe.Lovelace@Example.com', '2026-12-01T00:00:00Z');
INSERT INTO users (name, email, created_at)
SELECT 'User ' || g, 'user.' || g || '@example.com',
       timestamptz '2026-12-01T00:00:00Z' + g * interval '1.234567 seconds'
FROM generate_series(2, $rows) AS g;
ANALYZE users;
SQL

# start NAME: starts that server on its port and waits for its "listening on" line.
# Each server gets a port the system has just called free (other servers may be running
# on this machine, the tiers' own defaults included).
declare -A port=()
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start() {
    local name=$1 log="$work/$1.log"
    port[$name]=$(free_port)
    : >"$log"
    case $name in
        raw|sqlx|orm)
            DATABASE_URL="$db_url" BIND_ADDR="127.0.0.1:${port[$name]}" \
                RUST_LOG="warn,users_api::server=info" "$bin_dir/tier-$name" >"$log" 2>&1 &
            ;;
        *)
            DATABASE_URL="$db_url" "$here/run.sh" "$name" --port "${port[$name]}" >"$log" 2>&1 &
            ;;
    esac
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 300); do
        grep -qs "listening on http://" "$log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start:" >&2
    cat "$log" >&2
    exit 1
}

for stack in asyncpg databases sqlalchemy; do
    start raw
    start "$stack"
    echo "check.py: tier-raw against FastAPI + $stack"
    python3 "$here/check.py" "http://127.0.0.1:${port[raw]}" "http://127.0.0.1:${port[$stack]}" \
        --max-id "$rows"
    stop_servers
done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results"
for round in $(seq 1 "$rounds"); do
    for name in raw asyncpg sqlx databases orm sqlalchemy; do
        start "$name"
        url="http://127.0.0.1:${port[$name]}"
        wrk -t1 -c64 -d2s -s "$here/random_id.lua" "$url" >/dev/null
        out=$(MAX_ID=$rows wrk -t1 -c64 -d"${duration}s" --latency -s "$here/random_id.lua" "$url")
        stop_servers
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
        errors=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out")
        printf 'round %s  %-10s %10s requests/s  p99 %-8s non-2xx %s  socket errors %s  load %s\n' \
            "$round" "$name" "$rps" "$p99" "${bad:-0}" "${errors:-0}" "$(cut -d' ' -f1 /proc/loadavg)"
        echo "$name $rps ${bad:-0} ${errors:-0}" >>"$results"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" <<'PY'
import statistics, sys
runs = {}
failed = False
for line in open(sys.argv[1]):
    name, rps, bad, errors = line.split()
    runs.setdefault(name, []).append(float(rps))
    failed |= int(bad) > 0 or int(errors) > 0
median = {name: statistics.median(values) for name, values in runs.items()}
for name in ("raw", "asyncpg", "sqlx", "databases", "orm", "sqlalchemy"):
    label = f"tier-{name}" if name in ("raw", "sqlx", "orm") else f"fastapi-{name}"
    print(f"FIGURE get requests/s {label}: {median[name]:.0f}")
for tier, stack in (("raw", "asyncpg"), ("sqlx", "databases"), ("orm", "sqlalchemy")):
    print(f"FIGURE get ratio tier-{tier} / fastapi-{stack}: {median[tier] / median[stack]:.1f}")
if failed:
    print("some run saw non-2xx answers or socket errors", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
