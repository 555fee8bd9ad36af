# Sourced by scripts/test.sh: finds or starts PostgreSQL and Redis, and gives this run its own names.
# DATABASE_URL / REDIS_URL when set; else the servers on 127.0.0.1:5432 / :6379 when they answer;
# else private servers under var/test-services on free ports.
run_id="$(date +%s)_$$"
services_dir="$PWD/var/test-services"
mkdir -p "$services_dir"

free_port() { "$PWD/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -z "${DATABASE_URL:-}" ]; then
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    bash scripts/apt-ensure.sh pg_ctlcluster postgresql
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    pg_port="$(free_port)"; pg_dir="$services_dir/pg-$run_id"
    mkdir -p "$pg_dir"; chown postgres:postgres "$pg_dir"
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" \
      -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" -w start >/dev/null
    trap 'runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null; rm -rf "$pg_dir"' EXIT
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  else
    bash scripts/apt-ensure.sh redis-server redis-server redis-tools
    redis_port="$(free_port)"
    redis-server --daemonize yes --save "" --appendonly no --bind 127.0.0.1 --port "$redis_port" \
      --pidfile "$services_dir/redis-$run_id.pid" --logfile "$services_dir/redis-$run_id.log" --dir "$services_dir"
    previous_trap="$(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT$//")"
    trap "redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1; $previous_trap" EXIT
    export REDIS_URL="redis://127.0.0.1:$redis_port/0"
  fi
fi

# Two runs on one machine never collide: own test database, own broker keys, own temporary files.
export TEST_DATABASE_NAME="test_portal_$run_id"
export CELERY_KEY_PREFIX="portal-test-$run_id:"
export VAR_DIR="$services_dir/var-$run_id"
mkdir -p "$VAR_DIR"
