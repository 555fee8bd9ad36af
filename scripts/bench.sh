#!/usr/bin/env bash
# `bash scripts/bench.sh NAME [ARGS...]`: run bench/NAME.py with PostgreSQL and Redis found or started as for the
# tests (scripts/test-services.sh). Each benchmark makes its own database and broker prefix and drops them after.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash scripts/bench.sh NAME [ARGS...]  (NAME: a file of bench/ without .py)}"
shift
case "$name" in mail_ingest|mail_poll) bash scripts/apt-ensure.sh dovecot dovecot-imapd dovecot-pop3d ;; esac
source scripts/test-services.sh
unset TEST_DATABASE_NAME
export PYTHONUNBUFFERED=1
set +e
.venv/bin/python "bench/$name.py" "$@"
status=$?
set -e
rm -rf "$VAR_DIR"
exit $status
