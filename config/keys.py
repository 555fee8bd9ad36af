"""The development encryption key: generated once into var/ so a demo's secrets survive restarts."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet


def development_fernet_key(var_dir: Path) -> str:
    key_file = var_dir / "fernet.key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()
