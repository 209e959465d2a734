"""Checks that a FastAPI stack answers GET /users/{id} and GET /users as a tier does.

Sends the same requests to both servers (users by id, pages with and without a full
page's `Link`, and the error cases of those two endpoints) and compares status,
Content-Type, `Link` and the body, byte for byte. Both must serve one database. Prints
each difference, then `N passed, N failed`; exits 1 on any difference.

One known difference is left out: pydantic strips white space around an integer, so
`/users/%202` and `?limit=%202` are a 200 here and a 400 in the tiers (Rust's
`str::parse` takes none).

Usage: check.py TIER_URL STACK_URL [--max-id N]   (e.g. http://127.0.0.1:3101 http://127.0.0.1:8001)
Standard library only: runs with any python3.
"""

import argparse
import http.client
import random
import sys
from urllib.parse import urlsplit


def fetch(base: str, target: str) -> tuple:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", target)
        answer = connection.getresponse()
        return (answer.status, answer.getheader("content-type"), answer.getheader("link"),
                answer.read())
    finally:
        connection.close()


def targets(max_id: int) -> list[str]:
    # A fixed seed: every run compares the same ids.
    rng = random.Random(20261204)
    ids = [1, 2, max_id, max_id + 1, 0, -1, 9223372036854775807, -9223372036854775808]
    ids += rng.sample(range(1, max_id + 1), 50)
    paths = [f"/users/{user_id}" for user_id in ids]
    paths += ["/users/abc", "/users/1.5", "/users/9223372036854775808", "/users/%20"]
    paths += ["/users", "/users?limit=1", "/users?limit=500", "/users?limit=10&after_id=5",
              f"/users?limit=50&after_id={max_id - 50}", f"/users?limit=50&after_id={max_id - 49}",
              f"/users?after_id={max_id}", "/users?limit=3&limit=2", "/users?limit=%2B2",
              "/users?limit=2&unknown=1"]
    paths += ["/users?limit=0", "/users?limit=501", "/users?after_id=-1",
              "/users?limit=0&after_id=-1", "/users?limit=-5", "/users?limit=abc",
              "/users?after_id=1.5", "/users?limit=0&after_id=abc",
              "/users?limit=99999999999999999999", "/users?after_id=9223372036854775808"]
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tier")
    parser.add_argument("stack")
    parser.add_argument("--max-id", type=int, default=10_000,
                        help="the highest user id in the database (default 10000)")
    args = parser.parse_args()

    passed = failed = 0
    for target in targets(args.max_id):
        want, got = fetch(args.tier, target), fetch(args.stack, target)
        if want == got:
            passed += 1
            continue
        failed += 1
        print(f"DIFF GET {target}")
        for label, w, g in zip(("status", "content-type", "link", "body"), want, got):
            if w != g:
                print(f"  {label}: tier {w!r}\n  {' ' * len(label)}  stack {g!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
