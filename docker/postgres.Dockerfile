# PostgreSQL 15 with pg_stat_statements (in the image) and hypopg (Debian's package).
FROM postgres:15-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-hypopg \
 && rm -rf /var/lib/apt/lists/*
