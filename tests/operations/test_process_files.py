"""The example process files that docs/operations.md uses name commands that exist, with queues that exist."""

from __future__ import annotations

import configparser
import importlib.util
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands

from config.celery import QUEUES
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(ROOT / ".venv" / "bin")


def _procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


def _units() -> dict[str, str]:
    commands = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        unit = configparser.ConfigParser(interpolation=None, strict=False)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read(path)
        commands[path.name] = unit["Service"]["ExecStart"]
    return commands


def _commands() -> list[tuple[str, str]]:
    return [*(("Procfile " + name, command) for name, command in _procfile().items()), *_units().items()]


def _check(command: str, *, queue_placeholder: str | None = None) -> None:
    words = shlex.split(command)
    program = Path(words[0]).name
    assert (VENV_BIN / program).exists(), f"{program} is not installed by the project"
    args = words[1:]
    if program == "gunicorn":
        assert importlib.util.find_spec(args[0].split(":")[0]) is not None
    elif program == "celery":
        assert args[:2] == ["-A", "config"] and args[2] in ("worker", "beat")
        if "-Q" in args:
            queues = args[args.index("-Q") + 1].split(",")
            assert all(queue in (*QUEUES, queue_placeholder) for queue in queues), queues
    elif program.startswith("python"):
        assert args[0] == "manage.py" and args[1] in get_commands(), args
    else:
        pytest.fail(f"an unexpected program: {program}")


@pytest.mark.parametrize(("where", "command"), _commands())
def test_each_process_names_a_command_that_exists(where, command):
    _check(command, queue_placeholder="%i" if where.endswith("@.service") else None)


def test_every_queue_has_its_workers_and_there_is_exactly_one_beat():
    procfile = _procfile()
    served = {shlex.split(cmd)[shlex.split(cmd).index("-Q") + 1] for cmd in procfile.values() if " -Q " in cmd}
    assert served == set(QUEUES)
    assert [name for name, cmd in procfile.items() if " beat" in cmd] == ["beat"]
    assert "beat" in (DEPLOY / "systemd" / "roger-beat.service").read_text()


def test_the_docs_use_these_files():
    docs = (ROOT / "docs" / "operations.md").read_text()
    for path in ("deploy/Procfile", *(f"deploy/systemd/{name}" for name in _units())):
        assert path in docs, path
