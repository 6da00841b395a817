"""Code the static check cannot see through, anywhere in the answer cells: the row is flagged.

The static check (:mod:`.static`) judges what a graded function reaches by reading its
code. Some code hides what it reaches until it runs: names built at run time
(``getattr`` with a computed name, ``vars()``, ``__dict__``, ``globals()``), code built from
strings (``exec`` and its relatives, under any name), other threads and processes (torch's
recording is per thread), torch's private internals, modules outside the exercise's list,
rebinding a library's attributes, files run as code. None of this is needed for an
honest answer; when it is there, the instructor gets the lines to read (status
``flagged``), and the points stand as computed. What honest styles use is not flagged:
an index that calls torch inside an assignment target, ``getattr(x, "shape")``,
``isinstance``, asserts, prints, magics such as ``%time``, plots, ``set_default_dtype``,
``manual_seed``, ``no_grad``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .program import Cell, Line, dotted, import_bindings

#: Builtins that run or reach code by name: flagged wherever they appear, called or not.
BUILTINS = {
    "exec": "running code from a string", "eval": "running code from a string", "compile": "compiling code from a string",
    "__import__": "importing by name", "breakpoint": "the debugger", "globals": "the module's namespace by name",
    "locals": "a namespace by name", "vars": "an object's namespace by name", "__builtins__": "the builtins",
    "get_ipython": "the IPython shell",
}
#: ``getattr`` and friends: fine with a constant, public name; flagged otherwise.
NAME_FUNCTIONS = ("getattr", "setattr", "delattr", "hasattr")
#: Attribute names that reach internals wherever they appear.
ATTRIBUTES = {
    "__dict__": "an object's namespace", "__globals__": "a function's globals", "__code__": "a function's code",
    "__closure__": "a closure's cells", "__builtins__": "the builtins", "__subclasses__": "walking every class",
    "__bases__": "class internals", "__base__": "class internals", "__mro__": "class internals",
    "__getattribute__": "attribute lookup by name", "__self__": "a bound method's object", "__func__": "a method's function",
    "__wrapped__": "a decorated function's original", "__defaults__": "a function's defaults",
    "__kwdefaults__": "a function's defaults", "__reduce__": "pickling internals", "__reduce_ex__": "pickling internals",
    "__loader__": "the import system", "__spec__": "the import system", "f_back": "frame access",
    "f_locals": "frame access", "f_globals": "frame access", "f_builtins": "frame access", "gi_frame": "frame access",
    "cr_frame": "frame access", "tb_frame": "frame access", "_getframe": "frame access", "settrace": "a trace hook",
    "setprofile": "a profile hook", "addaudithook": "an audit hook", "set_custom_exc": "an IPython exception hook",
    "ast_transformers": "an IPython source transformer", "input_transformers_post": "an IPython source transformer",
    "input_transformers_cleanup": "an IPython source transformer", "register_post_execute": "an IPython hook",
    "run_cell": "running code from a string", "run_line_magic": "running a magic by name",
    "run_cell_magic": "running a magic by name", "system": "a shell command", "attrgetter": "attribute access by name",
    "methodcaller": "method calls by name",
}
#: Modules answer cells import for the reasons given (anything else outside the
#: exercise's list gets a general reason).
MODULE_REASONS = {
    "threading": "threads (torch records each thread on its own)", "_thread": "threads (torch records each thread on its own)",
    "concurrent": "threads or other processes", "multiprocessing": "other processes", "subprocess": "other processes",
    "asyncio": "an event loop and its threads", "importlib": "importing by name", "pkgutil": "importing by name",
    "runpy": "running a file as code", "ctypes": "raw memory access", "gc": "reaching any object",
    "inspect": "frame inspection", "types": "building functions and code objects", "builtins": "the builtins module",
    "signal": "signal handlers", "socket": "network sockets", "code": "running code from a string",
    "codeop": "compiling code from a string", "marshal": "code objects", "pickle": "loading objects from bytes",
    "autograder_kernel": "the grader's own code in your kernel", "__main__": "the notebook's namespace by name",
    "sys": None, "os": None,
    # attributes of os and sys
    "fork": "another process", "forkpty": "another process", "system": "a shell command", "popen": "a shell command",
    "spawnv": "another process", "spawnl": "another process", "posix_spawn": "another process",
    "execv": "replacing the process", "execl": "replacing the process", "kill": "signalling a process",
    "_exit": "ending the process", "environ": "the environment", "modules": "the import system",
    "path_hooks": "the import system", "meta_path": "the import system", "exit": "ending the process",
}
#: Modules an answer may import but not meet in grading (the course's own package is not
#: in the grader's sandbox): not flagged, the import fails with its own message there.
NOT_FLAGGED = frozenset({"autograder"})
#: What ``os`` and ``sys`` offer an honest answer; any other attribute is flagged.
SAFE_ATTRIBUTES = {
    "os": frozenset({"path", "getcwd", "listdir", "sep", "linesep", "cpu_count", "makedirs", "getenv"}),
    "sys": frozenset({"version", "version_info", "float_info", "int_info", "maxsize", "platform", "stdout",
                      "stderr", "byteorder", "getrecursionlimit", "float_repr_style"}),
    "IPython": frozenset({"display"}),
    "operator": frozenset(),  # any attribute but attrgetter and methodcaller (see ATTRIBUTES)
}
#: Parts of torch that run code where torch's recording cannot follow, or reach its
#: dispatcher: flagged wherever they appear under ``torch``.
TORCH_OPAQUE = {
    "multiprocessing": "other processes", "distributed": "other processes", "jit": "compiled code",
    "compile": "compiled code", "fx": "graph rewriting", "export": "compiled code", "package": "loading code",
    "hub": "loading code", "ops": "torch's operator registry", "library": "torch's operator registry",
    "overrides": "torch's function overrides", "cpp_extension": "compiled code", "graph": "autograd's graph hooks",
    "Function": "a custom autograd function", "Variable": "autograd's engine",
}
#: Magics that run other code or files; any other magic (``%time``, ``%matplotlib``,
#: ``!pip``) is fine at the top level of a cell.
MAGICS = {"run", "load", "loadpy", "sx", "system", "sc", "writefile", "bash", "sh", "script", "python", "python2",
          "python3", "pypy", "perl", "ruby", "macro", "rerun", "recall", "store", "alias", "debug", "pdb", "edit",
          "paste", "cpaste", "file", "px", "autopx"}
#: Where assigning to an attribute is rebinding a library (torch's backends are settings).
REBINDABLE = ("torch.backends.",)
_MAGIC_NAME = re.compile(r"^\s*%{1,2}\s*(\w+)")


@dataclass(frozen=True)
class Flag:
    """One place the static check cannot see through, and why."""

    where: Line
    reason: str

    def quote(self) -> str:
        return f"{self.where.quote()} ({self.reason})"


class _Opaque(ast.NodeVisitor):
    def __init__(self, cell: Cell, modules: frozenset[str], aliases: dict[str, str]):
        self.cell, self.allowed, self.aliases = cell, modules, aliases
        self.flags: list[Flag] = []

    def flag(self, node: ast.AST | int, reason: str) -> None:
        self.flags.append(Flag(self.cell.at(node), reason))

    # -- imports ----------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "a relative import")
            return
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, f"from {node.module} import *: names the grader cannot see")
            elif alias.name in ATTRIBUTES or alias.name in BUILTINS:
                self.flag(node, f"imports {alias.name}: {ATTRIBUTES.get(alias.name) or BUILTINS.get(alias.name)}")
        for name, path in import_bindings(node):
            self._module(node, path)

    def _module(self, node: ast.AST, path: str) -> None:
        top = path.split(".")[0]
        if top in NOT_FLAGGED:
            return
        if top not in self.allowed or MODULE_REASONS.get(top):
            reason = MODULE_REASONS.get(top) or "a module outside this exercise's list"
            self.flag(node, f"imports {path}: {reason}")
            return
        self._path(node, path.split("."))

    # -- names and attributes ------------------------------------------------------------------
    def _path(self, node: ast.AST, parts: list[str]) -> None:
        """A module path ``parts`` (``["torch", "_C"]``): private or opaque parts, unsafe
        attributes of ``os``/``sys``."""
        top = parts[0]
        if top == "torch":
            for part in parts[1:]:
                if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
                    self.flag(node, f"{'.'.join(parts)}: torch's private internals")
                    return
                if part in TORCH_OPAQUE:
                    self.flag(node, f"{'.'.join(parts)}: {TORCH_OPAQUE[part]}")
                    return
        elif top in SAFE_ATTRIBUTES and len(parts) > 1 and SAFE_ATTRIBUTES[top] and parts[1] not in SAFE_ATTRIBUTES[top]:
            self.flag(node, f"{'.'.join(parts[:2])}: {MODULE_REASONS.get(parts[1]) or 'not needed for an answer'}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ATTRIBUTES:
            self.flag(node, f".{node.attr}: {ATTRIBUTES[node.attr]}")
        parts = dotted(node)
        if parts and parts[0] in self.aliases:
            self._path(node, self.aliases[parts[0]].split(".") + parts[1:])
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in BUILTINS:
            self.flag(node, f"{node.id}: {BUILTINS[node.id]}")
        elif node.id in NAME_FUNCTIONS:  # a direct call does not get here (see visit_Call)
            self.flag(node, f"{node.id} handed around: attribute access by a name built at run time")
        elif node.id in self.aliases and self.aliases[node.id].split(".")[0] in ("sys", "os", "builtins"):
            self.flag(node, f"{node.id}: the {self.aliases[node.id]} module handed around")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in NAME_FUNCTIONS:
            self._by_name(node, func.id)
            for arg in node.args[2:] + [k.value for k in node.keywords]:
                self.visit(arg)
            if node.args:
                target = node.args[0]
                if not (isinstance(target, ast.Name) and target.id in self.aliases):
                    self.visit(target)
            return
        self.generic_visit(node)

    def _by_name(self, node: ast.Call, fn: str) -> None:
        name = node.args[1] if len(node.args) >= 2 else None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            self.flag(node, f"{fn} with a name built at run time")
            return
        attr = name.value
        if attr in ATTRIBUTES or attr in BUILTINS:
            self.flag(node, f"{fn}(..., {attr!r}): {ATTRIBUTES.get(attr) or BUILTINS.get(attr)}")
        target = node.args[0]
        parts = dotted(target)
        if parts and parts[0] in self.aliases:
            full = self.aliases[parts[0]].split(".") + parts[1:] + [attr]
            if fn in ("setattr", "delattr") and not ".".join(full).startswith(REBINDABLE):
                self.flag(node, f"{fn} on {'.'.join(full[:-1])}: rebinding a library's attribute")
            else:
                self._path(node, full)

    # -- rebinding libraries ----------------------------------------------------------------------
    def _targets(self, targets: list[ast.AST]) -> None:
        for target in targets:
            node = target
            while isinstance(node, (ast.Attribute, ast.Subscript)):
                node = node.value
            if node is target or not isinstance(node, ast.Name) or node.id not in self.aliases:
                continue
            module = self.aliases[node.id]
            parts = dotted(target) if isinstance(target, ast.Attribute) else None
            full = ".".join([module, *(parts[1:] if parts else [])])
            if module.split(".")[0] in ("torch", "sys", "os", "builtins") and not (full + ".").startswith(REBINDABLE):
                self.flag(target, f"assigns to {full}: rebinding a library's attribute")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._targets(node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._targets([node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._targets([node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._targets(node.targets)
        self.generic_visit(node)


def _magics(cell: Cell) -> list[Flag]:
    flags = []
    for number, line in cell.magics:
        indented = line[:len(line) - len(line.lstrip())] != ""
        name = _MAGIC_NAME.match(line)
        if "=" in line.split("!", 1)[0] and "!" in line and not line.lstrip().startswith(("%", "!")):
            flags.append(Flag(cell.at(number), "a shell command whose output the code uses"))
        elif indented and line.lstrip().startswith(("!", "%")):
            flags.append(Flag(cell.at(number), "a shell command or magic inside code that runs at test time"))
        elif name and name.group(1) in MAGICS:
            flags.append(Flag(cell.at(number), f"%{name.group(1)}: runs other code or files"))
    return flags


def opaque(cells: list[Cell], modules: frozenset[str], aliases: dict[str, str]) -> list[Flag]:
    """Every flag in ``cells``; ``aliases``: the program's top-level module bindings."""
    flags: list[Flag] = []
    for cell in cells:
        flags += _magics(cell)
        if cell.tree is None:
            continue
        local = dict(aliases)  # imports inside functions bind module names too
        for node in ast.walk(cell.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                local.update((name, path) for name, path in import_bindings(node) if name not in local)
        visitor = _Opaque(cell, modules, local)
        visitor.visit(cell.tree)
        flags += visitor.flags
    seen, out = set(), []
    for flag in flags:
        key = (flag.where.cell, flag.where.line, flag.reason)
        if key not in seen:
            seen.add(key)
            out.append(flag)
    return out
