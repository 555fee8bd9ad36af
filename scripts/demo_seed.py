"""Write the demo's emulator seed with the portal's own callbacks registered: demo_seed.py BASE_URL OUT.

The operator apps of demo.json register http://127.0.0.1:8000 and http://localhost:8000; a demo on another
address (PORT=8123 make run) needs its own, since Microsoft, and so the emulator, match redirect URIs exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from m365_emulator.seed import _read_with_base

DEMO_SEED = Path(__file__).resolve().parent.parent / "m365_emulator" / "seeds" / "demo.json"
CALLBACK_PATHS = ("/integrations/callback/", "/integrations/consent/callback/", "/accounts/sign-in/")


def main() -> None:
    base_url, out = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    seed = _read_with_base(DEMO_SEED)
    operator_ids = {app["client_id"] for app in seed["operator_apps"].values()}
    for app in seed["apps"]:
        if app["client_id"] in operator_ids:
            registered = app.setdefault("redirect_uris", [])
            registered += [base_url + path for path in CALLBACK_PATHS if base_url + path not in registered]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(seed, indent=2))


if __name__ == "__main__":
    main()
