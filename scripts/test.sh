#!/usr/bin/env bash
# `make test`: lint, type-check, then the whole suite on PostgreSQL and Redis with a real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/apt-ensure.sh chromium chromium
bash scripts/apt-ensure.sh dovecot dovecot-imapd dovecot-pop3d
source scripts/test-services.sh

echo "== ruff"; .venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"; DEBUG=true .venv/bin/mypy .
echo "== import-linter (layers: pyproject.toml [tool.importlinter], docs/architecture.md)"
.venv/bin/lint-imports --no-cache
.venv/bin/python scripts/check_function_imports.py
echo "== pytest (database $TEST_DATABASE_NAME on ${DATABASE_URL%%/*}//..., broker prefix $CELERY_KEY_PREFIX)"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
rm -rf "$VAR_DIR"
exit $status
