"""The benchmarks are scripts, never timed tests: here each one only has to load, have a main, and write its
figures as `RESULT <name> <value> <unit> target <target>` lines with the names docs/performance.md compares."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
RESULT_LINE = re.compile(r"^RESULT [a-z0-9_]+ -?[0-9.]+(e[+-]?[0-9]+)? \S+ target \S+$")
# Each script and RESULT names it must write (the issue's names; others may follow).
EXPECTED = {
    "device_flows": ["device_flows_early_polls", "device_flows_p99_lag_seconds"],
    "token_refresh": ["token_refresh_ratio", "token_refresh_queries", "token_refresh_lost"],
    "pages": ["pages_p95_ratio", "pages_max_queries"],
    "mail_ingest": ["mail_ingest_imap_ratio", "mail_ingest_pop3_ratio"],
    "onedrive_transfer": ["onedrive_transfer_ratio", "onedrive_peak_rss_mb"],
    "user_import": ["user_import_peak_rss_mb", "user_import_rows_per_second", "user_list_search_ms"],
}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELPERS = {"__init__", "common", "worker_queries", "pages_settings", "pages_urls"}


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in HELPERS))
def test_each_benchmark_loads_has_a_main_and_documents_its_command(name, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(BENCH / f"{name}.py")])  # as run with no arguments
    module = _load(name)
    assert callable(getattr(module, "main", None))
    assert module.__doc__ and "Run:" in module.__doc__, "the docstring says how to run it"
    source = (BENCH / f"{name}.py").read_text()
    assert "RESULT" in source or "result(" in source


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_issue_names_are_written(name):
    source = (BENCH / f"{name}.py").read_text()
    for result_name in EXPECTED[name]:
        assert f'"{result_name}"' in source or f"RESULT {result_name} " in source, result_name


@pytest.mark.parametrize(
    "args",
    [
        ("device_flows_early_polls", 0, "count", 0),
        ("token_refresh_ratio", 1.234567, "x", 1.5),
        ("pages_max_queries", 12, "queries", 12),
        ("mail_ingest_imap_ratio", 123.4, "x", 2.0),
    ],
)
def test_the_result_line_has_the_compared_format(args, capsys):
    from bench.common import result

    line = result(*args)

    assert RESULT_LINE.match(line), line
    assert capsys.readouterr().out.strip() == line
    assert line.split()[1] == args[0] and line.split()[-1] == str(args[3])
