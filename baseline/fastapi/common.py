"""What the three FastAPI stacks share: configuration, the user model, and the answers.

The course's originals (asyncpg_app.py, databases_app.py, sqlalchemy_app.py beside this
file) differ only in how they reach PostgreSQL, like our three Rust tiers. Everything
else is here, written once, so that for the two endpoints they serve (`GET /users/{id}`
and `GET /users`) they answer what our tiers answer, byte for byte (API.md): the user
JSON with `created_at` in UTC with six fractional digits and `Z`, a keyset page with its
`Link` header, and every error as `application/problem+json`. The bench can then send
the same requests to a tier and to its Python counterpart.
"""

import os
import re
from datetime import datetime, timezone

from dotenv import load_dotenv
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, field_serializer

# The course reads its settings from the environment and a .env file (python-dotenv),
# as our tiers do (dotenvy). Unlike the course, nothing here prints the password.
load_dotenv()


def database_url() -> str:
    """DATABASE_URL, or the URL built from the course's five pieces (API.md's defaults)."""
    url = os.getenv("DATABASE_URL")
    if url:
        return url
    user = os.getenv("DB_USER", "postgres")
    password = os.getenv("DB_PASS", "postgres")
    host = os.getenv("DB_HOST", "localhost")
    port = os.getenv("DB_PORT", "5432")
    name = os.getenv("DB_NAME", "users_course")
    return f"postgresql://{user}:{password}@{host}:{port}/{name}"


def pool_size() -> int | None:
    """DB_POOL_SIZE if set; None keeps the library's default, which the course relied on."""
    size = os.getenv("DB_POOL_SIZE")
    return int(size) if size else None


# API.md: `limit` defaults to 50 and goes up to 500.
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
I64_MAX = 2**63 - 1


class UserRead(BaseModel):
    """The user as the API shows it (the course's UserRead, plus `created_at`)."""

    # Lets the SQLAlchemy stack return its ORM objects, as the course's code does.
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    created_at: datetime

    # Pydantic would write `2026-11-26T05:14:52.123456+00:00`, and drop the fraction
    # when it is zero; the contract (and Rust's `SecondsFormat::Micros`) always has six
    # digits and `Z`.
    @field_serializer("created_at")
    def rfc3339_micros(self, at: datetime) -> str:
        return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def problem(status: int, detail: str, errors: list | None = None) -> JSONResponse:
    """An RFC 9457 problem, with the same members in the same order as the tiers'."""
    titles = {400: "Bad Request", 404: "Not Found", 422: "Unprocessable Content"}
    body = {"type": "about:blank", "title": titles.get(status, "Error"), "status": status,
            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def user_not_found(user_id: int) -> JSONResponse:
    return problem(404, f"no user with id {user_id}")


def next_link(users: list, limit: int) -> dict[str, str]:
    """`Link: </users?limit=L&after_id=LAST>; rel="next"` when the page is full."""
    if users and len(users) == limit:
        last = users[-1]
        last_id = last["id"] if isinstance(last, dict) else last.id
        return {"Link": f'</users?limit={limit}&after_id={last_id}>; rel="next"'}
    return {}


# What Rust's `str::parse::<i64>` accepts: an optional sign, then ASCII digits.
_I64_TEXT = re.compile(r"[+-]?[0-9]+")


def _parses_as_i64(value: object) -> bool:
    text = str(value)
    return _I64_TEXT.fullmatch(text) is not None and -(2**63) <= int(text) <= I64_MAX


# The tiers' words for the range checks; FastAPI's `type` names are the same.
_RANGE_MESSAGES = {
    ("limit", "greater_than_equal"): "must be at least 1",
    ("limit", "less_than_equal"): f"must be at most {MAX_LIMIT}",
    ("after_id", "greater_than_equal"): "must be at least 0",
}


async def validation_problem(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for every parameter error, split as the contract splits it.

    A path or query value that is not a 64-bit integer is a 400; one that parses but
    is out of range is a 422 listing every such field, FastAPI-style.
    """
    errors = []
    for error in exc.errors():
        where, name = error["loc"][0], error["loc"][-1]
        if where == "path":
            # The route's parameter is `user_id` in Python (`id` is a builtin); the
            # contract calls it `id`, as the path `/users/{id}` does.
            return problem(400, "path parameter `id` must be a 64-bit integer")
        if not _parses_as_i64(error.get("input")):
            return problem(400, f"query parameter `{name}` must be a 64-bit integer")
        msg = _RANGE_MESSAGES.get((name, error["type"]), error["msg"])
        errors.append({"loc": [where, name], "msg": msg, "type": error["type"]})
    return problem(422, "query parameters failed validation", errors)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_problem)
