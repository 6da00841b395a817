"""Every assignment's solution through every test cell, hidden tests included, on every device here.

    .venv/bin/python scripts/check_devices.py [ASSIGNMENT ...]

For each assignment, the solution's answer cells run in a separate Python process that
serves the grader's channel (:mod:`autograder_kernel.server`), and each test cell runs in
this process through the referee (:func:`autograder.referee.cell.run_test_cell`), under a
secret seed: the grader's two-sided path without nbgrader, Jupyter or the sandbox, so it
runs wherever torch does. On a machine with a GPU the checks use CUDA as well as the CPU
(``AUTOGRADER_DEVICES`` narrows them). Prints one line per test cell; exits 1 if any fails.
"""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import notebook as nbfacts  # noqa: E402
from autograder.checks.context import Settings  # noqa: E402
from autograder.checks.devices import devices  # noqa: E402
from autograder.referee.cell import run_test_cell  # noqa: E402
from autograder.referee.session import Session  # noqa: E402
from autograder_kernel import codec  # noqa: E402

SERVER = """
import sys
namespace = globals()
exec(compile(open(sys.argv[1]).read(), "solution", "exec"), namespace)
from autograder_kernel.server import serve
while True:
    try:
        serve(sys.argv[2], sys.argv[3])
    except OSError:
        break
"""


def solution_code(source_nb) -> str:
    """The set-up and answer cells of a source notebook, solution markers removed."""
    cells = [c for c in source_nb.cells if nbfacts.kind(c) in (nbfacts.CellKind.SETUP, nbfacts.CellKind.ANSWER)]
    return "\n\n".join(nbfacts.solution_code(nbfacts.source(c)) for c in cells)


def check(assignment: str, tmp: Path) -> int:
    path = sorted((REPO / "solutions" / assignment).glob("*.ipynb"))[0]
    source_nb = nbfacts.read(path)
    code = tmp / f"{assignment}.py"
    code.write_text(solution_code(source_nb))
    sock_path = tmp / f"{assignment}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    nonce = secrets.token_hex(8)
    server = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SERVER), str(code), str(sock_path), nonce],
                              cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    settings = Settings(secret=secrets.randbits(62))
    setup = nbfacts.setup_imports(source_nb)
    failed = 0
    try:
        for gid, cell in nbfacts.test_cells(source_nb).items():
            listener.settimeout(300)
            conn, _ = listener.accept()
            hello, _ = codec.recv_frame(conn, time.monotonic() + 60)
            assert hello.get("hello") == nonce, hello
            deadline = time.monotonic() + 600
            session = Session(conn, lambda: deadline, tuple(devices()))
            result = run_test_cell(gid, nbfacts.source(cell), setup, session, settings).result
            session.close()
            conn.close()
            mark = "ok  " if result.passed else "FAIL"
            print(f"{mark} {assignment:18} {gid:28} {result.seconds:6.1f} s", flush=True)
            if not result.passed:
                failed += 1
                print(textwrap.indent(f"{result.error_type}: {result.message}", "       "), flush=True)
    finally:
        server.kill()
        listener.close()
    return failed


def main(argv: list[str]) -> int:
    import torch

    from autograder.release import assignments

    names = argv or assignments()
    print(f"torch {torch.__version__}; devices the checks use: {', '.join(devices())}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""), flush=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="check-") as tmp:
        for name in names:
            failed += check(name, Path(tmp))
    print(f"{'all test cells passed' if not failed else f'{failed} test cell(s) FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
