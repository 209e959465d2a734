#!/usr/bin/env bash
# Regenerates the two .sqlx/ directories of the workspace: crates/tier-sqlx/.sqlx/
# (the tier's queries) and .sqlx/ at the root (the root package's example
# fetch_users_sqlx). Each holds what sqlx's query macros learned from the
# database about each query (parameter types, column names, types, nullability), one
# JSON file per query. The macros read it when SQLX_OFFLINE=true, which
# .cargo/config.toml sets, so building the workspace needs no running database.
#
# It does what `cargo sqlx prepare` does, without installing sqlx-cli:
#   1. create a scratch database and apply migrations/ to it with psql;
#   2. run `cargo check` of each package with the macros online (SQLX_OFFLINE=false,
#      DATABASE_URL pointing at the scratch database) and SQLX_OFFLINE_DIR set, so
#      each macro describes its query against the real schema and saves the result;
#   3. drop the scratch database.
# The macros look for offline data in $SQLX_OFFLINE_DIR, then in the crate's own
# .sqlx/, then in the workspace root's .sqlx/; we commit each package's own.
#
# Run it after changing a query in crates/tier-sqlx or examples/fetch_users_sqlx.rs,
# or the schema in migrations/.
#
# Usage:
#   scripts/sqlx-prepare.sh           regenerate both .sqlx/ directories in place
#   scripts/sqlx-prepare.sh --check   regenerate into a temporary directory and exit 1
#                                     if it differs from the committed files (for CI)
#
# Needs psql and a PostgreSQL server: DATABASE_URL names it (its database part is
# ignored), default postgres://postgres@127.0.0.1:5432/postgres.
set -euo pipefail

mode=write
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The server part of the URL (scheme, credentials, host, port), without the database
# or any query string, so we can name our own database.
server_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
server_url="$(printf '%s' "$server_url" | sed -E 's#^(postgres(ql)?://[^/?]*).*$#\1#')"
scratch_db="sqlx_prepare_$$"
scratch_url="$server_url/$scratch_db"

work_dir="$(mktemp -d)"
cleanup() {
    psql "$server_url/postgres" -qX -c "DROP DATABASE IF EXISTS $scratch_db" >/dev/null 2>&1 || true
    rm -rf "$work_dir"
}
trap cleanup EXIT

echo "sqlx-prepare: creating scratch database $scratch_db" >&2
psql "$server_url/postgres" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $scratch_db" >/dev/null
for migration in "$root"/migrations/*.sql; do
    # -1: one transaction per file, as sqlx's migrator runs it.
    psql "$scratch_url" -qX -v ON_ERROR_STOP=1 -1 -f "$migration" >/dev/null
done

# prepare NAME COMMITTED_DIR SOURCES -- CARGO_CHECK_ARGS...
# Describes one package's queries into a temporary directory, then checks or writes.
status=0
prepare() {
    local name=$1 committed=$2 sources=$3
    shift 4
    local out_dir="$work_dir/$name"
    mkdir -p "$out_dir"
    # First build everything offline, as usual, so that in the online pass below only
    # the touched sources compile again: a dependency that compiled then (tier-sqlx,
    # for the example) would otherwise describe its own queries into this package's
    # directory too.
    # It may fail on exactly the query being regenerated ("no cached data"): that is
    # what the online pass is for, so its outcome is not checked here.
    (cd "$root" && cargo check --quiet "$@" >/dev/null 2>&1) || true
    # The macros' results are not tracked by cargo: a crate that already compiled is
    # not compiled again just because SQLX_OFFLINE changed. Touching the sources forces
    # the macros to run again (only the modification times change).
    find "$sources" -name '*.rs' -exec touch {} +
    echo "sqlx-prepare: describing the queries of $name against $scratch_db" >&2
    (
        cd "$root"
        SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out_dir" DATABASE_URL="$scratch_url" \
            cargo check --quiet "$@"
    )
    if ! compgen -G "$out_dir/query-*.json" >/dev/null; then
        echo "sqlx-prepare: no query data was written for $name; did the macros run?" >&2
        exit 1
    fi
    local shown=${committed#"$root"/}
    if [[ $mode == check ]]; then
        if diff -r "$committed" "$out_dir" >&2; then
            echo "sqlx-prepare: $shown/ is up to date" >&2
        else
            echo "sqlx-prepare: $shown/ is stale; run scripts/sqlx-prepare.sh and commit it" >&2
            status=1
        fi
    else
        mkdir -p "$committed"
        rm -f "$committed"/query-*.json
        cp "$out_dir"/query-*.json "$committed"/
        echo "sqlx-prepare: wrote $(find "$committed" -name 'query-*.json' | wc -l) files to $shown/" >&2
    fi
}

prepare tier-sqlx "$root/crates/tier-sqlx/.sqlx" "$root/crates/tier-sqlx/src" -- \
    -p tier-sqlx --lib
prepare fetch_users_sqlx "$root/.sqlx" "$root/examples/fetch_users_sqlx.rs" -- \
    -p users-course --example fetch_users_sqlx
exit $status
