#!/usr/bin/env python3
"""Sends the edge cases of the text rules to a running tier and checks that
/openapi.json calls each one valid exactly when the server accepts it.

schemathesis (scripts/schemathesis.sh) generates data at random and may never try a
name of exactly 100 characters behind a space, a NEL (U+0085) around a name, or an
email of exactly 254 characters. These are the cases where "after trimming" and
"no control characters" meet, so they are listed here by hand, and the document's
patterns are evaluated the way schemathesis evaluates them (Python's `re.search`,
`maxLength` in code points).

Usage: scripts/openapi_edges.py http://127.0.0.1:3002
Exits 1 when the document and the server disagree on any case. Standard library only.
"""

import itertools
import json
import re
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:3002"
counter = itertools.count()


def request(method, path, body=None):
    """Returns (status, parsed JSON body or None). The body goes as UTF-8, unescaped,
    so a 4,000-character body stays under the 16 KiB limit."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def field_rules(document, schema_name, field):
    """The patterns and maxLength of one member, gathered through an allOf."""
    schema = document["components"]["schemas"][schema_name]["properties"][field]
    parts = [schema] + schema.get("allOf", [])
    patterns = [re.compile(part["pattern"]) for part in parts if "pattern" in part]
    max_length = min((part["maxLength"] for part in parts if "maxLength" in part), default=None)
    for part in parts:
        # Anything else would be a rule this script does not evaluate: fail loudly.
        unknown = set(part) - {"type", "pattern", "maxLength", "allOf", "description", "examples"}
        assert not unknown, f"{schema_name}.{field}: unhandled keywords {unknown}"

    def documented_valid(value):
        if max_length is not None and len(value) > max_length:
            return False
        return all(pattern.search(value) for pattern in patterns)

    return documented_valid


def email(local_length=1, domain="example.com"):
    """A new valid email (unique local part), its local part padded to a length."""
    tag = f"e{next(counter):04d}"
    return tag + "x" * max(0, local_length - len(tag)) + "@" + domain


def line_cases(limit):
    """Names and titles: 1 to `limit` characters after trimming, no control characters."""
    a = "a" * limit
    return [
        "a", "", " ", "\t\n", a, a + "a", " " + a, a + " ", "\t" + a + "\n",
        "\u3000" + a + "\u0085", "\u00a0" + a[:-1] + "\u00a0", " " + a + "a",
        "a b", "a\u00a0b", "a\tb", "a\nb", "a\u0085b", "\u0085a", "a\u0085",
        "\ufeffa", "a\ufeff", "\u200b", "\u001ca", "a\u001c", "\u007f", "a\u0000b",
        "\u2028a\u2029", "é" * limit, "é" * (limit + 1), "\U0001F600" * limit,
        "\U0001F600" * (limit + 1), " " * 50 + "b" + " " * 50,
        "a" + " " * (limit - 2) + "b", "a" + " " * (limit - 1) + "b",
    ]


def email_cases():
    label63, label64 = "d" * 63, "d" * 64
    longest = email(254 - 1 - len("example.com"))
    return [
        email(), " " + email() + " ", "\t" + email() + "\u0085", "\u3000" + email(),
        longest, " " + email(254 - 1 - len("example.com")) + "\n",
        email(255 - 1 - len("example.com")),
        email(domain="b"), email(domain="b.c"), email(domain="1.2"),
        email(domain="-b.co"), email(domain="b-.co"), email(domain="b..co"),
        email(domain="b.co."), email(domain=label63 + ".co"), email(domain=label64 + ".co"),
        "." + email(), email().replace("@", "@@"), email().replace("e", "ü", 1),
        email().replace("e", "a b", 1), email().replace("e", "\u00a0", 1),
        "!#$%&'*+/=?^_`{|}~-" + email(), "@example.com", email().upper(),
        email() + "\u001c", "\ufeff" + email(),
    ]


def body_cases():
    return [
        "", "a" * 4000, "a" * 4001, " lead and trail ", "\t\n\r", "a\u000bb", "a\u000cb",
        "\u0085", "\u0000", "\u007f", "é" * 4000, "é" * 4001, "\u2028\u3000",
    ]


def main():
    status, document = request("GET", "/openapi.json")
    assert status == 200, f"GET /openapi.json: {status}"
    accepted = {201}
    disagreements = []
    total = 0

    def check(label, value, valid, status):
        nonlocal total
        total += 1
        if valid != (status in accepted):
            what = "documented valid, refused" if valid else "documented invalid, accepted"
            disagreements.append(f"{label} {value!r}: {what} ({status})")

    valid_name = field_rules(document, "UserCreate", "name")
    for value in line_cases(100):
        status, _ = request("POST", "/users", {"name": value, "email": email()})
        check("name", value, valid_name(value), status)

    valid_email = field_rules(document, "UserCreate", "email")
    for value in email_cases():
        status, _ = request("POST", "/users", {"name": "N", "email": value})
        check("email", value, valid_email(value), status)

    status, author = request("POST", "/users", {"name": "Author", "email": email()})
    assert status == 201, f"creating the author: {status}"
    posts = f"/users/{author['id']}/posts"
    valid_title = field_rules(document, "PostCreate", "title")
    for value in line_cases(200):
        status, _ = request("POST", posts, {"title": value, "body": ""})
        check("title", value, valid_title(value), status)
    valid_body = field_rules(document, "PostCreate", "body")
    for value in body_cases():
        status, _ = request("POST", posts, {"title": "T", "body": value})
        check("body", value, valid_body(value), status)

    for line in disagreements:
        print(f"openapi_edges: {line[:300]}")
    print(f"openapi_edges: {total} edge cases, {len(disagreements)} where the document "
          "and the server disagree")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
