# The optidb binary (daemon, seed, CLI). pg_query needs libclang to build.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p optidb

FROM debian:bookworm-slim
COPY --from=build /src/target/release/optidb /usr/local/bin/optidb
ENTRYPOINT ["optidb"]
