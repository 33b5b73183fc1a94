#!/bin/sh
# The hub's two database roles (docs/security.md, "Database roles"). The postgres image runs
# this once, when its volume is first initialised (/docker-entrypoint-initdb.d), as
# POSTGRES_USER on POSTGRES_DB:
#   HUB_DB_OWNER (hub_owner): owns the database, so `manage.py migrate` (DATABASE_OWNER_URL) runs as it;
#   HUB_DB_APP (hub_app): what web, worker and beat connect as (DATABASE_URL); migrate grants it
#   rows only, and SELECT/INSERT on the audit table.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="${HUB_DB_OWNER:-hub_owner}" -v owner_password="$HUB_DB_OWNER_PASSWORD" \
  -v app="${HUB_DB_APP:-hub_app}" -v app_password="$HUB_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app') \gexec
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
SQL
