"""Print a document to a Universal Print printer of the demo directory, as a Contoso user would from Windows.

Usage (with `make run` running): .venv/bin/python scripts/demo_print.py FILE [--printer NAME] [--user UPN]

The emulator records the job on the printer (a share name, a printer name or id). When the printer has a task
trigger (the printer was turned on for Roger), the job is held by a task that Roger's Universal Print poll picks up.
The job, and its task if any, are printed as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_emulator import CONTOSO, DEFAULT_USER, content_type, demo_parser  # noqa: E402

from m365_emulator.testing import handle_from_state_dir  # noqa: E402


def main() -> None:
    parser = demo_parser(__doc__)
    parser.add_argument("--printer", default="Secure Print (Follow-Me)")
    parser.add_argument("--user", default=DEFAULT_USER)
    args = parser.parse_args()

    handle = handle_from_state_dir(args.state_dir)
    job = handle.control.submit_print_job(
        CONTOSO,
        args.printer,
        args.user,
        args.file.read_bytes(),
        name=args.file.name,
        content_type=content_type(args.file),
    )
    print(json.dumps(job, indent=2))


if __name__ == "__main__":
    main()
