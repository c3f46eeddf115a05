#!/usr/bin/env bash
# A PostgreSQL server for the store tests (idempotent; CI calls it through scripts/setup.sh, developers with
# SCIENTIST_POSTGRES=1 or directly): apt-installs Debian's `postgresql` if missing, starts the packaged cluster on
# loopback as the postgres user, creates a role and a database, and prints the URL the tests use.
# Usage: scripts/ci_postgres.sh     (env: SCIENTIST_PG_DB, SCIENTIST_PG_USER, SCIENTIST_PG_PASSWORD to override)
set -euo pipefail
db="${SCIENTIST_PG_DB:-scientist_test}"
user="${SCIENTIST_PG_USER:-scientist}"
password="${SCIENTIST_PG_PASSWORD:-scientist}"
started=$(date +%s)

if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL is not installed and installing it needs root: apt-get install postgresql" >&2
    exit 1
  fi
  echo "==> apt-get install postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends postgresql >/tmp/scientist-pg-apt.log 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends postgresql \
           >/tmp/scientist-pg-apt.log 2>&1; } \
    || { tail -20 /tmp/scientist-pg-apt.log >&2; exit 1; }
fi

# The packaged cluster (Debian creates one on install); make one if the install did not.
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -1) || true
if [ -z "${version:-}" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$version" main >/dev/null
  read -r version cluster port status _ < <(pg_lsclusters --no-header | head -1)
fi
if [ "$status" != "online" ]; then
  # listen on loopback only, whatever the cluster's config says
  pg_ctlcluster "$version" "$cluster" start -- -o "-c listen_addresses=127.0.0.1" 2>/dev/null \
    || pg_ctlcluster "$version" "$cluster" start
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -p $port -tAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done

psql_as_postgres() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -tAc \"$1\""; }
if [ "$(psql_as_postgres "select 1 from pg_roles where rolname='$user'")" != "1" ]; then
  psql_as_postgres "create role $user login password '$password'" >/dev/null
fi
if [ "$(psql_as_postgres "select 1 from pg_database where datname='$db'")" != "1" ]; then
  psql_as_postgres "create database $db owner $user" >/dev/null
fi
url="postgresql://$user:$password@127.0.0.1:$port/$db"
echo "==> PostgreSQL $version ready in $(( $(date +%s) - started )) s"
echo "SCIENTIST_TEST_POSTGRES_URL=$url"
