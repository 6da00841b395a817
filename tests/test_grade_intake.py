"""Finding submissions: nbgrader's layout, LMS-named files and zips, and the checks on each file."""
import json
import zipfile

import nbformat

from autograder.grading.intake import check_notebook, find, student_id, unpack
from autograder.grading.inject import PASS
from autograder.grading.verdict import judge


def test_lms_names_give_student_before_first_underscore_and_latest_resubmission(tmp_path):
    for name in ["Jane Doe_123_assignsubmission_file_activations.ipynb", "doejohn_1_2_activations.ipynb",
                 "doejohn_1_2_activations-2.ipynb", "doejohn_1_2_activations-1.ipynb", "amy_1_2_notes.ipynb"]:
        (tmp_path / name).write_text("{}")
    subs = {s.student: s for s in find(tmp_path, ["activations"])}
    assert set(subs) == {"Jane-Doe", "doejohn", "amy"}
    assert subs["doejohn"].notebooks["activations"].name == "doejohn_1_2_activations-2.ipynb"
    assert "3 files" in subs["doejohn"].notes[0]
    assert subs["amy"].problem == "missing notebook"


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
    assert reasons == {"empty": "unreadable: empty file", "bad": "unreadable: invalid JSON",
                       "other": "unreadable: not a notebook"}
    assert student_id("  ../weird name!! ") == "weird-name"


def _executed(outputs):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 2}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    end = nbformat.v4.new_code_cell("end")
    end.outputs = [nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": "AUTOGRADER-END e\n"})]
    nb.cells = [cell, end]
    return nb


def test_points_need_the_cells_own_token_and_stderr_costs_nothing():
    tokens = {"tokens": {"t": "secret"}, "end": "e"}
    ok = {"output_type": "stream", "name": "stdout", "text": f"{PASS} t secret\n"}
    warn = {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"}
    forged = {"output_type": "stream", "name": "stdout", "text": f"{PASS} t guessed\n"}
    partial = {"output_type": "execute_result", "data": {"text/plain": "99"}, "metadata": {}, "execution_count": 1}
    assert judge(_executed([warn, ok]), tokens, {"t": 2.0}).tests["t"].score == 2.0
    assert judge(_executed([forged, partial]), tokens, {"t": 2.0}).tests["t"].score == 0.0
    assert judge(_executed([]), tokens, {"t": 2.0}).tests["t"].score == 0.0


def test_sandbox_binds_back_a_checkout_or_venv_that_lies_under_tmp(monkeypatch, tmp_path):
    """The sandbox's private /tmp must not hide Python or the package (CI may clone under /tmp),
    while the hidden folders are still mounted over afterwards."""
    import autograder
    from autograder.grading import sandbox

    repo = tmp_path / "checkout"
    (repo / "solutions").mkdir(parents=True)
    monkeypatch.setattr(autograder, "REPO_ROOT", repo)
    policy = sandbox.Policy(hidden=[repo / "solutions"], bwrap="/usr/bin/bwrap", memory_mb=None)
    cmd = policy.wrap(["python"])
    text = " ".join(cmd)
    assert f"--ro-bind {repo} {repo}" in text
    assert cmd.index("/tmp") < cmd.index(str(repo)) < cmd.index(str(repo / "solutions"))
