#!/usr/bin/env bash
# Checks that /openapi.json tells the truth, against each tier: schemathesis generates
# requests from the document (valid ones and deliberately invalid ones) and runs
# `--checks all` on the answers. Among them:
#   positive_data_acceptance (ST202)  a request the document calls valid is accepted;
#   negative_data_rejection  (ST201)  a request the document calls invalid is refused;
#   response_schema_conformance, status_code_conformance, content_type_conformance,
#   not_a_server_error, use_after_free, ensure_resource_availability, ...
# API.md: "The OpenAPI document never claims a constraint stricter than the server
# enforces" (nor a looser one). Then scripts/openapi_edges.py sends the edge cases a
# random generator rarely hits (a 100-character name behind a space, a tab inside a
# name, a 254-character email) and checks the document's patterns agree with the
# server on every one of them.
#
# For each tier: a fresh database, the debug binary on a free port (port 0; the port is
# read from the server's "listening on http://" log line), one schemathesis run with a
# fixed seed and a bounded number of examples, then the server is stopped and the
# database dropped. Exits 1 if any tier fails, after a summary line per tier.
#
# Usage:
#   scripts/schemathesis.sh                  all three tiers
#   scripts/schemathesis.sh tier-sqlx        only the tiers named
# Environment: DATABASE_URL (its database part is ignored; default
# postgres://postgres@127.0.0.1:5432/postgres), SCHEMATHESIS_SEED,
# SCHEMATHESIS_MAX_EXAMPLES (per operation and phase; default 60, which keeps the three
# tiers near a minute on an idle 2-core machine).
#
# Needs python3 (with venv) and PyPI once: schemathesis is installed into
# target/schemathesis-venv, pinned, and reused on later runs.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
seed="${SCHEMATHESIS_SEED:-20261204}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-60}"
admin_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
server_url="${admin_url%/*}"
if [ "$#" -gt 0 ]; then tiers=("$@"); else tiers=(tier-raw tier-sqlx tier-orm); fi

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    if ! python3 -m venv "$venv"; then
        echo "scripts/schemathesis.sh needs python3 with venv (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Debug, as the rest of CI builds: this reuses the test build's artifacts.
cargo build --locked --quiet -p tier-raw -p tier-sqlx -p tier-orm

# schemathesis writes .schemathesis/ and its reports into the working directory: a
# scratch one, so nothing lands in the repository.
work=$(mktemp -d)
server_pid=""
database=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    if [ -n "$database" ]; then
        psql -q -X "$admin_url" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" \
            >/dev/null || true
        database=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# 413 is the one answer the document cannot predict from a body's schema: a request
# body over 16 KiB is refused before it is parsed, and JSON Schema has no size in
# bytes (a batch of 100 users with long names is schema-valid and can exceed it). The
# operations document the 413, so both body checks count it as the server's honest
# answer; every other status keeps schemathesis's defaults.
cat >"$work/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
TOML

declare -A outcome
declare -A seconds
failed=0
for tier in "${tiers[@]}"; do
    started=$SECONDS
    database="schemathesis_${tier//-/_}_$$"
    psql -q -X "$admin_url" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$database\"" -c "CREATE DATABASE \"$database\"" >/dev/null
    log="$work/$tier.log"
    DATABASE_URL="$server_url/$database" BIND_ADDR=127.0.0.1:0 RUST_LOG=info \
        "target/debug/$tier" >"$log" 2>&1 &
    server_pid=$!
    addr=""
    for _ in $(seq 1 300); do
        addr=$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$log" | head -n 1)
        [ -n "$addr" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "$tier did not start:"
        cat "$log"
        outcome[$tier]="FAIL (did not start)"
        failed=1
        stop_server
        continue
    fi

    printf '\n==> schemathesis %s against %s at %s\n' "$SCHEMATHESIS_VERSION" "$tier" "$addr"
    # One worker: several would run requests concurrently, and past MAX_IN_FLIGHT the
    # server sheds load with 503, which not_a_server_error would report. No example
    # database: each run starts from the seed alone, so CI runs are reproducible.
    status=0
    (cd "$work" && "$OLDPWD/$venv/bin/schemathesis" --config-file schemathesis.toml run "http://$addr/openapi.json" \
        --checks all --seed "$seed" --max-examples "$max_examples" --workers 1 \
        --generation-database none --no-color) || status=$?
    edges=0
    "$venv/bin/python" scripts/openapi_edges.py "http://$addr" || edges=$?
    stop_server
    seconds[$tier]=$((SECONDS - started))
    if [ "$status" -eq 0 ] && [ "$edges" -eq 0 ]; then
        outcome[$tier]="ok"
    else
        outcome[$tier]="FAIL (schemathesis exit $status, openapi_edges exit $edges)"
        failed=1
    fi
done

printf '\nschemathesis %s, --checks all, seed %s, at most %s examples per operation:\n' \
    "$SCHEMATHESIS_VERSION" "$seed" "$max_examples"
for tier in "${tiers[@]}"; do
    printf '  %-10s %s (%ss)\n' "$tier" "${outcome[$tier]}" "${seconds[$tier]:-0}"
done
exit "$failed"
