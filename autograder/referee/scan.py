"""A static scan of the answer cells for escape hatches, for the instructor to review.

Honest answers to these exercises need none of what is listed here: frame and
interpreter internals, torch's dispatcher internals, hooks into IPython or the
interpreter, code built and run from strings, rebinding torch's or the builtins'
attributes. A hit changes no score: the row's status becomes ``flagged`` and the lines
are quoted in the note. The scan reads source code (``ast``); it runs nothing.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

#: Modules whose import alone is worth a look.
MODULES = {
    "gc": "garbage-collector access (reaches any object)", "ctypes": "raw memory access",
    "inspect": "frame inspection", "importlib": "importing by name", "builtins": "the builtins module",
    "types": "building functions and code objects", "dis": "bytecode", "bdb": "the debugger framework",
    "pdb": "the debugger", "signal": "signal handlers", "threading": "background threads",
    "multiprocessing": "other processes", "subprocess": "other processes", "socket": "network sockets",
    "autograder_kernel": "the grader's code in the kernel", "autograder": "the course's grading package",
    "sys": None, "os": None,
}
#: Attribute names that are escape hatches wherever they appear.
ATTRIBUTES = {
    "_getframe": "frame access", "f_back": "frame access", "f_locals": "frame access", "f_globals": "frame access",
    "gi_frame": "frame access", "tb_frame": "frame access", "__subclasses__": "walking every class",
    "__globals__": "a function's globals", "__code__": "a function's code object", "__closure__": "a closure",
    "__builtins__": "the builtins", "__base__": "class internals", "__bases__": "class internals",
    "__mro__": "class internals", "__import__": "importing by name", "_C": "torch's C internals",
    "_python_dispatch": "torch's dispatcher internals", "_disable_current_modes": "switching off torch modes",
    "_DisableTorchDispatch": "switching off torch modes", "DisableTorchFunction": "switching off torch modes",
    "DisableTorchFunctionSubclass": "switching off torch modes", "overrides": "torch's function overrides",
    "settrace": "a trace hook", "setprofile": "a profile hook", "addaudithook": "an audit hook",
    "set_custom_exc": "an IPython exception hook", "ast_transformers": "an IPython source transformer",
    "input_transformers_post": "an IPython source transformer", "input_transformers_cleanup": "an IPython source transformer",
    "register_post_execute": "an IPython hook", "modules": None, "meta_path": "the import system",
    "path_hooks": "the import system", "_exit": "ending the process", "fork": "another process",
    "system": "a shell command", "popen": "a shell command", "kill": "signalling a process",
    "environ": "the environment",
}
#: Attribute names flagged only on these modules (``sys.modules``, not ``model.modules()``).
ON_MODULE = {"modules": ("sys",)}
#: Builtin functions that are escape hatches when called.
CALLS = {"exec": "running code from a string", "eval": "running code from a string",
         "compile": "compiling code from a string", "__import__": "importing by name", "get_ipython": "the IPython shell",
         "globals": "the module's namespace", "breakpoint": "the debugger", "setattr": None, "delattr": None}
#: Names that, as the root of an assignment target, mean rebinding a library's attribute.
LIBRARY_ROOTS = {"torch", "nn", "F", "np", "numpy", "math", "builtins", "sys", "os", "functional"}


@dataclass(frozen=True)
class Flag:
    """One escape hatch: where (cell index in the notebook, line), the line, and why."""

    cell: int
    line: int
    text: str
    reason: str

    def quote(self) -> str:
        return f"cell {self.cell + 1}, line {self.line}: {self.text.strip()[:160]} ({self.reason})"


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self):
        self.hits: list[tuple[int, str]] = []
        self.module_aliases: set[str] = set(LIBRARY_ROOTS)

    def hit(self, node: ast.AST, reason: str) -> None:
        self.hits.append((getattr(node, "lineno", 1), reason))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name, alias.asname or alias.name.split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._module(node, module, None)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name in ATTRIBUTES and ATTRIBUTES[alias.name]:
                self.hit(node, f"imports {full}: {ATTRIBUTES[alias.name]}")
            if alias.name in CALLS and CALLS[alias.name]:
                self.hit(node, f"imports {full}: {CALLS[alias.name]}")
        self.generic_visit(node)

    def _module(self, node: ast.AST, name: str, alias: str | None) -> None:
        top = name.split(".")[0]
        if alias:
            self.module_aliases.add(alias)
        if MODULES.get(top):
            self.hit(node, f"imports {name}: {MODULES[top]}")
        for part in name.split(".")[1:]:
            if ATTRIBUTES.get(part):
                self.hit(node, f"imports {name}: {ATTRIBUTES[part]}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        reason = ATTRIBUTES.get(node.attr)
        if node.attr in ON_MODULE:
            if _root(node) in ON_MODULE[node.attr] and isinstance(node.value, ast.Name):
                self.hit(node, f".{node.attr} of {node.value.id}")
        elif reason:
            self.hit(node, f".{node.attr}: {reason}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__import__"):
            self.hit(node, f"{node.id}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in CALLS:
            name = node.func.id
            if name in ("setattr", "delattr"):
                target = _root(node.args[0]) if node.args else None
                if target in self.module_aliases:
                    self.hit(node, f"{name} on {target}: rebinding a library's attribute")
            else:
                self.hit(node, f"{name}(): {CALLS[name]}")
        self.generic_visit(node)

    def _targets(self, targets: list[ast.AST]) -> None:
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and _root(sub) in self.module_aliases:
                    self.hit(sub, f"assigns to {_root(sub)}'s attribute: rebinding a library")
                    break

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


def _parse(source: str) -> ast.AST | None:
    # IPython magics and shell escapes are not Python: blank them, keeping line numbers
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def scan(cells: list[tuple[int, str]]) -> list[Flag]:
    """The escape hatches in ``cells`` (``(index in the notebook, source)`` of each answer cell)."""
    flags: list[Flag] = []
    aliases: set[str] = set()
    for index, source in cells:
        tree = _parse(source)
        if tree is None:
            continue
        visitor = _Visitor()
        visitor.module_aliases |= aliases
        visitor.visit(tree)
        aliases |= visitor.module_aliases
        lines = source.splitlines()
        seen = set()
        for line, reason in visitor.hits:
            if (line, reason) not in seen:
                seen.add((line, reason))
                flags.append(Flag(index, line, lines[line - 1] if 0 < line <= len(lines) else "", reason))
    return flags
