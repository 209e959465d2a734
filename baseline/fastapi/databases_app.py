"""Tier II of the course, in Python: FastAPI + the `databases` package.

As the course wrote it: one `databases.Database` for the process, connected at start-up
and disconnected at shutdown, SQL strings with `:named` parameters, rows handed back as
records. Under it, `databases` runs asyncpg's pool with asyncpg's default size (10
connections per uvicorn worker) unless DB_POOL_SIZE says otherwise.

Our counterpart: crates/tier-sqlx (sqlx). Run: baseline/fastapi/run.sh databases
"""

from contextlib import asynccontextmanager

import databases
from fastapi import FastAPI, Path, Query, Response

from common import (DEFAULT_LIMIT, I64_MAX, MAX_LIMIT, UserRead, database_url,
                    install_problem_handlers, next_link, pool_size, user_not_found)

# The course builds its URL from DB_USER and DB_PASS and prints both; common.py builds
# the same default without printing anything.
size = pool_size()
database = databases.Database(database_url(),
                              **({"min_size": size, "max_size": size} if size else {}))


# The course's `@app.on_event("startup")`/`("shutdown")` pair; FastAPI now deprecates
# on_event in favour of one lifespan function, which is what this is.
@asynccontextmanager
async def lifespan(_app: FastAPI):
    await database.connect()
    yield
    await database.disconnect()


app = FastAPI(lifespan=lifespan)
install_problem_handlers(app)


@app.get("/users/{user_id}", response_model=UserRead)
async def get_user(user_id: int = Path(ge=-(2**63), le=I64_MAX)):
    query = "SELECT id, name, email, created_at FROM users WHERE id = :id"
    row = await database.fetch_one(query, values={"id": user_id})
    if row is None:
        return user_not_found(user_id)
    return dict(row._mapping)


@app.get("/users", response_model=list[UserRead])
async def get_users(response: Response,
                    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                    after_id: int = Query(0, ge=0, le=I64_MAX)):
    query = ("SELECT id, name, email, created_at FROM users"
             " WHERE id > :after_id ORDER BY id LIMIT :limit")
    rows = await database.fetch_all(query, values={"after_id": after_id, "limit": limit})
    users = [dict(row._mapping) for row in rows]
    response.headers.update(next_link(users, limit))
    return users
