# syntax=docker/dockerfile:1
# One image with all three tier servers; pick one by its name:
#   docker build -t users-course .
#   docker run --rm -e DATABASE_URL=postgres://... -p 3001:3001 users-course tier-raw
# docker-compose.yml builds it once and runs the three under its `tiers` profile.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts (BuildKit) keep the registry and target/ between builds, so an edit to
# one tier rebuilds that tier, not three hundred dependencies. Because target/ lives in
# the cache, the binaries are copied out in the same step. SQLX_OFFLINE=true comes from
# .cargo/config.toml: no database is needed to build.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tier-raw -p tier-sqlx -p tier-orm \
    && mkdir -p /out \
    && cp target/release/tier-raw target/release/tier-sqlx target/release/tier-orm /out/

FROM debian:bookworm-slim
# curl serves the healthcheck (`GET /health`, 200 when the database answers).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# A server needs no privileges: run as an unprivileged user.
RUN useradd --system --uid 10001 --no-create-home tier
USER tier
# In a container a server must listen on every interface, not on loopback alone.
ENV BIND_ADDR=0.0.0.0:3001
EXPOSE 3001 3002 3003
# The servers stop gracefully on SIGTERM, which is what `docker stop` sends: they finish
# the requests in flight for up to 10 s (give them `stop_grace_period` > 10 s).
CMD ["tier-raw"]
