"""outgoing_mail talks to mail servers only through microsoft.smtp."""

from __future__ import annotations

from tests.microsoft.test_boundaries import NETWORK_MODULES, _imported_modules, _python_files


def test_outgoing_mail_imports_no_network_client() -> None:
    files = _python_files("outgoing_mail")
    assert files
    offenders = {str(path): _imported_modules(path) & NETWORK_MODULES for path in files}
    assert {path: modules for path, modules in offenders.items() if modules} == {}
