"""The student's answer cells read as a program: what is defined, and what each part uses.

Nothing here runs student code: cells are parsed with ``ast`` (IPython magics and shell
escapes blanked first, line numbers kept). :class:`Program` knows, for every top-level
name the cells bind (a function, a class, an import, an assignment), the *references*
made by its code (a function's or class's whole body, decorators and defaults included;
an assignment's value). A reference is one of:

* a **path** into a module: ``torch.nn.functional.softmax`` (from ``F.softmax`` after
  ``import torch.nn.functional as F``, from ``getattr(torch, "softmax")``, from ``from
  torch import softmax as s``...);
* a **method** call on some value: ``x.softmax(...)`` gives ``.softmax``;
* a **name** of the program itself: a helper function, a class, a global variable.

:meth:`Program.reach` follows names and methods through the program (every definition of
a name, in any cell: re-ordered or repeated cells cannot hide one) and yields the paths
and methods a function or class reaches, each with the line that made it.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from typing import Iterator

#: A line IPython runs as a magic or a shell command, not as Python.
_MAGIC = re.compile(r"^\s*(%|!)")
#: ``name = !command`` (IPython's shell assignment).
_SHELL_ASSIGN = re.compile(r"^\s*[\w.]+\s*=\s*!")


@dataclass(frozen=True)
class Line:
    """Where something is: the cell's index in the notebook, the line in the cell, its text."""

    cell: int
    line: int
    text: str

    def quote(self) -> str:
        return f"cell {self.cell + 1}, line {self.line}: `{self.text.strip()[:160]}`"


@dataclass(frozen=True)
class Ref:
    """One reference: ``kind`` is ``"path"`` (``target`` a dotted module path), ``"method"``
    (``target`` a method name) or ``"name"`` (a top-level name of the program)."""

    kind: str
    target: str
    where: Line


@dataclass
class Definition:
    """A top-level binding: what its code references. ``methods``: for a class, its method names."""

    name: str
    where: Line
    refs: list[Ref] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)
    is_class: bool = False
    #: Bound from inside a function (``global name``): in effect whenever that function ran.
    anywhere: bool = False

    @property
    def position(self) -> tuple[int, int]:
        return (self.where.cell, self.where.line)


@dataclass(frozen=True)
class Cell:
    """One parsed answer cell: its index in the notebook, its lines, its syntax tree (None:
    not Python), and the magic lines that were blanked ``(line number, text)``."""

    index: int
    lines: tuple[str, ...]
    tree: ast.Module | None
    magics: tuple[tuple[int, str], ...]

    def at(self, node: ast.AST | int) -> Line:
        number = node if isinstance(node, int) else getattr(node, "lineno", 1)
        text = self.lines[number - 1] if 0 < number <= len(self.lines) else ""
        return Line(self.index, number, text)


def parse_cell(index: int, source: str) -> Cell:
    """``source`` as Python, with magic and shell lines blanked (their numbers kept)."""
    lines = tuple(source.splitlines())
    magics, python = [], []
    for number, line in enumerate(lines, 1):
        if _MAGIC.match(line) or _SHELL_ASSIGN.match(line):
            magics.append((number, line))
            python.append("")
        else:
            python.append(line)
    try:
        tree = ast.parse("\n".join(python))
    except SyntaxError:
        tree = None
    return Cell(index, lines, tree, tuple(magics))


def dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; ``getattr(a, "b")`` counts as ``a.b``; else None."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return None


def import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """``(bound name, module path)`` for each name an import statement binds."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                out.append((top, top))
    elif node.level == 0 and node.module:
        for alias in node.names:
            if alias.name != "*":
                out.append((alias.asname or alias.name, f"{node.module}.{alias.name}"))
    return out


def _bound_locally(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function binds in its own scope (parameters, assignments, loops, imports...)."""
    bound: set[str] = set()
    args = fn.args
    for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if a is not None:
            bound.add(a.arg)
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    declared_global: set[str] = set()
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update(name for name, _ in import_bindings(node))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, ast.Global):
                declared_global.update(node.names)
    return bound - declared_global


class _Refs(ast.NodeVisitor):
    """Collects the references of one definition's code (see the module docstring)."""

    def __init__(self, cell: Cell, modules: dict[str, str]):
        self.cell, self.refs = cell, []
        self.scopes: list[tuple[set[str], dict[str, str]]] = [(set(), dict(modules))]

    def _module_of(self, name: str) -> str | None:
        for bound, modules in reversed(self.scopes):
            if name in modules:
                return modules[name]
            if name in bound:
                return None
        return None

    def _local(self, name: str) -> bool:
        return any(name in bound for bound, _ in self.scopes[1:])

    def add(self, kind: str, target: str, node: ast.AST) -> None:
        self.refs.append(Ref(kind, target, self.cell.at(node)))

    def _function(self, node) -> None:
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        for default in (*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]):
            self.visit(default)
        local_modules = {}
        for stmt in ast.walk(node):
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                local_modules.update(import_bindings(stmt))
        self.scopes.append((_bound_locally(node), local_modules))
        for stmt in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(stmt)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._path(node):
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            if self._path(node):
                return
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.add("method", name.value, node)  # getattr(x, "softmax"): x.softmax
        elif isinstance(func, ast.Attribute) and not self._is_module_path(func):
            self.add("method", func.attr, node)
        self.generic_visit(node)

    def _is_module_path(self, node: ast.AST) -> bool:
        parts = dotted(node)
        return bool(parts) and self._module_of(parts[0]) is not None

    def _path(self, node: ast.AST) -> bool:
        """Record ``node`` as a module path when it is one (``F.softmax``); True if it was."""
        parts = dotted(node)
        module = self._module_of(parts[0]) if parts else None
        if module is None:
            return False
        self.add("path", ".".join([module, *parts[1:]]), node)
        if isinstance(node, ast.Call):  # getattr(...): its default argument may hold code
            for extra in node.args[2:]:
                self.visit(extra)
        return True

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load) or self._local(node.id):
            return
        module = self._module_of(node.id)
        if module is not None:
            self.add("path", module, node)
        elif not hasattr(builtins, node.id):
            self.add("name", node.id, node)


class Program:
    """Every top-level binding of the answer cells (see the module docstring)."""

    def __init__(self, cells: list[Cell], preamble: str = ""):
        """``preamble``: import statements run before every cell (the notebook's set-up
        cells, trusted): the module names they bind are known in every cell."""
        self.cells = cells
        self.modules: dict[str, str] = {}
        for node in ast.parse(preamble).body if preamble else []:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.modules.update(import_bindings(node))
        self.definitions: dict[str, list[Definition]] = {}
        self.methods: dict[str, list[Definition]] = {}
        for cell in cells:
            if cell.tree is not None:
                for node in _top_level_statements(cell.tree.body):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        self.modules.update(import_bindings(node))
        for cell in cells:
            if cell.tree is not None:
                self._read(cell, cell.tree.body)

    def _define(self, name: str, definition: Definition) -> None:
        self.definitions.setdefault(name, []).append(definition)

    def _refs(self, cell: Cell, *nodes: ast.AST) -> list[Ref]:
        visitor = _Refs(cell, self.modules)
        for node in nodes:
            visitor.visit(node)
        return visitor.refs

    def _read(self, cell: Cell, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._define(stmt.name, Definition(stmt.name, cell.at(stmt), self._refs(cell, stmt)))
                self._globals_bound_in(cell, stmt)
            elif isinstance(stmt, ast.ClassDef):
                definition = Definition(stmt.name, cell.at(stmt), self._refs(cell, stmt), is_class=True)
                for item in stmt.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        definition.methods.add(item.name)
                        method = Definition(f"{stmt.name}.{item.name}", cell.at(item), self._refs(cell, item))
                        self.methods.setdefault(item.name, []).append(method)
                        self._globals_bound_in(cell, item)
                self._define(stmt.name, definition)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for name, module in import_bindings(stmt):
                    self._define(name, Definition(name, cell.at(stmt), [Ref("path", module, cell.at(stmt))]))
            else:
                refs = self._refs(cell, stmt)
                for name in _stored_names(stmt):
                    self._define(name, Definition(name, cell.at(stmt), list(refs)))
                for block in _blocks(stmt):
                    self._read(cell, block)

    def _globals_bound_in(self, cell: Cell, fn: ast.AST) -> None:
        """``global name; name = value`` inside a function binds a top-level name."""
        declared = {n for node in ast.walk(fn) if isinstance(node, ast.Global) for n in node.names}
        if not declared:
            return
        for node in ast.walk(fn):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                        if name in declared:
                            refs = _Refs(cell, self.modules)
                            refs.scopes.append((_bound_locally(fn) - declared, {}))
                            refs.visit(node.value)
                            self._define(name, Definition(name, cell.at(node), refs.refs, anywhere=True))

    def visible(self, name: str, before: int | None = None) -> list[Definition]:
        """The definitions of ``name`` in effect for code run from the cell at index
        ``before``: the last binding in an earlier cell (plus those made from inside
        functions); every binding when ``before`` is None or none comes earlier."""
        found = self.definitions.get(name, [])
        if before is None:
            return list(found)
        earlier = [d for d in found if d.where.cell < before and not d.anywhere]
        anywhere = [d for d in found if d.anywhere]
        if not earlier:
            return list(found)
        return [max(earlier, key=lambda d: d.position), *anywhere]

    def reach(self, name: str, before: int | None = None) -> Iterator[tuple[Ref, tuple[str, ...]]]:
        """Every path and method reference reachable from ``name`` (a function, a class, a
        variable) for code run from cell ``before``, each with the chain of the program's
        names that led to it."""
        seen: set[tuple[str, tuple[int, int]]] = set()
        stack = [(d, (name,)) for d in self.visible(name, before)]
        while stack:
            definition, chain = stack.pop()
            key = (definition.name, definition.position)
            if key in seen:
                continue
            seen.add(key)
            for ref in definition.refs:
                if ref.kind == "name":
                    stack += [(d, (*chain, ref.target)) for d in self.visible(ref.target, before)]
                elif ref.kind == "method" and ref.target in self.methods:
                    stack += [(d, (*chain, d.name)) for d in self.methods[ref.target]]
                else:
                    yield ref, chain

    def defines(self, name: str) -> bool:
        return name in self.definitions


def _stored_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds at the top level (not inside functions or classes)."""
    names: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists inside a compound top-level statement (if, for, with, try...)."""
    blocks = [getattr(stmt, attr) for attr in ("body", "orelse", "finalbody") if isinstance(getattr(stmt, attr, None), list)]
    blocks += [h.body for h in getattr(stmt, "handlers", [])]
    blocks += [c.body for c in getattr(stmt, "cases", [])]
    return blocks


def _top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for block in _blocks(stmt):
                yield from _top_level_statements(block)
