#!/usr/bin/env bash
# The scripted schema change of docs/comparison.md: a new nullable column, users.bio,
# taken through each tier in two steps, recording what each compiler and test suite
# caught and what each tier had to change.
#
# For each tier, in a throw-away worktree of HEAD at /tmp/schema-change-wt:
#   (a) apply scripts/schema-change/migration.patch alone (migrations/0003_add_user_bio.sql
#       and its entry in users_api::schema::MIGRATIONS), then `cargo check` the tier with
#       its tests and run the tests that could notice: conformance, and in tier-orm the
#       entity-against-catalog test (entity_matches_schema);
#   (b) apply users-api.patch (the contract: UserRead.bio, UserCreate::bio, validation;
#       the same for all tiers) and check the tier again; then the tier's own patch
#       (tier-X.patch: the store reads bio everywhere a user is returned and writes it on
#       create); for tier-sqlx, check offline first (the committed .sqlx/ no longer
#       covers the changed queries), then describe the queries against a scratch
#       database as scripts/sqlx-prepare.sh does, and check again; then run the same
#       tests and one HTTP round trip (POST /users with a bio, GET it back) against the
#       tier's binary;
#   (c) undo the patch in one place, the `list` query's SELECT, as a person who forgot it
#       would leave it, and record what the compiler and the conformance tests say.
# The counts of each patch (files, code and comment lines) come from
# `cargo run --bin tier-stats -- diff`; tests/tier_stats.rs checks the ones that
# docs/comparison.md quotes, without running this script.
#
# Not run in CI: it builds three tiers and their tests in a target directory of its own
# (a worktree has its own path, so the shared one would be rebuilt): about 5 minutes
# the first time on 2 cores, then about 2 minutes per tier (the run time is printed).
#
# Usage: scripts/schema-change.sh [raw|sqlx|orm ...]   (default: all three)
# Writes the report to target/schema-change.md as well as stdout. Needs PostgreSQL at
# DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), psql and curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
patches="$root/scripts/schema-change"
wt=/tmp/schema-change-wt
export CARGO_TARGET_DIR="${SCHEMA_CHANGE_TARGET:-/tmp/schema-change-target}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
server_url="$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://[^/?]*).*$#\1#')"
out="$root/target/schema-change.md"
tiers=("$@")
[[ ${#tiers[@]} -eq 0 ]] && tiers=(raw sqlx orm)
started=$(date +%s)
scratch_db="schema_change_$$"
server_pid=""

cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    psql "$server_url/postgres" -qX -c "DROP DATABASE IF EXISTS $scratch_db" >/dev/null 2>&1 || true
    git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fresh_worktree() {
    git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
    git -C "$root" worktree prune
    git -C "$root" worktree add --detach "$wt" HEAD >/dev/null 2>&1
}

# check LABEL CARGO_ARGS...: "compiles", or "refused: N errors (first: ...)".
check() {
    local log
    log="$(mktemp)"
    if (cd "$wt" && cargo check --quiet "$@" >"$log" 2>&1); then
        echo "compiles"
    else
        local n first
        n=$(grep -c '^error\(\[E[0-9]*\]\)\?: ' "$log" | head -1 || true)
        n=$((n - $(grep -c '^error: could not compile' "$log" || true)))
        first=$(grep -m1 '^error' "$log" | cut -c1-140 | sed "s/|/\\\\|/g; s/\`/'/g")
        local errors=errors
        [[ $n -eq 1 ]] && errors=error
        echo "refused: $n $errors (first: \`$first\`)"
    fi
    rm -f "$log"
}

# run_tests TIER TEST...: "name: P passed, F failed" per test target.
run_tests() {
    local tier=$1 result=""
    shift
    for test in "$@"; do
        local log
        log="$(mktemp)"
        (cd "$wt" && cargo test --quiet -p "tier-$tier" --test "$test" >"$log" 2>&1) || true
        local passed failed
        passed=$(grep -o '[0-9]* passed' "$log" | awk '{s+=$1} END {print s+0}')
        failed=$(grep -o '[0-9]* failed' "$log" | awk '{s+=$1} END {print s+0}')
        if [[ $passed -eq 0 && $failed -eq 0 ]]; then
            result+="$test: did not run ($(grep -m1 '^error' "$log" | cut -c1-80)); "
        elif [[ $failed -gt 0 ]]; then
            # The first failure's message says what the test saw.
            local why
            why=$(grep -m1 -A1 'panicked at' "$log" | sed -n 2p | cut -c1-160 | sed "s/|/\\\\|/g; s/\`/'/g")
            result+="$test: $passed passed, $failed failed (\`$why\`); "
        else
            result+="$test: $passed passed, $failed failed; "
        fi
        rm -f "$log"
    done
    echo "${result%; }"
}

# What a tier's tests are: conformance everywhere, the entity check where there is one.
tests_of() {
    case $1 in
        orm) echo "conformance entity_matches_schema" ;;
        *) echo "conformance" ;;
    esac
}

# sqlx's macros describe the changed queries against a database with the new schema,
# into the tier's .sqlx/ (what scripts/sqlx-prepare.sh does for the tier-sqlx package).
sqlx_prepare() {
    psql "$server_url/postgres" -qX -c "DROP DATABASE IF EXISTS $scratch_db" >/dev/null 2>&1
    psql "$server_url/postgres" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $scratch_db" >/dev/null
    for migration in "$wt"/migrations/*.sql; do
        psql "$server_url/$scratch_db" -qX -v ON_ERROR_STOP=1 -1 -f "$migration" >/dev/null
    done
    local fresh
    fresh="$(mktemp -d)"
    find "$wt/crates/tier-sqlx/src" -name '*.rs' -exec touch {} +
    (cd "$wt" && SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$fresh" DATABASE_URL="$server_url/$scratch_db" \
        cargo check --quiet -p tier-sqlx --lib >/dev/null 2>&1) || true
    rm -f "$wt"/crates/tier-sqlx/.sqlx/query-*.json
    cp "$fresh"/query-*.json "$wt/crates/tier-sqlx/.sqlx/"
    rm -rf "$fresh"
}

# round_trip TIER: POST /users with a bio, then GET it back, through the tier's binary.
round_trip() {
    local tier=$1 port=$((3300 + RANDOM % 600)) db="schema_change_rt_${1}_$$"
    (cd "$wt" && cargo build --quiet -p "tier-$tier" >/dev/null 2>&1) || { echo "did not build"; return; }
    # DATABASE_URL, exported above for the tests, would win over DB_NAME: the tier gets
    # a URL naming a database of its own, which it creates at start-up.
    DATABASE_URL="$server_url/$db" \
        BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn "$CARGO_TARGET_DIR/debug/tier-$tier" \
        >/dev/null 2>&1 &
    server_pid=$!
    local created="" read=""
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 0.2
    done
    created=$(curl -s -X POST "http://127.0.0.1:$port/users" -H 'content-type: application/json' \
        -d '{"name":"Ada","email":"ada@example.com","bio":"Wrote the first program."}')
    local id
    id=$(printf '%s' "$created" | sed -nE 's/.*"id":([0-9]+).*/\1/p')
    [[ -n $id ]] && read=$(curl -s "http://127.0.0.1:$port/users/$id")
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    psql "$server_url/postgres" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    if printf '%s' "$read" | grep -q '"bio":"Wrote the first program."'; then
        echo "bio written and read back"
    else
        echo "failed: POST gave \`${created:0:80}\`, GET gave \`${read:0:80}\`"
    fi
}

# forgotten TIER: (c) the patch with one SELECT left as it was (the `list` query without
# bio), as a person would forget it: what the compiler and the tests say. tier-orm's
# statements are generated from the entity, so it has no SELECT to forget.
forgotten() {
    local tier=$1 file="$wt/crates/tier-$1/src/store.rs" saved
    [[ $tier == orm ]] && {
        echo "- (c) a SELECT forgotten: not possible, SeaORM selects every column of the entity"
        return
    }
    saved="$(mktemp)"
    cp "$file" "$saved"
    # The first query that reads users page by page (`list`) loses its new column.
    sed -i '0,/created_at, bio FROM users \\$/s//created_at FROM users \\/' "$file"
    local how
    if [[ $tier == sqlx ]]; then
        # Checked against the database itself: the offline data has no entry for it.
        how=$(SQLX_OFFLINE=false DATABASE_URL="$server_url/$scratch_db" check -p tier-sqlx)
    else
        how=$(check -p "tier-$tier")
    fi
    local tests="not run (the tier does not build)"
    [[ $how == compiles ]] && tests=$(run_tests "$tier" conformance)
    echo "- (c) the \`list\` SELECT left without bio: $how; tests: $tests"
    cp "$saved" "$file"
    rm -f "$saved"
}

# The counter, built once from this checkout into a directory of its own: the worktree's
# copy of the root package would share its artifacts' names (cargo names them by the
# path inside the workspace), and the two builds would overwrite each other.
counter_target="$CARGO_TARGET_DIR/counter"
CARGO_TARGET_DIR="$counter_target" cargo build --quiet --manifest-path "$root/Cargo.toml" --bin tier-stats
count() {
    "$counter_target/debug/tier-stats" diff <"$1" | tail -1
}

{
    echo "Scripted schema change, \`scripts/schema-change.sh ${*:-}\`, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD)"
    echo
    echo "- the migration (common): $(count "$patches/migration.patch")"
    echo "- the contract, users-api (common): $(count "$patches/users-api.patch")"
    for tier in "${tiers[@]}"; do
        fresh_worktree
        git -C "$wt" apply "$patches/migration.patch"
        echo
        echo "### tier-$tier"
        echo
        echo "- (a) migration only, \`cargo check -p tier-$tier --tests\`: $(check -p "tier-$tier" --tests)"
        echo "- (a) tests: $(run_tests "$tier" $(tests_of "$tier"))"
        git -C "$wt" apply "$patches/users-api.patch"
        echo "- (b) + the contract, \`cargo check -p tier-$tier\`: $(check -p "tier-$tier")"
        git -C "$wt" apply "$patches/tier-$tier.patch"
        echo "- (b) + tier-$tier.patch ($(count "$patches/tier-$tier.patch")): $(check -p "tier-$tier")"
        if [[ $tier == sqlx ]]; then
            sqlx_prepare
            changed=$(git -C "$wt" status --porcelain -- crates/tier-sqlx/.sqlx | wc -l)
            echo "- (b) after describing the queries again ($changed files of \`.sqlx/\` added or removed): $(check -p tier-sqlx)"
        fi
        echo "- (b) tests: $(run_tests "$tier" $(tests_of "$tier"))"
        echo "- (b) HTTP round trip: $(round_trip "$tier")"
        forgotten "$tier"
    done
    echo
    echo "Run time: $(($(date +%s) - started)) s (target directory $CARGO_TARGET_DIR)."
} | tee "$out.tmp"
mkdir -p "$(dirname "$out")"
mv "$out.tmp" "$out"
