#!/usr/bin/env bash
# Runs one of the course's three FastAPI stacks (asyncpg, databases, sqlalchemy) against
# DATABASE_URL with uvicorn, one worker per core, and prints
# "STACK: N uvicorn workers, listening on http://HOST:PORT" once it answers.
#
# On first use it builds the virtual environment from PyPI (requirements.txt, pinned)
# under target/fastapi-venv (FASTAPI_VENV to put it elsewhere); it builds it again when
# requirements.txt changes. `run.sh --install` only builds it.
#
# Usage:
#   baseline/fastapi/run.sh STACK [--port 8001] [--host 127.0.0.1] [--workers N]
#   baseline/fastapi/run.sh --install
# Environment: DATABASE_URL (default postgresql://postgres:postgres@localhost:5432/users_course,
# or built from DB_USER, DB_PASS, DB_HOST, DB_PORT, DB_NAME), DB_POOL_SIZE (per worker;
# default: each library's own), LOG_SQL=true (SQLAlchemy's echo).
# The users table must exist: start any tier once (cargo run -p tier-raw), or apply
# migrations/*.sql with psql.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FASTAPI_VENV:-$root/target/fastapi-venv}"

if ! cmp -s "$here/requirements.txt" "$venv/requirements.installed" 2>/dev/null; then
    echo "installing the FastAPI stacks' requirements into $venv" >&2
    if ! python3 -m venv "$venv"; then
        echo "run.sh needs python3 (3.10 or newer) with venv (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$venv/requirements.installed"
fi
if [ "${1:-}" = "--install" ]; then
    exit 0
fi
# Python would write __pycache__/ beside the sources, inside the repository.
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" "$here/serve.py" "$@"
