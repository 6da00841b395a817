"""bench/training_speed.py runs end to end: the speed comparison on the stand-in, and the
accuracy run on files in the real format (generated here, since FashionMNIST cannot be
downloaded on our machines). Speed targets are printed by the script, never asserted here."""
import re
import subprocess
import sys
from pathlib import Path

from autograder.data import make_standin

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "training_speed.py"


def run_bench(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_speed_comparison_on_the_standin_prints_a_ratio():
    out = run_bench("--standin", "--speed-samples", "512", "--repeats", "1")
    assert "synthetic stand-in (NOT FashionMNIST)" in out
    assert "optimizer sgd" in out
    assert re.search(r"speed-up: \d+\.\d\dx", out)
    assert "test accuracy" not in out  # no accuracy claim without the real files


def test_accuracy_run_watches_a_validation_split_and_tests_once(tmp_path):
    make_standin(tmp_path, n_train=600, n_test=200)
    out = run_bench("--data", str(tmp_path), "--epochs", "2", "--speed-samples", "256", "--repeats", "1",
                    "--optimizer", "adam", "--val-per-class", "10")
    assert f"data: FashionMNIST from {tmp_path}" in out
    assert "optimizer adam" in out
    assert "accuracy run: 500 training images, 100 validation, 200 test" in out
    epochs = re.findall(r"epoch +(\d+): train loss (\d+\.\d+), validation accuracy (\d\.\d+)", out)
    assert [int(e) for e, _, _ in epochs] == [1, 2]
    assert out.count("test accuracy") == 1  # the test set is evaluated once, at the end
    final = float(re.search(r"test accuracy after 2 epochs: (\d\.\d+)", out).group(1))
    assert final > 0.5  # the stand-in is easy to learn


def test_the_bench_stands_alone_from_the_chapter_modules():
    # autograder.chapters is grading material, reworked on its own schedule
    assert "autograder.chapters" not in SCRIPT.read_text()


def test_missing_real_files_fall_back_to_the_standin_and_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = run_bench("--data", str(tmp_path / "empty"), "--speed-samples", "256", "--repeats", "1")
    assert "real FashionMNIST not found; timing on the stand-in, no accuracy run." in out
    assert "test accuracy" not in out
