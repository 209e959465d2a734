"""Tier III of the course, in Python: FastAPI + SQLAlchemy 2 async ORM (on asyncpg).

As the course wrote it: `create_async_engine`, a `sessionmaker` of `AsyncSession`s with
`expire_on_commit=False`, a declarative `User` model, one session per request through a
`Depends(get_session)` dependency, `select(User)` and `result.scalars().all()`. The
engine's pool has SQLAlchemy's default size (5 connections, plus up to 10 more under
load, per uvicorn worker) unless DB_POOL_SIZE says otherwise.

Two departures from the course: `echo` follows LOG_SQL (default off; the course's
`echo=True` logs every statement, which would measure the logging), and there is no
`Base.metadata.create_all` at start-up: the schema is migrations/, which our tiers apply
(a second copy of it here could drift).

Our counterpart: crates/tier-orm (SeaORM). Run: baseline/fastapi/run.sh sqlalchemy
"""

import os
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import Depends, FastAPI, Path, Query, Response
from sqlalchemy import BigInteger, DateTime, String, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Mapped, declarative_base, mapped_column, sessionmaker

from common import (DEFAULT_LIMIT, I64_MAX, MAX_LIMIT, UserRead, database_url,
                    install_problem_handlers, next_link, pool_size, user_not_found)

# SQLAlchemy picks its driver from the scheme: postgresql+asyncpg://
DATABASE_URL = database_url().replace("postgres://", "postgresql://", 1).replace(
    "postgresql://", "postgresql+asyncpg://", 1)
size = pool_size()
engine = create_async_engine(DATABASE_URL, echo=os.getenv("LOG_SQL") == "true",
                             **({"pool_size": size, "max_overflow": 0} if size else {}))
AsyncSessionLocal = sessionmaker(bind=engine, class_=AsyncSession, expire_on_commit=False)

Base = declarative_base()


class User(Base):
    """migrations/0001_create_users.sql's `users`, as the ORM sees it."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    email: Mapped[str] = mapped_column(String, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# Dependency for async session, as in the course.
async def get_session():
    async with AsyncSessionLocal() as session:
        yield session


@asynccontextmanager
async def lifespan(_app: FastAPI):
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
install_problem_handlers(app)


@app.get("/users/{user_id}", response_model=UserRead)
async def get_user(user_id: int = Path(ge=-(2**63), le=I64_MAX),
                   session: AsyncSession = Depends(get_session)):
    user = await session.get(User, user_id)
    if user is None:
        return user_not_found(user_id)
    return user


@app.get("/users", response_model=list[UserRead])
async def get_users(response: Response,
                    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                    after_id: int = Query(0, ge=0, le=I64_MAX),
                    session: AsyncSession = Depends(get_session)):
    result = await session.execute(
        select(User).where(User.id > after_id).order_by(User.id).limit(limit))
    users = result.scalars().all()
    response.headers.update(next_link(users, limit))
    return users
