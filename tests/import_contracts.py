"""An import-linter contract type the built-in ones lack (they forbid; this one allows): used by pyproject.toml."""

import sys

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class AllowedImportsContract(Contract):
    """The source packages import nothing but each other, the allowed modules (and what is inside them) and
    the standard library. Direct imports only: what an allowed module imports is its own contract's business.

    External packages are named by their top-level name (`django`): the graph holds them that way.
    """

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.ModuleField())
    broken_contract_guidance = fields.TextField(required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources = [module.name for module in self.source_modules]
        allowed = [*sources, *(module.name for module in self.allowed_modules)]
        illegal = []
        for source in sources:
            if source not in graph.modules:
                raise ValueError(f"{source} is not in the import graph: is it spelt right?")
            for importer in sorted({source, *graph.find_descendants(source)}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if imported.partition(".")[0] in sys.stdlib_module_names or any(
                        imported == name or imported.startswith(f"{name}.") for name in allowed
                    ):
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    illegal.append((importer, imported, sorted({detail["line_number"] for detail in details})))
        output.verbose_print(verbose, f"Found {len(illegal)} import(s) outside the allowed modules.")
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, lines in check.metadata["illegal"]:
            where = ", ".join(f"l.{line}" for line in lines)
            output.print_error(f"{importer} is not allowed to import {imported} ({where})")
            output.new_line()
        if self.broken_contract_guidance:
            output.print(self.broken_contract_guidance)
            output.new_line()
