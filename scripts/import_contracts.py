"""An import-linter contract type: an app imports another app only through that app's public modules.

import-linter's own contracts name what may not be imported (`forbidden`, `protected`); this one names what may,
so a module added to an app is private until the contract lists it. pyproject.toml registers it under
`[tool.importlinter] contract_types` and gives the apps, the public modules and the imports still excepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils
from importlinter.domain import helpers
from importlinter.domain.imports import ImportExpression, ModuleExpression


@dataclass(frozen=True)
class Violation:
    importer: str
    imported: str
    line_numbers: tuple[int, ...]


class PublicSurfaceContract(Contract):
    """A module of one app imports a module of another app only when it is public there.

    Options:
        - apps: the apps (root packages) whose imports of each other are checked.
        - public_modules: the modules other apps may import, with their submodules; wildcards as in import-linter
          (`*.services`); an app's own name makes its package public (its `__init__.py`), not its modules.
        - exempt_importers: modules whose imports are not checked (migrations, which Django writes). The project
          (config/: settings, URLs, Celery) is no app and wires every app's views.
        - ignore_imports: imports that break the contract and are excepted for now; one that no longer exists is
          an error, so the list only shrinks.
    """

    type_name = "public_surface"

    apps = fields.ListField(subfield=fields.ModuleField())
    public_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    exempt_importers = fields.ListField(subfield=fields.ModuleExpressionField(), required=False)
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR
    )

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        ignore_imports: set[ImportExpression] = self.ignore_imports or set()  # type: ignore[assignment]
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=sorted(ignore_imports, key=str),
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        apps = {module.name for module in self.apps}  # type: ignore[attr-defined]
        public = self._modules(graph, self.public_modules, apps)  # type: ignore[arg-type]
        exempt = self._modules(graph, self.exempt_importers or [], set())  # type: ignore[arg-type]

        violations = []
        for app in sorted(apps):
            for importer in sorted({app} | graph.find_descendants(app)):
                if importer in exempt:
                    continue
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    imported_app = imported.split(".")[0]
                    if imported_app == app or imported_app not in apps or imported in public:
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    violations.append(Violation(importer, imported, tuple(detail["line_number"] for detail in details)))
        return ContractCheck(
            kept=not violations,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"violations": violations},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            lines = ", ".join(str(number) for number in violation.line_numbers)
            output.print_error(f"- {violation.importer} -> {violation.imported} (l.{lines})", bold=False)
        output.new_line()
        output.print(
            "Import the other app's services, selectors or another of its public modules instead; a model is "
            "looked up or changed through its own app's selectors and services (docs/architecture.md)."
        )

    @staticmethod
    def _modules(graph: grimp.ImportGraph, expressions: list[ModuleExpression], apps: set[str]) -> set[str]:
        """The modules the expressions name, with their submodules; an app named alone is its package only (what
        its `__init__.py` exports), not every module in it."""
        modules = {expression.expression for expression in expressions if expression.expression in apps}
        packages = [expression for expression in expressions if expression.expression not in apps]
        modules |= {module.name for module in helpers.module_expressions_to_modules(graph, packages, as_packages=True)}
        return modules
