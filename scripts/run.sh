#!/usr/bin/env bash
# `make run`: the portal with the Microsoft 365 emulator, SQLite, a serverless Celery broker and demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
export VAR_DIR="${VAR_DIR:-$PWD/var}"
PORT="${PORT:-8000}"
# Microsoft sends the browser back to this address: the emulator registers it on the operator apps.
export PORTAL_BASE_URL="${PORTAL_BASE_URL:-http://127.0.0.1:$PORT}"
PY=.venv/bin/python
mkdir -p "$VAR_DIR/logs"
bash scripts/apt-ensure.sh dovecot dovecot-imapd dovecot-pop3d  # the emulator serves IMAP and POP3 with Dovecot
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${MICROSOFT_AUTHORITY_HOST:-}" ]; then
  echo "Starting the Microsoft 365 emulator..."
  rm -f "$VAR_DIR/emulator/emulator.json"
  seed="$VAR_DIR/emulator/demo-seed.json"
  PYTHONPATH="$PWD" $PY scripts/demo_seed.py "$PORTAL_BASE_URL" "$seed"
  $PY -m m365_emulator --seed "$seed" --state-dir "$VAR_DIR/emulator" \
    >"$VAR_DIR/logs/emulator.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do [ -f "$VAR_DIR/emulator/emulator.json" ] && break; sleep 0.2; done
  [ -f "$VAR_DIR/emulator/emulator.json" ] || { echo "The emulator did not start; see $VAR_DIR/logs/emulator.log"; exit 1; }
  emulator_env="$(PYTHONPATH="$PWD" $PY scripts/emulator_env.py "$VAR_DIR/emulator" "$seed")"
  eval "$emulator_env"
fi

$PY manage.py migrate --noinput >"$VAR_DIR/logs/migrate.log"
$PY manage.py seed_demo

# One worker for all four queues (interactive, mail, long, housekeeping); production runs one per queue.
$PY -m celery -A config worker --loglevel=INFO --concurrency=2 -Q interactive,mail,long,housekeeping >"$VAR_DIR/logs/worker.log" 2>&1 &
pids+=($!)
$PY -m celery -A config beat --loglevel=INFO --schedule "$VAR_DIR/celerybeat-schedule" \
  >"$VAR_DIR/logs/beat.log" 2>&1 &
pids+=($!)

cat <<MSG

  Roger portal:   $PORTAL_BASE_URL/
  Sign in with:   tenancy name "contoso", email "admin@contoso.example", password "demo-password-1"
  Microsoft sign-in pages (emulator): ${MICROSOFT_SIGNIN_HINT:-see docs/emulator.md}
  Logs:           $VAR_DIR/logs/   Stop with Ctrl+C.

MSG
$PY manage.py runserver "127.0.0.1:$PORT" --noreload
