"""Print `export` lines that point the portal at a running emulator: emulator_env.py STATE_DIR SEED."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from m365_emulator.testing import handle_from_state_dir, portal_environment


def main() -> None:
    state_dir, seed = Path(sys.argv[1]), Path(sys.argv[2])
    handle = handle_from_state_dir(state_dir)
    for key, value in portal_environment(handle, seed).items():
        print(f"export {key}={shlex.quote(value)}")
    print(f"export MICROSOFT_SIGNIN_HINT={shlex.quote(handle.http_url + ' (users and passwords in docs/emulator.md)')}")


if __name__ == "__main__":
    main()
