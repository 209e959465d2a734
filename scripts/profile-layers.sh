#!/usr/bin/env bash
# Where a tier's CPU goes per request, counted in instructions by callgrind: per layer
# of the middleware stack (crates/users-api/src/app/mod.rs) and per library below the
# store. Results and method: docs/profile.md.
#
# Usage:
#   scripts/profile-layers.sh TIER [REQUESTS]     TIER: raw, sqlx or orm; REQUESTS: 500
#
# What it does:
#   1. builds the tier with `--profile profiling` (release code with line tables, in
#      target/profiling, so target/release, which the benches use, is left alone);
#   2. creates its own database users_profile_TIER (dropped again at exit) and starts
#      the tier under `valgrind --tool=callgrind --instr-atstart=no`: start-up, schema
#      and connection set-up are not counted;
#   3. seeds 10 users with POST, warms up with 100 GETs, then switches collection on
#      (`callgrind_control -i on`), sends REQUESTS sequential `GET /users/{id}` on one
#      keep-alive connection (curl), and switches it off again;
#   4. stops the tier with SIGTERM (callgrind writes its file at exit) and hands
#      `callgrind_annotate`'s per-function table to `callgrind-split` (crates/bench,
#      src/callgrind/: the patterns and the parsing, with unit tests), which prints
#      instructions per request per layer and per library, and FIGURE lines.
#
# Why callgrind and not perf: perf's hardware counters are not available on this
# machine (`perf stat -e instructions true` says "not supported"), and callgrind's
# instruction counts repeat to within a fraction of a percent on a busy machine, so a
# change is measured by one before-and-after pair. What it cannot see: time in the
# kernel (syscalls: socket reads and writes, epoll, futex), and PostgreSQL itself.
#
# Needs valgrind, curl and psql; DATABASE_URL names the server (its database part is
# replaced), default postgres://postgres@127.0.0.1:5432/postgres. The callgrind file is
# kept in target/profiling/callgrind/ for `callgrind_annotate` or kcachegrind.
set -euo pipefail

tier=${1:?usage: scripts/profile-layers.sh raw|sqlx|orm [REQUESTS]}
requests=${2:-500}
case "$tier" in
raw | sqlx | orm) ;;
*)
    echo "TIER must be raw, sqlx or orm, not '$tier'" >&2
    exit 2
    ;;
esac
for tool in valgrind callgrind_control callgrind_annotate curl psql; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing (apt-get install valgrind curl postgresql-client)" >&2
        exit 2
    }
done

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
server_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=users_profile_$tier
# Same server, our own database: replace the path of the URL.
database_url="${server_url%/*}/$database"
out_dir="$target/profiling/callgrind"
out_file="$out_dir/callgrind.out.$tier"
log_file="$out_dir/tier-$tier.log"
mkdir -p "$out_dir"

cargo build --quiet --profile profiling -p "tier-$tier" --manifest-path "$root/Cargo.toml"
cargo build --quiet -p bench --bin callgrind-split --manifest-path "$root/Cargo.toml"

PGOPTIONS=--client-min-messages=warning psql -q "$server_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
    PGOPTIONS=--client-min-messages=warning psql -q "$server_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
}
trap cleanup EXIT

# Port 0: the kernel picks a free port, the tier prints it (users_api::server::LISTENING_ON).
DATABASE_URL=$database_url BIND_ADDR=127.0.0.1:0 \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out_file" \
    "$target/profiling/tier-$tier" >"$log_file" 2>&1 &
pid=$!
addr=
for _ in $(seq 600); do
    addr=$(grep -o 'listening on http://[0-9.:]*' "$log_file" | head -1 | sed 's|.*http://||') || true
    [[ -n $addr ]] && break
    kill -0 "$pid" 2>/dev/null || {
        cat "$log_file" >&2
        exit 1
    }
    sleep 0.2
done
[[ -n $addr ]] || {
    echo "tier-$tier did not start in 120 s; see $log_file" >&2
    exit 1
}

ids=()
for i in $(seq 10); do
    body=$(curl -sf -H 'content-type: application/json' \
        -d "{\"name\":\"Profile $i\",\"email\":\"profile$i@example.com\"}" "http://$addr/users")
    ids+=("$(sed 's/^{"id":\([0-9]*\).*/\1/' <<<"$body")")
done

# One curl process, one keep-alive connection, requests one after another: the server
# sees what a sequential client sends, and the client's own start-up is paid once.
get_users() {
    local count=$1 config
    config=$(mktemp)
    for ((i = 0; i < count; i++)); do
        printf 'url = "http://%s/users/%s"\noutput = "/dev/null"\n' "$addr" "${ids[i % 10]}"
    done >"$config"
    curl -sf --config "$config"
    rm -f "$config"
}
get_users 100
callgrind_control -i on "$pid" >/dev/null
get_users "$requests"
callgrind_control -i off "$pid" >/dev/null
kill -TERM "$pid"
wait "$pid" || true
pid=

"$target/debug/callgrind-split" --tier "$tier" --requests "$requests" --file "$out_file"
