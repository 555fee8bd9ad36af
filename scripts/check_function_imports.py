"""`make test`: an import of a project app inside a function says why, in a comment on it or just above its block.

Such an import hides a dependency from import-linter's reading at a glance and usually dodges an import cycle; it
stays only where it must (apps.py before the models load, a service queuing its own app's task), and says so.
Prints each one without a comment and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_APPS = {"tests", "bench", "scripts"}
IMPORT_LINE = re.compile(r"\s+(from|import) ")


def project_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_APPS}


def uncommented(path: Path, packages: set[str]) -> list[str]:
    lines = path.read_text().split("\n")
    found = []
    for function in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                module = path.relative_to(ROOT).parts[0] if node.level else (node.module or "")
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            if module.split(".")[0] not in packages:
                continue
            first = node.lineno - 1
            while first > 0 and IMPORT_LINE.match(lines[first - 1]):
                first -= 1
            if "#" not in lines[node.lineno - 1] and not lines[first - 1].strip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return sorted(set(found))


def main() -> int:
    packages = project_packages()
    found = [
        line
        for package in sorted(packages)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for line in uncommented(path, packages)
    ]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} import(s) of a project app inside a function say not why", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
