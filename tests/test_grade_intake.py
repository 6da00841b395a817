"""Finding submissions: nbgrader's layout, LMS-named files and zips, and the checks on each file."""
import json
import zipfile

from autograder.grading.answer import Status
from autograder.grading.intake import check_notebook, find, student_id, unpack


def test_lms_names_give_student_before_first_underscore_and_latest_resubmission(tmp_path):
    for name in ["Jane Doe_123_assignsubmission_file_activations.ipynb", "doejohn_1_2_activations.ipynb",
                 "doejohn_1_2_activations-2.ipynb", "doejohn_1_2_activations-1.ipynb", "amy_1_2_notes.ipynb"]:
        (tmp_path / name).write_text("{}")
    subs = {s.student: s for s in find(tmp_path, ["activations"])}
    assert set(subs) == {"Jane-Doe", "doejohn", "amy"}
    assert subs["doejohn"].notebooks["activations"].name == "doejohn_1_2_activations-2.ipynb"
    assert "3 files" in subs["doejohn"].notes[0]
    assert subs["amy"].problem[0] is Status.MISSING_NOTEBOOK


def test_zip_is_unpacked_without_escaping_its_folder(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bob_1_activations.ipynb", "{}")
        z.writestr("../evil_1_activations.ipynb", "{}")
    root = unpack(archive, tmp_path / "unpacked")
    assert [s.student for s in find(root, ["activations"])] == ["bob"]
    assert not (tmp_path / "evil_1_activations.ipynb").exists()


def test_check_notebook_names_each_unreadable_kind(tmp_path):
    cases = {"empty": "", "bad": "{nope", "other": json.dumps({"a": 1})}
    reasons = {k: check_notebook((tmp_path / k).with_suffix(".ipynb"), {"t"}) for k in cases
               if (tmp_path / k).with_suffix(".ipynb").write_text(cases[k]) is not None}
    assert reasons == {"empty": (Status.UNREADABLE, "empty file"), "bad": (Status.UNREADABLE, "invalid JSON"),
                       "other": (Status.UNREADABLE, "not a notebook")}
    assert student_id("  ../weird name!! ") == "weird-name"


def test_a_deeply_nested_json_file_is_unreadable_not_a_crash(tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert check_notebook(path, {"t"})[0] is Status.UNREADABLE


def test_sandbox_binds_only_python_the_kernel_package_and_fresh_scratch(monkeypatch, tmp_path):
    """Nothing of the repository, the input or the output: the Python installation and the
    environment read-only (bound back after /tmp's fresh tmpfs, CI may clone under /tmp),
    size-capped scratch folders, the connection file and the referee's socket."""
    import sys

    from autograder import REPO_ROOT
    from autograder.grading import sandbox

    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(sys, "prefix", str(venv))
    policy = sandbox.Policy(bwrap="/usr/bin/bwrap", uid=61000, limits=sandbox.Limits(processes=64, scratch_mb=10))
    cmd = policy.wrap(["python", "-m", "ipykernel_launcher", "-f", "/run/autograder-kernel/kernel.json"],
                      tmp_path / "kernel.json", tmp_path / "referee.sock")
    text = " ".join(cmd)
    assert "--ro-bind / /" not in text and str(REPO_ROOT) + " " not in text + " "
    assert f"--ro-bind {venv} {venv}" in text
    assert cmd.index("/tmp") < cmd.index(str(venv))  # the tmpfs first, the environment bound back into it
    for inside in ("/tmp", "/home/student", "/dev/shm"):
        at = cmd.index(inside)
        assert cmd[at - 1] == "--tmpfs" and cmd[at - 2] == str(10 * 1024 * 1024)
    assert "--nproc=64" in text and "--cpu=" in text and "--unshare-net" in text and "--clearenv" in text
    assert "setpriv --reuid=61000 --regid=61000" in text
    assert f"--ro-bind {tmp_path / 'referee.sock'} /run/autograder-kernel/referee.sock" in text
    assert f"--ro-bind {sandbox.kernel_package()} /opt/autograder-kernel/autograder_kernel" in text


def test_each_worker_claims_a_kernel_user_no_one_else_holds(tmp_path):
    """Process limits count per user: two batches graded side by side must not share one."""
    from autograder.grading.sandbox import claim_uid

    first, second = claim_uid(tmp_path), claim_uid(tmp_path)
    assert first and second and first[0] != second[0]
    first[1].close()  # a worker that ends gives its user back
    third = claim_uid(tmp_path)
    assert third[0] == first[0]
    second[1].close()
    third[1].close()
