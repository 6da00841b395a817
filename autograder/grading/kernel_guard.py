"""Runs inside the student's kernel: an integrity snapshot taken before any student code.

:func:`install` runs at kernel start (ipykernel ``exec_lines``, before the first cell):
it seeds torch, numpy and ``random``, imports torch, numpy, the checks library and the
course modules the assignment's tests import (every chapter module when not told), and
remembers what the hidden tests stand on: every attribute of those modules, of every
other course module they loaded, and of ``torch.Tensor``, ``builtins``, IPython's shell;
the code, defaults and closures of every function in the course package, the contents of
the chapter tables (``FORBIDDEN``, ``HINTS``), and that no trace/profile hook or torch
mode is active.

Each graded test cell is wrapped (:mod:`autograder.grading.inject`) so that it
:func:`verify` s the snapshot before and after its own code, re-imports the names the
locked cells imported, and prints a one-time pass token only when everything held. A
student's cell that patches ``torch.allclose`` or ``check_forward``, replaces a
function's ``__code__``, edits ``FORBIDDEN``, installs ``sys.settrace`` or a torch mode,
or silences tracebacks, makes the test cells that follow fail.

The test cell reaches :class:`Guard` through ``().__class__.__base__.__subclasses__()``
(no name a student can rebind), and :class:`Guard` refuses attribute assignment. This is
a high bar, not a proof: code running in the same process can always do more.
"""
from __future__ import annotations

import builtins
import importlib
import pkgutil
import random
import sys
import types
from typing import Iterable

_WATCHED_MODULES = ("builtins", "math", "random", "warnings", "numpy", "numpy.testing", "torch", "torch.testing",
                    "torch.nn.functional", "torch.autograd", "torch.linalg", "torch.special", "torch.overrides",
                    "torch.utils._python_dispatch")
#: Course modules whose functions the tests may call; every loaded one is watched.
_COURSE_PREFIXES = ("autograder.checks", "autograder.chapters", "autograder.data")
#: Module attributes that importing ``torch._dynamo`` (creating the first optimizer does)
#: legitimately re-wraps; the wrapper's ``__wrapped__`` is the original.
_DYNAMO_REWRAPS = frozenset({("torch", "manual_seed")})
_SHELL_METHODS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                  "showsyntaxerror", "get_exception_only")


class TamperingError(AssertionError):
    """The grading environment was changed by the notebook's code."""


def _modules(course: Iterable[str] | None = None) -> list[types.ModuleType]:
    """The watched modules: ``_WATCHED_MODULES``, the checks library, ``course`` (default:
    every chapter module) and every course module those loaded."""
    mods = [importlib.import_module(name) for name in _WATCHED_MODULES]
    chapters = _submodules("autograder.chapters") if course is None else list(course)
    for name in _submodules("autograder.checks") + chapters:
        importlib.import_module(name)
    loaded = sorted(n for n in sys.modules if n.startswith(_COURSE_PREFIXES))
    return mods + [sys.modules[n] for n in loaded]


def _submodules(package: str) -> list[str]:
    return [info.name for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + ".")]


def _own(mod: types.ModuleType) -> bool:
    return mod.__name__.startswith("autograder.")


def _functions(namespace: dict, owner: str):
    """Functions defined in the course package inside ``namespace`` (and its classes)."""
    for value in namespace.values():
        if isinstance(value, types.FunctionType) and value.__module__ == owner:
            yield value
        elif isinstance(value, type) and value.__module__ == owner:
            for attr in vars(value).values():
                attr = getattr(attr, "__func__", attr)
                if isinstance(attr, types.FunctionType):
                    yield attr


def _fingerprint(fn: types.FunctionType):
    cells = tuple(c.cell_contents if c.cell_contents is not None else None for c in fn.__closure__ or ()) \
        if fn.__closure__ else ()
    return (fn.__code__, fn.__defaults__, repr(fn.__kwdefaults__), tuple(id(c) for c in cells))


def _take(course: Iterable[str] | None = None) -> dict:
    import torch

    snap: dict = {"modules": {}, "functions": {}, "tables": {}, "classes": {}}
    for mod in _modules(course):
        snap["modules"][mod.__name__] = (mod, dict(vars(mod)))
        if _own(mod):
            for fn in _functions(vars(mod), mod.__name__):
                snap["functions"][id(fn)] = (fn, _fingerprint(fn))
            for key, value in vars(mod).items():
                if not key.startswith("__") and isinstance(value, (dict, list, tuple, set, frozenset, str, int, float)):
                    snap["tables"][(mod.__name__, key)] = repr(value)
                if isinstance(value, type) and value.__module__ == mod.__name__:
                    snap["classes"][id(value)] = (value, dict(vars(value)))
    for cls in (torch.Tensor, torch.nn.Module, torch.dtype.__class__):
        snap["classes"][id(cls)] = (cls, dict(vars(cls)))
    shell = _shell()
    if shell is not None:
        snap["shell"] = (shell, {name: getattr(type(shell), name, None) for name in _SHELL_METHODS},
                         {name: shell.__dict__.get(name) for name in _SHELL_METHODS},
                         {event: list(cbs) for event, cbs in shell.events.callbacks.items()})
    snap["sys"] = {"excepthook": sys.excepthook, "displayhook": sys.displayhook,
                   "modules": {name: sys.modules[name] for name in snap["modules"]}}
    return snap


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


_IGNORED_NEW = frozenset({"__warningregistry__", "_", "__", "___"})
#: Swapped by ipykernel around every execution (stdin forwarding, its own excepthook).
_KERNEL_MANAGED = frozenset({"input", "raw_input", "getpass"})


def _changes(snap: dict) -> list[str]:
    import torch

    found = []
    for name, (mod, saved) in snap["modules"].items():
        now = vars(mod)
        for key, value in saved.items():
            if key in _IGNORED_NEW or key in _KERNEL_MANAGED or (name == "builtins" and key.startswith("_") and key not in ("__import__", "__build_class__")):
                continue
            if key not in now:
                found.append(f"{name}.{key} was deleted")
            elif now[key] is not value and not _rewrapped_by_dynamo(name, key, now[key], value):
                found.append(f"{name}.{key} was replaced")
        if sys.modules.get(name) is not snap["sys"]["modules"][name]:
            found.append(f"sys.modules[{name!r}] was replaced")
    for fn, fingerprint in snap["functions"].values():
        if _fingerprint(fn) != fingerprint:
            found.append(f"{fn.__module__}.{fn.__qualname__} was modified")
    for (mod_name, key), text in snap["tables"].items():
        value = vars(sys.modules[mod_name]).get(key)
        if repr(value) != text:
            found.append(f"{mod_name}.{key} was modified")
    for cls, saved in snap["classes"].values():
        now = dict(vars(cls))
        for key, value in saved.items():
            if now.get(key, _MISSING) is not value:
                found.append(f"{cls.__qualname__}.{key} was replaced")
        for key in set(now) - set(saved) - _IGNORED_NEW:
            if key in vars(object) or key.startswith("__") and key.endswith("__"):
                found.append(f"{cls.__qualname__}.{key} was added")
    if "shell" in snap:
        shell, methods, instance, events = snap["shell"]
        for name, value in methods.items():
            if getattr(type(shell), name, None) is not value:
                found.append(f"IPython's {name} was replaced")
            if shell.__dict__.get(name) is not instance[name]:
                found.append(f"IPython's {name} was replaced")
        for event, callbacks in shell.events.callbacks.items():
            # pre-run hooks see the next cell's source; post-execute ones are legitimate (matplotlib)
            if event.startswith("pre_") and list(callbacks) != events.get(event, []):
                found.append(f"an IPython {event} callback was registered")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("a trace or profile function is installed (sys.settrace / sys.setprofile)")
    if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
        found.append("a torch function/dispatch mode is active")
    return found


_MISSING = object()


def _rewrapped_by_dynamo(module: str, key: str, now, saved) -> bool:
    return (module, key) in _DYNAMO_REWRAPS and "torch._dynamo" in sys.modules and getattr(now, "__wrapped__", None) is saved


class _Frozen(type):
    def __setattr__(cls, key, value):
        raise TamperingError("the grader's guard is read-only")

    def __delattr__(cls, key):
        raise TamperingError("the grader's guard is read-only")


class Guard(metaclass=_Frozen):
    """Holds the snapshot; test cells call :meth:`verify`."""

    _state: dict = {}

    @classmethod
    def verify(cls, where: str) -> None:
        """Raise :class:`TamperingError` naming what changed since the kernel started."""
        snap = cls._state.get("snap")
        if snap is None:
            raise TamperingError("the grader's integrity snapshot is missing")
        found = _changes(snap)
        if found:
            raise TamperingError(f"{where}: the grading environment was changed by the notebook's code, "
                                 f"so this test cannot be trusted: " + "; ".join(sorted(set(found))[:5]))

    @classmethod
    def seed(cls, seed: int = 0) -> None:
        """Seed torch, numpy and random (every test cell starts from the same state)."""
        import numpy
        import torch

        torch.manual_seed(seed)
        numpy.random.seed(seed)
        random.seed(seed)


def _warm_up() -> None:
    """Run one tiny check so torch's lazy imports (torch._dynamo re-wraps torch.manual_seed)
    happen before the snapshot, not during the first test."""
    import contextlib
    import io

    import torch

    from autograder.checks import check_forward

    with contextlib.redirect_stdout(io.StringIO()):
        check_forward(lambda x: x * 1, lambda x: x, name="warm-up", devices=["cpu"], dtypes=[torch.float32])


def install(course: Iterable[str] | None = None) -> None:
    """Take the snapshot (once; later calls do nothing). ``course``: the course modules the
    notebook's tests import (``autograder.chapters.activations``...); default: every chapter."""
    if "snap" not in Guard._state:
        _warm_up()
        Guard._state["snap"] = _take(course)
        Guard.seed(0)
