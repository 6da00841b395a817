"""Which names a test cell takes from the notebook: the ones it uses but never binds itself."""
from __future__ import annotations

import builtins
import symtable


def _walk(table: symtable.SymbolTable, top_bound: set[str], found: set[str]) -> None:
    for sym in table.get_symbols():
        name = sym.get_name()
        if table.get_type() == "module":
            if sym.is_referenced() and not (sym.is_assigned() or sym.is_imported()):
                found.add(name)
        elif sym.is_global() and sym.is_referenced() and name not in top_bound:
            found.add(name)
    for child in table.get_children():
        _walk(child, top_bound, found)


def free_names(source: str) -> set[str]:
    """Names ``source`` reads (at the top or inside its functions and comprehensions) that it
    never assigns, imports or defines at the top level, builtins left out."""
    table = symtable.symtable(source, "<test cell>", "exec")
    top_bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    found: set[str] = set()
    _walk(table, top_bound, found)
    return {n for n in found if n not in top_bound and not hasattr(builtins, n)}
