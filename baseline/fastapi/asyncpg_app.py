"""Tier I of the course, in Python: FastAPI + asyncpg, SQL written by hand.

The course's asyncpg example (`fetch_users`) opens a connection per call, runs
`SELECT * FROM users` and turns each row into a dict. A server that connected per request
would measure connection set-up, not queries, so this one keeps asyncpg's own pool
(`asyncpg.create_pool`, as asyncpg's documentation recommends for servers), opened at
start-up and closed at shutdown, like the course's `databases` app does. The pool has
asyncpg's default size, 10 connections per uvicorn worker, unless DB_POOL_SIZE says
otherwise. asyncpg prepares and caches each statement per connection by itself.

Our counterpart: crates/tier-raw (tokio-postgres + deadpool). Run: baseline/fastapi/run.sh asyncpg
"""

from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Path, Query, Response

from common import (DEFAULT_LIMIT, I64_MAX, MAX_LIMIT, UserRead, database_url,
                    install_problem_handlers, next_link, pool_size, user_not_found)

pool: asyncpg.Pool


# The course's `@app.on_event("startup")`/`("shutdown")` pair; FastAPI now deprecates
# on_event in favour of one lifespan function, which is what this is.
@asynccontextmanager
async def lifespan(_app: FastAPI):
    global pool
    size = pool_size()
    sizes = {"min_size": size, "max_size": size} if size else {}
    pool = await asyncpg.create_pool(database_url(), **sizes)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)
install_problem_handlers(app)


@app.get("/users/{user_id}", response_model=UserRead)
async def get_user(user_id: int = Path(ge=-(2**63), le=I64_MAX)):
    row = await pool.fetchrow(
        "SELECT id, name, email, created_at FROM users WHERE id = $1", user_id)
    if row is None:
        return user_not_found(user_id)
    return dict(row)


@app.get("/users", response_model=list[UserRead])
async def get_users(response: Response,
                    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                    after_id: int = Query(0, ge=0, le=I64_MAX)):
    rows = await pool.fetch(
        "SELECT id, name, email, created_at FROM users WHERE id > $1 ORDER BY id LIMIT $2",
        after_id, limit)
    users = [dict(row) for row in rows]
    response.headers.update(next_link(users, limit))
    return users
