"""The student kit (autograder/student_kit.py): what a student with only the website
installs to run an exercise's tests.

Fast tests pin the rule that decides what the kit holds (whatever the test cells import,
followed through every import; the student-side packages whole; never the grading
machinery; no solution line), the wheel itself, the version stamp the release writes into
every notebook, and the message a notebook gives beside a kit of another release.

The slow tests do what a student does: a fresh virtual environment, outside the
repository, with only torch, nbgrader and the kit downloaded from the built website.
Every module the test cells import imports from the kit alone; a downloaded exercise
fails ``nbgrader validate`` on the NotImplementedError of an empty answer and passes once
filled in; a notebook of another release names both versions. The environment is made
once for the module (``pip --no-compile``, pip's cache): about a minute on our 2-core
machine when it is quiet, then about 25 s per ``nbgrader validate``.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from autograder import REPO_ROOT, __version__
from autograder import kit_version, student_kit
from autograder import notebook as nbfacts
from autograder.student_kit import GRADING, STUDENT_PACKAGES, KitError
from nbgrader_e2e import student_notebook

#: The exercise the slow tests run as a student (small and quick to validate).
ASSIGNMENT, NOTEBOOK = "01-activations", "activations.ipynb"


@pytest.fixture(scope="module")
def kit() -> student_kit.Kit:
    return student_kit.select(student_kit.released_notebooks())


def _test_cell_modules() -> set[str]:
    """First-party modules the released notebooks import (``from a import b``: ``a.b``
    when ``b`` is a module, else ``a``)."""
    names = student_kit.notebook_imports(student_kit.released_notebooks())
    return {n for n in names if n.split(".")[0] in student_kit.FIRST_PARTY and student_kit.module_file(n)}


def test_the_kit_holds_every_module_the_test_cells_import_and_what_they_import(kit):
    wanted = _test_cell_modules()
    assert {"autograder.checks", "autograder.chapters.softmax"} <= wanted
    assert wanted <= set(kit.modules)
    assert "autograder_kernel.recorder" in kit.modules  # imported by the checks, not by a test cell
    for package in STUDENT_PACKAGES:
        assert student_kit.package_modules(package) <= set(kit.modules), package


def test_the_kit_holds_no_grading_machinery(kit):
    assert not [m for m in kit.modules if student_kit.is_within(m, GRADING)]
    assert not [m for m in kit.modules if m.startswith(("autograder.referee", "autograder_kernel.server"))]
    for path in kit.files:
        assert not path.startswith(("autograder/grading/", "autograder/website/", "solutions/", "exercises/")), path
        assert path not in ("autograder/sphinxext.py", "autograder/release.py", "autograder/student_kit.py"), path


def _with_first_test_cell(tmp_path: Path, source: str) -> Path:
    """The released notebook with its first test cell's source replaced, in ``tmp_path``."""
    nb = nbfacts.read(REPO_ROOT / "exercises" / ASSIGNMENT / NOTEBOOK)
    next(c for c in nb.cells if nbfacts.kind(c) is nbfacts.CellKind.TEST).source = source
    path = tmp_path / NOTEBOOK
    path.write_text(json.dumps(nb))
    return path


def test_a_test_cell_that_reaches_the_grader_stops_the_kit_and_names_the_chain(tmp_path):
    path = _with_first_test_cell(tmp_path, "from autograder.chapters import activations as ch\n"
                                           "from autograder.grading import feedback\n")
    with pytest.raises(KitError, match=r"autograder\.grading\.feedback"):
        student_kit.select([path])


def test_a_notebook_importing_a_module_that_does_not_exist_stops_the_kit(tmp_path):
    path = _with_first_test_cell(tmp_path, "from autograder.checks.nowhere import check_it\n")
    with pytest.raises(KitError, match="autograder.checks.nowhere"):
        student_kit.select([path])


def test_a_module_added_to_the_checks_ships_with_no_list_to_update(tmp_path):
    repo = tmp_path / "repo"
    for name in ("autograder", "autograder_kernel", "exercises"):
        shutil.copytree(REPO_ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(REPO_ROOT / "pyproject.toml", repo)
    (repo / "autograder" / "checks" / "objects.py").write_text('"""Checks on objects."""\nimport torch\n')
    chosen = student_kit.select(student_kit.released_notebooks(repo), repo)
    assert "autograder.checks.objects" in chosen.modules
    assert "autograder/checks/objects.py" in chosen.files


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _shared_runs(files: list[str], blocks: list[str], run: int = 2) -> set[tuple[str, ...]]:
    """Runs of ``run`` consecutive code lines of a block that appear, consecutive, in a file
    (single lines such as ``loss.backward()`` are too common to mean anything)."""
    windows = {tuple(lines[i:i + run]) for text in files for lines in [_code_lines(text)]
               for i in range(len(lines) - run + 1)}
    return {tuple(lines[i:i + run]) for text in blocks for lines in [_code_lines(text)]
            for i in range(len(lines) - run + 1)} & windows


def test_the_kit_carries_no_solution_or_hidden_test(kit):
    files = [(REPO_ROOT / p).read_text(encoding="utf-8") for p in kit.files if p.endswith(".py")]
    blocks = [b for path in sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")) for c in nbfacts.read(path).cells
              for which in ("SOLUTION", "HIDDEN TESTS") for b in nbfacts.blocks(nbfacts.source(c), which)]
    assert len(blocks) >= 20
    assert not _shared_runs(files, blocks)
    longest = max(blocks, key=lambda b: len(_code_lines(b)))
    assert _shared_runs(files + [longest], blocks), "the comparison would not see a copied solution"


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        return {name: wheel.read(name) for name in wheel.namelist()}


def test_the_wheel_is_reproducible_and_its_record_and_metadata_are_right(kit):
    data = student_kit.wheel_bytes(kit)
    assert student_kit.wheel_bytes(kit) == data
    files = _unzip(data)
    info = f"autograder_kit-{__version__}.dist-info"
    assert set(kit.files) <= set(files)
    for line in files[f"{info}/RECORD"].decode().splitlines():
        name, digest, size = line.rsplit(",", 2)
        if name.endswith("RECORD"):
            continue
        expected = base64.urlsafe_b64encode(hashlib.sha256(files[name]).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}" and int(size) == len(files[name]), name
    metadata = files[f"{info}/METADATA"].decode()
    assert f"Name: autograder-kit\nVersion: {__version__}\n" in metadata
    assert "Requires-Dist: torch>=2.4,<3" in metadata and "Requires-Dist: numpy" in metadata
    assert "nbgrader" not in metadata
    assert b"Tag: py3-none-any" in files[f"{info}/WHEEL"]


def test_every_released_notebook_records_the_kit_version_in_its_set_up_cell_and_metadata():
    for path in student_kit.released_notebooks():
        nb = nbfacts.read(path)
        setup = next(c for c in nb.cells if nbfacts.kind(c) is nbfacts.CellKind.SETUP)
        assert nbfacts.source(setup).endswith(kit_version.stamp_line(__version__)), path
        assert nb.metadata.get(kit_version.METADATA_KEY) == __version__, path


def test_the_stamp_imports_nothing_so_it_runs_in_the_sandboxed_kernel():
    tree = ast.parse(kit_version.stamp_line("1.2.3"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))]
    namespace: dict = {}
    exec(compile(tree, "<stamp>", "exec"), namespace)
    assert namespace[kit_version.STAMP] == "1.2.3"


def test_stamping_a_source_without_a_set_up_cell_is_refused():
    nb = json.loads((REPO_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK).read_text())
    nb["cells"] = [c for c in nb["cells"] if nbfacts.kind(c) is not nbfacts.CellKind.SETUP]
    with pytest.raises(KitError, match="set-up cell"):
        student_kit.stamp_notebook(nb, "1.0")


def _fake_ipython(monkeypatch, user_ns: dict | None) -> None:
    shell = None if user_ns is None else types.SimpleNamespace(user_ns=user_ns)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_a_notebook_of_another_release_names_both_versions_and_what_to_install(monkeypatch):
    _fake_ipython(monkeypatch, {kit_version.STAMP: "0.0.9"})
    with pytest.raises(kit_version.KitMismatch) as raised:
        kit_version.check_release("0.1.0")
    text = str(raised.value)
    assert "released with the course's student kit 0.0.9" in text and "installed here is 0.1.0" in text
    assert "pip install autograder_kit-0.0.9-py3-none-any.whl" in text
    shown = raised.value._render_traceback_()
    assert shown[0].startswith("KitMismatch: ") and all(len(line) <= 80 for line in shown)
    assert not any("Traceback" in line or "File " in line for line in shown)


@pytest.mark.parametrize("user_ns", [None, {}, {kit_version.STAMP: "0.1.0"}, {kit_version.STAMP: 3}])
def test_no_stamp_or_the_same_release_or_no_ipython_lets_the_kit_import(monkeypatch, user_ns):
    _fake_ipython(monkeypatch, user_ns)
    kit_version.check_release("0.1.0")


def test_the_install_takes_torch_from_its_cpu_index_then_nbgrader_then_the_kit():
    lines = student_kit.install_commands("autograder_kit-0.1.0-py3-none-any.whl")
    assert len(lines) == 3
    assert lines[0] == 'pip install "torch>=2.4,<3" --index-url https://download.pytorch.org/whl/cpu'
    assert lines[1].startswith('pip install "nbgrader>=') and lines[2].endswith("autograder_kit-0.1.0-py3-none-any.whl")


# ---- a student with only the website ---------------------------------------------------

def _student_env(venv: Path, home: Path) -> dict[str, str]:
    """An environment that sees the kit's virtual environment and nothing of ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHON", "CONDA"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", HOME=str(home),
               JUPYTER_DATA_DIR=str(home / "jupyter"), IPYTHONDIR=str(home / "ipython"))
    return env


@pytest.fixture(scope="module")
def student(built_book, tmp_path_factory):
    """``(venv, env, folder)``: a fresh virtual environment with torch, nbgrader and the kit
    from the built site, its environment, and an empty working folder outside the repo."""
    import torch

    venv = tmp_path_factory.mktemp("kit-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile"]
    torch_spec = f"torch=={torch.__version__.split('+')[0]}"
    for what in ([torch_spec, student_kit.requirement("nbgrader")], [str(built_book / kit_version.SITE_FOLDER / kit_version.wheel_name(__version__))]):
        done = subprocess.run(pip + what, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    home = tmp_path_factory.mktemp("student-home")
    folder = tmp_path_factory.mktemp("student-work")
    return venv, _student_env(venv, home), folder


def _run(student, *cmd: str, timeout: int = 600) -> subprocess.CompletedProcess:
    venv, env, folder = student
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_every_module_the_test_cells_import_imports_from_the_kit_alone(student):
    venv = student[0]
    modules = sorted(_test_cell_modules())
    code = "\n".join([
        "import importlib, json, sys",
        f"mods = {modules!r}",
        "for m in mods: importlib.import_module(m)",
        "import autograder",
        "missing = [m for m in ('autograder.grading', 'autograder.sphinxext', 'autograder.release', 'autograder.website')",
        "           if importlib.util.find_spec(m) is not None]",
        "print(json.dumps({'file': autograder.__file__, 'version': autograder.__version__, 'path': sys.path, 'present': missing}))",
    ])
    done = _run(student, str(venv / "bin" / "python"), "-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(facts["file"]).is_relative_to(venv), facts["file"]
    assert facts["version"] == __version__
    assert not [p for p in facts["path"] if p and Path(p).resolve().is_relative_to(REPO_ROOT)], facts["path"]
    assert facts["present"] == [], facts["present"]


def _downloaded(built_book: Path, name: str) -> Path:
    """The notebook as the website offers it (Sphinx's ``_downloads/<hash>/``)."""
    found = sorted((built_book / "_downloads").glob(f"*/{name}"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_a_downloaded_exercise_fails_validate_on_an_empty_answer_and_passes_when_filled_in(student, built_book):
    venv, _, folder = student
    downloaded = _downloaded(built_book, NOTEBOOK)
    assert downloaded.read_bytes() == (REPO_ROOT / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes()
    empty = folder / "empty" / NOTEBOOK
    empty.parent.mkdir()
    shutil.copy(downloaded, empty)
    done = _run(student, str(venv / "bin" / "nbgrader"), "validate", str(empty))
    assert "NotImplementedError" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ModuleNotFoundError" not in done.stdout and "ImportError" not in done.stdout, done.stdout[-3000:]
    assert "Success!" not in done.stdout

    filled = student_notebook(ASSIGNMENT, NOTEBOOK, folder / "filled" / NOTEBOOK)
    done = _run(student, str(venv / "bin" / "nbgrader"), "validate", str(filled))
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_a_notebook_of_another_release_says_so_with_the_installed_kit(student):
    venv = student[0]
    cell = f'{kit_version.STAMP} = "0.0.9"\nfrom autograder.checks import check_example'
    done = _run(student, str(venv / "bin" / "ipython"), "--quick", "--colors=NoColor", "-c", cell)
    shown = " ".join((done.stdout + done.stderr).split())
    assert "KitMismatch: This notebook was released with the course's student kit 0.0.9" in shown, shown[-3000:]
    assert f"installed here is {__version__}" in shown and "pip install autograder_kit-0.0.9-py3-none-any.whl" in shown
