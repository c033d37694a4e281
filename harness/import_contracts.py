"""An import-linter contract type: an allow-list. A package and everything it imports, directly or through other
modules of ours, stays within the standard library and the modules named (so a new dependency is a decision)."""

import sys
from typing import Any

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _within(module: str, names: list[str]) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in names)


class AllowListContract(Contract):
    """Options: `source_module` (a package) and `allowed_modules` (packages or modules, ours or third-party)."""

    source_module = fields.StringField()
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        source = str(self.source_module)
        allowed = [str(name) for name in self.allowed_modules]  # type: ignore[attr-defined]
        reached = graph.find_upstream_modules(source, as_package=True)
        ours = {source, *(m for m in graph.modules if m.startswith(f"{source}."))}
        outside: list[dict[str, Any]] = []
        for module in sorted(reached):
            if _within(module, [source, *allowed]) or module.split(".")[0] in sys.stdlib_module_names:
                continue
            importers = sorted(graph.find_modules_that_directly_import(module) & (reached | ours))
            outside.append({"module": module, "importers": importers})
        return ContractCheck(kept=not outside, metadata={"outside": outside})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["outside"]:
            output.print_error(f"{item['module']} is not allowed (imported by {', '.join(item['importers'])})")
            output.new_line()
