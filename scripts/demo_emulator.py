"""What the demo scripts share: a FILE to send, and the state directory of the running demo emulator (`make run`)
to send it through (m365_emulator.testing.handle_from_state_dir)."""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"  # the demo seed's directory
DEFAULT_USER = "adele.vance@contoso.onmicrosoft.com"


def demo_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser that takes the FILE and the emulator's state directory; each script adds its own options."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--state-dir", type=Path, default=ROOT / "var" / "emulator")
    return parser


def content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
