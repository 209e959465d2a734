#!/usr/bin/env bash
# Checks the `scale` profile's files without a Docker engine:
#   1. docker-compose.yml parses with the profile (`docker compose` v2, else Debian's
#      docker-compose 1.29);
#   2. deploy/haproxy/haproxy.cfg parses (`haproxy -c`);
#   3. the same topology on loopback: db-init's command, PgBouncer from
#      deploy/pgbouncer/pgbouncer.ini,
#      N replicas of a tier with the `api` service's environment from the compose
#      file, HAProxy from haproxy.cfg (its DNS server-template swapped for the N
#      loopback servers, the one thing Docker provides), then requests through HAProxy:
#      every answer 2xx, spread over every replica, PostgreSQL's sessions within
#      PgBouncer's pool, reads and deletes at once leaving exactly the right rows; then one replica more, started while the others run (what
#      `--scale api=N+1` does), must serve within 20 s. Prints FIGURE lines.
#
#   deploy/check.sh [tier-raw|tier-sqlx|tier-orm] [replicas]
#
# Needs PostgreSQL (DATABASE_URL's server, trust auth on 127.0.0.1, as the tests),
# pgbouncer, haproxy, psql, curl and python3 with PyYAML (apt-get install -y pgbouncer
# haproxy docker-compose postgresql-client curl python3-yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

tier=${1:-tier-raw}
replicas=${2:-3}
requests=60
base_port=${CHECK_BASE_PORT:-3270}
pgb_port=$((base_port - 1))
lb_port=$((base_port - 2))
stats_port=$((base_port - 3))
db=scale_check_$$
pg_host=127.0.0.1 pg_port=5432

fail() { echo "deploy/check.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is missing: apt-get install -y $2"; }
need pgbouncer pgbouncer
need haproxy haproxy
need psql postgresql-client
need curl curl
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML is missing: apt-get install -y python3-yaml"

# 1. The compose file, with the scale profile.
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    fail "no docker compose: apt-get install -y docker-compose (or Docker's compose plugin)"
fi
config=$("${compose[@]}" --profile scale config) || fail "docker-compose.yml does not parse"
echo "ok: ${compose[*]} --profile scale config"

# 2. HAProxy's file as it is.
haproxy -c -q -f deploy/haproxy/haproxy.cfg || fail "haproxy.cfg does not parse"
echo "ok: haproxy -c -f deploy/haproxy/haproxy.cfg"

# 3. The topology on loopback.
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -h $pg_host -p $pg_port -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The api service's environment, from the compose file itself.
api_env=$(printf '%s' "$config" | python3 -c '
import sys, yaml
env = yaml.safe_load(sys.stdin)["services"]["api"]["environment"]
for k, v in env.items():
    print(f"{k}={v}")')
pool_size=$(sed -n 's/^default_pool_size = //p' deploy/pgbouncer/pgbouncer.ini)

# db-init's own command from the compose file (PgBouncer cannot create the database;
# the statement timeout becomes the role's default there), on our database name.
db_init=$(printf '%s' "$config" | python3 -c '
import sys, yaml
print(yaml.safe_load(sys.stdin)["services"]["db-init"]["command"][2])')
db_init=${db_init//users_course/$db}
PGHOST=$pg_host PGPORT=$pg_port PGUSER=postgres sh -c "$db_init" > "$work/db-init.log" 2>&1 \
    || { cat "$work/db-init.log" >&2; fail "db-init's command failed"; }

# The template with the lines the tests' harness rewrites too.
sed -e "s/^listen_addr = .*/listen_addr = 127.0.0.1/" \
    -e "s/^listen_port = .*/listen_port = $pgb_port/" \
    -e "s#^auth_file = .*#auth_file = $work/userlist.txt#" \
    -e "s/^\* = host=db port=5432/* = host=$pg_host port=$pg_port/" \
    deploy/pgbouncer/pgbouncer.ini > "$work/pgbouncer.ini"
cp deploy/pgbouncer/userlist.txt "$work/userlist.txt"
chmod 644 "$work/pgbouncer.ini" "$work/userlist.txt"
# PgBouncer refuses to run as root; -u drops to another user after reading its files.
user_opt=()
[ "$(id -u)" = 0 ] && user_opt=(-u nobody)
pgbouncer "${user_opt[@]}" "$work/pgbouncer.ini" > "$work/pgbouncer.log" 2>&1 &
pids+=($!)

cargo build -q -p "$tier"
bin=target/debug/$tier
start_replica() {
    (
        while IFS= read -r kv; do export "${kv?}"; done <<< "$api_env"
        export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$pgb_port/$db"
        export BIND_ADDR="127.0.0.1:$((base_port + $1))"
        exec "$bin"
    ) > "$work/api$1.log" 2>&1 &
    pids+=($!)
}
for i in $(seq 1 "$replicas"); do start_replica "$i"; done

servers=""
for i in $(seq 1 "$replicas"); do
    servers+="    server api$i 127.0.0.1:$((base_port + i)) check inter 1s fall 2 rise 1\\n"
done
sed -e "s/^    server-template .*/$servers/" \
    -e "s/ resolvers docker init-addr libc,none//" \
    -e "s/^    bind :8080/    bind 127.0.0.1:$lb_port/" \
    -e "s/^    bind :8404/    bind 127.0.0.1:$stats_port/" \
    deploy/haproxy/haproxy.cfg > "$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
pids+=($!)

# Every replica up in HAProxy's eyes (the same /health checks as in compose).
for _ in $(seq 1 60); do
    up=$({ curl -s "http://127.0.0.1:$stats_port/;csv" || true; } | awk -F, '$1 == "tiers" && $2 ~ /^api/ && $18 == "UP"' | wc -l)
    [ "$up" -eq "$replicas" ] && break
    sleep 0.5
done
[ "$up" -eq "$replicas" ] || { tail -n 5 "$work"/api*.log >&2; fail "$up of $replicas replicas up"; }

# Writes and reads through the load balancer, 4 clients at once.
max_sessions=0
bad=0
for batch in $(seq 1 $((requests / 4))); do
    clients=()
    for c in 1 2 3 4; do
        n=$((batch * 4 + c))
        (
            code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
                -d "{\"name\":\"Check $n\",\"email\":\"check$n@example.com\"}" "http://127.0.0.1:$lb_port/users")
            [ "$code" = 201 ] || echo "POST /users: $code" >> "$work/bad"
            code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lb_port/users?limit=5")
            [ "$code" = 200 ] || echo "GET /users: $code" >> "$work/bad"
        ) &
        clients+=($!)
    done
    # PostgreSQL's sessions on the database while the clients run: PgBouncer's only.
    sessions=$(psql -h $pg_host -p $pg_port -U postgres -d postgres -Atc \
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'")
    [ "$sessions" -gt "$max_sessions" ] && max_sessions=$sessions
    for client in "${clients[@]}"; do wait "$client" || true; done
done
[ -f "$work/bad" ] && bad=$(wc -l < "$work/bad")

# Right answers, not only right status codes: reads of the odd ids and deletes of the
# even ids at once, 4 clients each. Afterwards every odd user must be there and no even
# one: a statement bound to another request's statement (a GET running a DELETE) shows
# here even when every answer was 2xx.
psql_db() { psql -h $pg_host -p $pg_port -U postgres -d "$db" -Atc "$1"; }
odd_before=$(psql_db "SELECT count(*) FROM users WHERE id % 2 = 1")
mapfile -t odd < <(psql_db "SELECT id FROM users WHERE id % 2 = 1 ORDER BY id")
mapfile -t even < <(psql_db "SELECT id FROM users WHERE id % 2 = 0 ORDER BY id")
clients=()
for w in 0 1 2 3; do
    (for ((k = w; k < ${#odd[@]}; k += 4)); do
        curl -s -o /dev/null "http://127.0.0.1:$lb_port/users/${odd[k]}"
    done) &
    clients+=($!)
    (for ((k = w; k < ${#even[@]}; k += 4)); do
        curl -s -o /dev/null -X DELETE "http://127.0.0.1:$lb_port/users/${even[k]}"
    done) &
    clients+=($!)
done
for client in "${clients[@]}"; do wait "$client" || true; done
wrongly_deleted=$((odd_before - $(psql_db "SELECT count(*) FROM users WHERE id % 2 = 1")))
not_deleted=$(psql_db "SELECT count(*) FROM users WHERE id % 2 = 0")

# Scaling up while the others run (`--scale api=N+1`): one more replica starts against
# the same PgBouncer, applies the schema again (idempotent) and serves, within 20 s.
extra=$((replicas + 1))
start_replica "$extra"
scaled_up=no
for _ in $(seq 1 40); do
    if curl -fs -o /dev/null "http://127.0.0.1:$((base_port + extra))/users?limit=1"; then
        scaled_up=yes
        break
    fi
    sleep 0.5
done

spread=$(curl -s "http://127.0.0.1:$stats_port/;csv" | awk -F, '$1 == "tiers" && $2 ~ /^api/ {printf "%s%s", sep, $8; sep="/"}')
echo "FIGURE scale_check tier=$tier replicas=$replicas requests=$((requests * 2)) bad=$bad spread=$spread"
echo "FIGURE scale_check reads=${#odd[@]} deletes=${#even[@]} users_deleted_by_reads=$wrongly_deleted users_left_by_deletes=$not_deleted"
echo "FIGURE scale_check scaled_up_to=$extra serving=$scaled_up"
echo "FIGURE scale_check max_server_sessions=$max_sessions pgbouncer_pool=$pool_size client_pools=$((replicas * $(sed -n 's/^DB_POOL_SIZE=//p' <<< "$api_env")))"

[ "$bad" -eq 0 ] || { sort "$work/bad" | uniq -c >&2; grep -h ERROR "$work"/api*.log | tail -n 3 >&2; fail "$bad requests failed"; }
[ "$wrongly_deleted" -eq 0 ] && [ "$not_deleted" -eq 0 ] \
    || fail "$wrongly_deleted users deleted by GETs, $not_deleted left by DELETEs"
[ "$max_sessions" -le "$pool_size" ] || fail "$max_sessions server sessions, more than PgBouncer's pool of $pool_size"
awk -F/ '{for (i = 1; i <= NF; i++) if ($i == 0) exit 1}' <<< "$spread" || fail "a replica got no request: $spread"
[ "$scaled_up" = yes ] || { tail -n 3 "$work/api$extra.log" >&2; fail "replica $extra, started later, did not serve within 20 s"; }
echo "ok: $replicas x $tier behind HAProxy and PgBouncer"
