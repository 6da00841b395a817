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
