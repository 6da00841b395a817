"""The student kit: the part of the course package that an exercise notebook's test cells
need, as a wheel the website publishes, so that a student with only the website can run
the tests and ``nbgrader validate``.

What it holds is decided by rule, never by a list of files:

1. every module the released notebooks' test and set-up cells import, and every module of
   this repository those import in turn, at any depth (read from each file's ``import``
   statements, those inside functions included), with the packages above each one;
2. every module of the student-side packages (:data:`STUDENT_PACKAGES`), so that a module
   added there ships with them;
3. the data files ``pyproject.toml`` declares for a package the kit holds.

It never holds the grading machinery (:data:`GRADING`: the grader, the referee, the
kernel-side server, the release command, the website's extensions): :func:`select` refuses
a kit whose test cells reach one of those modules, naming the chain of imports. Nor does it
hold a solution: the released notebooks are what it is made from, and a test checks that no
line of a solution or a hidden test is in it. The checks compare against torch's own
functions, which every student has anyway.

The kit's version is the package's (``autograder.__version__``); its dependencies are the
package's (``pyproject.toml``), less nbgrader, which the student installs beside it.
``python -m autograder.student_kit --out DIR`` writes the wheel; the website's build
(:mod:`autograder.sphinxext`) publishes it under ``kit/``.
"""
from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import io
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import REPO_ROOT, __version__
from . import notebook as nbfacts
from .kit_version import DIST_NAME, METADATA_KEY, stamp_line, wheel_name

#: Packages whose every module is student-side (the checks and the chapters' rules).
STUDENT_PACKAGES = ("autograder.checks", "autograder.chapters")
#: Modules (and packages, with everything under them) the kit must never hold.
GRADING = ("autograder.grading", "autograder.referee", "autograder.release", "autograder.sphinxext",
           "autograder.book", "autograder.website", "autograder.student_kit", "autograder.__main__",
           "autograder_kernel.server")
#: Where notebooks, modules and pyproject.toml are read from.
FIRST_PARTY = ("autograder", "autograder_kernel")
#: A fixed time for every file in the wheel: the same sources give the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class KitError(Exception):
    """The kit cannot be made as the rule says; the message says why."""


@dataclass(frozen=True)
class Kit:
    """What the wheel holds: ``modules`` (dotted names), ``files`` (repository-relative
    paths, sources and data), the third-party ``imports`` its modules make, and its
    ``requires`` (requirement strings) and ``version``."""

    modules: tuple[str, ...]
    files: tuple[str, ...]
    imports: tuple[str, ...]
    requires: tuple[str, ...]
    version: str


# ---------------------------------------------------------------------------- imports

def module_file(name: str, repo: Path = REPO_ROOT) -> Path | None:
    """The file of first-party module ``name`` (``a/b.py`` or ``a/b/__init__.py``), or None."""
    base = repo.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_names(source: str, module: str | None = None, is_package: bool = False) -> set[str]:
    """Every module name ``source`` may import, absolute: ``import a.b`` gives ``a.b``;
    ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a module); relative imports
    are resolved against ``module``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = (module or "").split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {n for n in names if n}


def with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``: importing a module runs every package above it."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def notebook_imports(notebooks: list[Path]) -> set[str]:
    """Module names the test and set-up cells of ``notebooks`` import."""
    names = set()
    for path in notebooks:
        for cell in nbfacts.read(path).cells:
            if nbfacts.kind(cell) in (nbfacts.CellKind.TEST, nbfacts.CellKind.SETUP):
                names |= imported_names(nbfacts.source(cell))
    return names


def closure(start: set[str], repo: Path = REPO_ROOT) -> tuple[dict[str, str | None], set[str]]:
    """``({module: the module that imported it first (None for a start)}, third-party top
    names)`` for every first-party module reachable from ``start``."""
    seen: dict[str, str | None] = {}
    third_party: set[str] = set()
    todo = [(name, None) for name in sorted(start)]
    while todo:
        name, parent = todo.pop()
        if name.split(".")[0] not in FIRST_PARTY:
            third_party.add(name.split(".")[0])
            continue
        for step in with_parents(name):
            path = module_file(step, repo)
            if path is None or step in seen:
                continue
            seen[step] = parent if step == name else (parent or None)
            found = imported_names(path.read_text(encoding="utf-8"), step, path.name == "__init__.py")
            todo += [(n, step) for n in sorted(found)]
    return seen, third_party


def chain(module: str, seen: dict[str, str | None]) -> str:
    """``a <- b <- c``: how ``module`` was reached."""
    links = [module]
    while seen.get(links[-1]):
        links.append(seen[links[-1]])
    return " <- ".join(links)


def is_within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# ----------------------------------------------------------------------------- select

def package_modules(package: str, repo: Path = REPO_ROOT) -> set[str]:
    """Every module of ``package`` and its sub-packages."""
    folder = repo.joinpath(*package.split("."))
    found = set()
    for path in folder.rglob("*.py"):
        rel = path.relative_to(repo).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if all((repo.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            found.add(".".join(parts))
    return found


def pyproject(repo: Path = REPO_ROOT) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))


def data_files(packages: set[str], repo: Path = REPO_ROOT) -> set[str]:
    """The files ``pyproject.toml`` declares as package data for ``packages``."""
    declared = pyproject(repo).get("tool", {}).get("setuptools", {}).get("package-data", {})
    files = set()
    for package, patterns in declared.items():
        if package not in packages:
            continue
        folder = repo.joinpath(*package.split("."))
        for pattern in patterns:
            files |= {p.relative_to(repo).as_posix() for p in folder.glob(pattern) if p.is_file()}
    return files


def select(notebooks: list[Path], repo: Path = REPO_ROOT) -> Kit:
    """The kit for ``notebooks`` (the released exercises) by the rule above; :class:`KitError`
    when their imports reach the grading machinery or a module that is not there."""
    wanted = notebook_imports(notebooks)
    missing = sorted(n for n in wanted if n.split(".")[0] in FIRST_PARTY and module_file(n, repo) is None
                     and module_file(n.rpartition(".")[0], repo) is None)
    if missing:
        raise KitError(f"the notebooks import modules that do not exist: {', '.join(missing)}")
    start = {"autograder"} | wanted
    for package in STUDENT_PACKAGES:
        start |= package_modules(package, repo)
    seen, third_party = closure(start, repo)
    forbidden = sorted(m for m in seen if is_within(m, GRADING))
    if forbidden:
        raise KitError("the student kit would hold grading machinery: "
                       + "; ".join(chain(m, seen) for m in forbidden))
    modules = sorted(seen)
    packages = {m for m in modules if module_file(m, repo).name == "__init__.py"}
    files = {module_file(m, repo).relative_to(repo).as_posix() for m in modules} | data_files(packages, repo)
    requires = tuple(r for r in pyproject(repo)["project"]["dependencies"]
                     if _requirement_name(r) in third_party)
    return Kit(tuple(modules), tuple(sorted(files)), tuple(sorted(third_party)), requires, __version__)


def _requirement_name(requirement: str) -> str:
    name = requirement
    for stop in "<>=!~;[ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("-", "_")


def released_notebooks(repo: Path = REPO_ROOT) -> list[Path]:
    return sorted((repo / "exercises").glob("*/*.ipynb"))


def stamp_notebook(nb: dict, version: str = __version__) -> dict:
    """``nb`` (a source notebook's JSON) with the kit ``version`` recorded: the line
    :func:`autograder.kit_version.stamp_line` appended to its first locked set-up cell, and
    ``metadata.course_kit``. The release stamps its private copy of each source before
    nbgrader generates the student's notebook from it (so nbgrader's checksums include the
    line); ``solutions/`` stay as they are, and grading restores that cell from them."""
    setup = next((c for c in nb["cells"] if nbfacts.kind(c) is nbfacts.CellKind.SETUP), None)
    if setup is None:
        raise KitError("no locked set-up cell (the imports at the top) to record the kit's version in")
    text = nbfacts.source(setup).rstrip("\n")
    setup["source"] = f"{text}\n{stamp_line(version)}" if text else stamp_line(version)
    nb.setdefault("metadata", {})[METADATA_KEY] = version
    return nb


# ------------------------------------------------------------------------------ wheel

def _metadata(kit: Kit) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {DIST_NAME}",
        f"Version: {kit.version}",
        "Summary: The course's student kit: what the exercise notebooks' tests import "
        "(the checks; no grader, no solution).",
        f"Requires-Python: {pyproject()['project'].get('requires-python', '>=3.10')}",
    ]
    lines += [f"Requires-Dist: {r}" for r in kit.requires]
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel_bytes(kit: Kit, repo: Path = REPO_ROOT) -> bytes:
    """The wheel: ``kit.files`` and its ``.dist-info``, byte for byte the same for the same
    sources (fixed file times, sorted entries)."""
    info = f"{DIST_NAME.replace('-', '_')}-{kit.version}.dist-info"
    entries = [(f, (repo / f).read_bytes()) for f in kit.files]
    top = sorted({f.split("/")[0] for f in kit.files})
    entries += [
        (f"{info}/METADATA", _metadata(kit).encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: autograder.student_kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{info}/top_level.txt", ("\n".join(top) + "\n").encode()),
    ]
    record = "\n".join(_record_line(n, d) for n, d in entries) + f"\n{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            item = zipfile.ZipInfo(name, ZIP_TIME)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(item, data)
    return buffer.getvalue()


def build(out: Path, repo: Path = REPO_ROOT) -> Path:
    """Write the kit's wheel into folder ``out``; return its path."""
    kit = select(released_notebooks(repo), repo)
    out.mkdir(parents=True, exist_ok=True)
    path = out / wheel_name(kit.version)
    data = wheel_bytes(kit, repo)
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


#: PyTorch's index of CPU wheels (its default index on Linux holds CUDA builds, several GB).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def requirement(name: str, repo: Path = REPO_ROOT) -> str:
    """The course's requirement for ``name``: from ``pyproject.toml``'s dependencies, else
    from ``requirements.txt`` (nbgrader, which the package itself does not need)."""
    lines = list(pyproject(repo)["project"]["dependencies"])
    lines += [l.strip() for l in (repo / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if line and not line.startswith(("#", "-")) and _requirement_name(line) == _requirement_name(name):
            return line
    raise KitError(f"no requirement for {name} in pyproject.toml or requirements.txt")


def install_commands(wheel: str, repo: Path = REPO_ROOT) -> list[str]:
    """The three commands that set up a student's Python for the exercises: PyTorch (the
    CPU build; a GPU build comes from the index of its CUDA version), nbgrader (with
    JupyterLab), and the kit (``wheel``: its file name once downloaded, or its URL)."""
    return [
        f'pip install "{requirement("torch", repo)}" --index-url {TORCH_CPU_INDEX}',
        f'pip install "{requirement("nbgrader", repo)}"',
        f"pip install {wheel}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.student_kit", description="Write the student kit's wheel.")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write the wheel into")
    args = parser.parse_args(argv)
    try:
        path = build(args.out)
    except KitError as err:
        print(f"no kit: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
