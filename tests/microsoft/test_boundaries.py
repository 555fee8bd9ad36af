"""The layering rule: only microsoft/ talks to Microsoft, and only microsoft/config.py names its hosts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIRECTORIES = (
    "accounts",
    "integrations",
    "external_systems",
    "outgoing_mail",
    "mail_jobs",
    "print_jobs",
    "credentials",
    "audit",
    "config",
)
NETWORK_MODULES = frozenset({"msal", "requests", "httpx", "urllib3", "smtplib", "imaplib", "poplib"})
MICROSOFT_HOSTS = re.compile(r"microsoftonline\.com|graph\.microsoft\.com|office365\.com|outlook\.office\.com")


def _python_files(directory: str) -> list[Path]:
    return [p for p in (ROOT / directory).rglob("*.py") if "migrations" not in p.parts]


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("directory", APP_DIRECTORIES)
def test_apps_never_import_network_clients(directory: str) -> None:
    files = _python_files(directory)
    assert files, f"{directory}/ has no Python files to check"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & NETWORK_MODULES)
        for path in files
        if _imported_modules(path) & NETWORK_MODULES
    }
    assert offenders == {}


def test_the_scan_sees_a_network_import(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("import msal\nfrom requests.adapters import HTTPAdapter\nfrom . import smtplib\n")
    assert _imported_modules(module) & NETWORK_MODULES == {"msal", "requests"}


def test_only_microsoft_config_names_microsoft_hosts() -> None:
    scanned = [p for d in (*APP_DIRECTORIES, "microsoft") for p in _python_files(d)]
    allowed = ROOT / "microsoft" / "config.py"
    offenders = [str(p.relative_to(ROOT)) for p in scanned if p != allowed and MICROSOFT_HOSTS.search(p.read_text())]
    assert offenders == [], (
        "Use microsoft.config (endpoints(), GRAPH_RESOURCE, GRAPH_DEFAULT_SCOPE, OUTLOOK_RESOURCE) "
        "instead of naming Microsoft hosts or resource URIs"
    )
    assert MICROSOFT_HOSTS.search(allowed.read_text())
