"""The public surface contract (scripts/import_contracts.py) that lint-imports checks in `make test`."""

from __future__ import annotations

import grimp
import pytest
from importlinter.domain.helpers import MissingImport

from scripts.import_contracts import PublicSurfaceContract

OPTIONS = {
    "apps": ["shop", "stock"],
    "public_modules": ["*.services", "*.selectors", "stock.choices", "stock"],
}


def graph_with(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in [
        "shop", "shop.views", "shop.models", "shop.migrations", "shop.migrations.m0001",
        "stock", "stock.models", "stock.choices", "stock.services", "stock.services.items", "stock.selectors",
        "stock.views", "other", "other.models",
    ]:  # fmt: skip
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=3, line_contents=f"import {imported}")
    return graph


def check(graph: grimp.ImportGraph, **options: object) -> tuple[bool, list[tuple[str, str]]]:
    contract = PublicSurfaceContract(name="public surface", session_options={}, contract_options=OPTIONS | options)
    result = contract.check(graph, verbose=False)
    return result.kept, [(v.importer, v.imported) for v in result.metadata["violations"]]


def test_public_modules_and_their_submodules_may_be_imported() -> None:
    graph = graph_with(
        ("shop.views", "stock.services.items"),
        ("shop.views", "stock.selectors"),
        ("shop.views", "stock.choices"),
        ("shop.views", "stock"),
        ("shop.views", "shop.models"),  # its own app
        ("shop.views", "other.models"),  # not an app of the contract
    )
    assert check(graph) == (True, [])


def test_another_apps_models_or_internals_break_it() -> None:
    graph = graph_with(
        ("shop.views", "stock.models"), ("shop.models", "stock.views"), ("stock.services", "shop.models")
    )
    assert check(graph) == (
        False,
        [("shop.models", "stock.views"), ("shop.views", "stock.models"), ("stock.services", "shop.models")],
    )


def test_an_app_named_alone_makes_its_package_public_not_its_modules() -> None:
    kept, violations = check(graph_with(("shop.views", "stock.models")), public_modules=["stock"])
    assert not kept
    assert violations == [("shop.views", "stock.models")]


def test_exempt_importers_and_ignored_imports_are_not_counted() -> None:
    graph = graph_with(("shop.migrations.m0001", "stock.models"), ("shop.views", "stock.models"))
    assert check(graph, exempt_importers=["*.migrations.**"], ignore_imports=["shop.views -> stock.models"]) == (
        True,
        [],
    )


def test_an_ignored_import_that_no_longer_exists_is_an_error() -> None:
    with pytest.raises(MissingImport):
        check(graph_with(), ignore_imports=["shop.views -> stock.models"])
