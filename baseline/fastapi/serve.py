"""Runs one of the course's FastAPI stacks under uvicorn and says when it answers.

Started by run.sh with the virtual environment's python. uvicorn runs as a child
process with `--workers` (one per core by default), uvloop and httptools, and no access
log: the bench runs our tiers with warnings only (RUST_LOG=warn), and a line per request
would measure the logging. This launcher polls `GET /users?limit=1` until a worker
answers, prints `listening on http://HOST:PORT` (the line our tiers print, which the
bench waits for), then waits for uvicorn; SIGTERM and SIGINT are passed on to it.

Usage: serve.py STACK [--port PORT] [--host HOST] [--workers N]
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

STACKS = {"asyncpg": "asyncpg_app:app", "databases": "databases_app:app",
          "sqlalchemy": "sqlalchemy_app:app"}
HERE = os.path.dirname(os.path.abspath(__file__))
READY_WITHIN_S = 30


def main() -> int:
    parser = argparse.ArgumentParser(description="Run one of the course's FastAPI stacks.")
    parser.add_argument("stack", choices=sorted(STACKS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="uvicorn worker processes (default: one per core)")
    args = parser.parse_args()

    command = [sys.executable, "-m", "uvicorn", STACKS[args.stack], "--app-dir", HERE,
               "--host", args.host, "--port", str(args.port), "--workers", str(args.workers),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log",
               "--log-level", "warning"]
    server = subprocess.Popen(command)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda sig, _frame: server.send_signal(sig))

    url = f"http://{args.host}:{args.port}/users?limit=1"
    deadline = time.monotonic() + READY_WITHIN_S
    while True:
        if server.poll() is not None:
            print(f"uvicorn exited with {server.returncode} before answering", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            print(f"no answer from {url} within {READY_WITHIN_S} s (is the users table "
                  "there? start a tier once, or apply migrations/ with psql)", file=sys.stderr)
            server.terminate()
            server.wait()
            return 1
        time.sleep(0.2)
    print(f"{args.stack}: {args.workers} uvicorn workers, listening on "
          f"http://{args.host}:{args.port}", flush=True)
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
