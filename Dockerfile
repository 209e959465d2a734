# One image per tier: docker build --build-arg TIER=tier-sqlx .
# (docker-compose.yml builds all three under its `tiers` profile.)
FROM rust:1.95-bookworm AS build
ARG TIER=tier-raw
WORKDIR /src
COPY . .
# SQLX_OFFLINE=true comes from .cargo/config.toml: no database is needed to build.
RUN cargo build --release --locked -p ${TIER} && cp target/release/${TIER} /tier

FROM debian:bookworm-slim
COPY --from=build /tier /usr/local/bin/tier
# The servers stop gracefully on SIGTERM, which is what `docker stop` sends.
ENTRYPOINT ["/usr/local/bin/tier"]
