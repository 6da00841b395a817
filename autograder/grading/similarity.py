"""Pairs of students whose answer code is suspiciously alike: ``similarity.csv`` and ``.html``.

The detector is copydetect (MIT): code is tokenized and filtered (every name becomes
``V``, every string ``S``, comments and layout vanish), then fingerprinted with k-grams
of ``NOISE`` filtered characters, so renamed variables and moved functions still match.
Every k-gram of the released exercise's own answer cells (stubs, docstrings) is
boilerplate and never counts; test cells never reach this module (the caller passes
answer cells and the cells a student added, :func:`autograder.notebook.answer_sources`).

For each pair, ``share_a`` is the fraction of a's fingerprinted answer code (boilerplate
excluded) found in b's. A pair is flagged when either share reaches the threshold. The
result is evidence for a person to look at: it changes no score and no status.

Reruns reuse what did not change: each pair's shares are cached under
``out/work/similarity/`` keyed by the sha256 of both students' code, of the boilerplate
and of the detector's settings (not by student names). Only flagged pairs are compared
again, to highlight the shared code.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

#: The cut-off for flagging, on the larger of the two shares. Measured with
#: ``bench/similarity_speed.py`` on 4 generated chapter 1 classes of 200, each with 10
#: copiers who renamed every variable and reordered the functions (honest students pick
#: each function's idiom by popularity and write it with their own habits): every copy
#: scored 1.00; of 79,560 honest pairs 0.56 % reached 0.8, 0.084 % reached 0.9 (about 17
#: pairs in a class of 200) and 0.015 % reached 0.95. 0.9 keeps every such copy and leaves
#: a list a person can read. Chapter 1's answers are one-liners: honest students do write
#: the same code, which is why a flag is a question, not an answer.
DEFAULT_THRESHOLD = 0.9
#: k-gram length in filtered characters; copydetect's own default noise and guarantee
#: thresholds (25 and 25: a winnowing window of 1, so every k-gram is kept and the
#: shares do not depend on Python's per-process string hashing).
NOISE = 25
#: At most this many pairs are drawn side by side in the HTML (the CSV has them all).
HTML_PAIRS = 100
CACHE_VERSION = "1"


@dataclass(frozen=True)
class Pair:
    """Two students (``student_a`` < ``student_b``) and how much of each one's answer code
    is found in the other's (0..1)."""

    assignment: str
    student_a: str
    student_b: str
    share_a: float  # fraction of a's answer code found in b's
    share_b: float

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)


@dataclass
class SimilarityReport:
    """What :func:`find_similar` found: the flagged pairs, highest first, and its files."""

    assignment: str
    threshold: float
    students: int
    pairs: list[Pair]
    csv_path: Path
    html_path: Path


def sha(text: str) -> str:
    """A short content key (96 bits of sha256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _fingerprint(code: str, boilerplate_hashes=None):
    from copydetect.detector import CodeFingerprint

    return CodeFingerprint("answer.py", NOISE, 1, boilerplate_hashes, language="python", fp=io.StringIO(code))


def _boilerplate_hashes(boilerplate: str):
    import numpy as np

    return np.unique(np.array(sorted(_fingerprint(boilerplate).hashes), dtype=np.int64))


class _Fingerprints:
    """Fingerprints made on demand (most of a rerun needs none)."""

    def __init__(self, codes: dict[str, str], boilerplate: str):
        self.codes, self.boilerplate, self._hashes, self._done = codes, boilerplate, None, {}

    def __getitem__(self, student: str):
        if student not in self._done:
            if self._hashes is None:
                self._hashes = _boilerplate_hashes(self.boilerplate)
            self._done[student] = _fingerprint(self.codes[student], self._hashes)
        return self._done[student]


def _shares(fa, fb) -> tuple[float, float]:
    from copydetect.detector import compare_files

    _, (sa, sb), _ = compare_files(fa, fb)
    return min(float(sa), 1.0), min(float(sb), 1.0)


def _rounded(shares: tuple[float, float]) -> list[float]:
    return [round(v, 4) for v in shares]


def _settings(boilerplate: str) -> str:
    from copydetect import __version__

    return json.dumps({"cache": CACHE_VERSION, "copydetect": __version__, "k": NOISE, "boilerplate": sha(boilerplate)})


def _load_cache(path: Path, settings: str) -> dict[str, list[float]]:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return saved.get("pairs", {}) if saved.get("settings") == settings else {}


def all_shares(out: Path, codes: dict[str, str], boilerplate: str,
               prints: _Fingerprints | None = None) -> dict[tuple[str, str], tuple[float, float]]:
    """``{(a, b): (share_a, share_b)}`` for every pair ``a < b``, from the cache where the
    two codes and the boilerplate are unchanged (the cache is rewritten with what this
    run used)."""
    from tqdm import tqdm

    cache_path = out / "work" / "similarity" / "pairs.json"
    settings = _settings(boilerplate)
    cached, used = _load_cache(cache_path, settings), {}
    digest = {s: sha(c) for s, c in codes.items()}
    prints = prints or _Fingerprints(codes, boilerplate)
    result = {}
    pairs = list(itertools.combinations(sorted(codes), 2))
    for a, b in tqdm(pairs, desc="similarity", unit="pair", disable=None, leave=False):
        swap = digest[a] > digest[b]
        key = f"{digest[b]}:{digest[a]}" if swap else f"{digest[a]}:{digest[b]}"
        if key not in used:
            used[key] = cached.get(key) or _rounded(_shares(prints[b], prints[a]) if swap else _shares(prints[a], prints[b]))
        first, second = used[key]
        result[(a, b)] = (second, first) if swap else (first, second)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps({"settings": settings, "pairs": used}))
    return result


def find_similar(out: Path, assignment: str, codes: dict[str, str], boilerplate: str,
                 threshold: float = DEFAULT_THRESHOLD) -> SimilarityReport:
    """Compare every pair of ``codes`` (student -> answer code) with ``boilerplate`` (the
    released exercise's answer-cell code) discounted; write ``out/similarity.csv`` and
    ``out/similarity.html`` with the pairs whose larger share is at least ``threshold``."""
    prints = _Fingerprints(codes, boilerplate)
    shares = all_shares(out, codes, boilerplate, prints)
    pairs = [Pair(assignment, a, b, sa, sb) for (a, b), (sa, sb) in shares.items()
             if max(sa, sb) >= threshold and max(sa, sb) > 0]
    pairs.sort(key=lambda p: (-p.score, p.student_a, p.student_b))
    report = SimilarityReport(assignment, threshold, len(codes), pairs, out / "similarity.csv", out / "similarity.html")
    write_csv(report)
    write_html(report, prints, boilerplate)
    return report


def write_csv(report: SimilarityReport) -> None:
    """One row per flagged pair: assignment, both students, each one's share."""
    with open(report.csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["assignment", "student_a", "student_b", "share_a", "share_b"])
        for p in report.pairs:
            writer.writerow([p.assignment, p.student_a, p.student_b, f"{p.share_a:.3f}", f"{p.share_b:.3f}"])


def _released_lines(boilerplate: str) -> set[str]:
    return {line.strip() for line in boilerplate.splitlines() if line.strip()}


def _unmark_released(code: str, slices, released: set[str]):
    """``slices`` (2 x N: starts, ends in ``code``) less every line of ``code`` that is
    exactly a line of the released exercise (a stub's def line, its docstring): a shared
    k-gram may run from given code into the student's, but only the student's is marked."""
    import numpy as np

    marked = np.zeros(len(code) + 1, dtype=bool)
    for start, end in zip(*slices):
        marked[int(start):int(end)] = True
    pos = 0
    for line in code.splitlines(keepends=True):
        if line.strip() in released:
            marked[pos:pos + len(line)] = False
        pos += len(line)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], marked.astype(np.int8)])))
    return edges.reshape(-1, 2).T if len(edges) else np.zeros((2, 0), dtype=int)


def highlighted(fa, fb, boilerplate: str) -> tuple[str, str]:
    """Both codes as HTML, the code each shares with the other inside ``<mark>``."""
    from copydetect.detector import compare_files
    from copydetect.utils import highlight_overlap
    from markupsafe import escape

    released = _released_lines(boilerplate)
    _, _, slices = compare_files(fa, fb)
    out = []
    for fp, sl in zip((fa, fb), slices):
        sl = _unmark_released(fp.raw_code, sl, released) if len(sl) and sl.size else sl
        out.append(highlight_overlap(fp.raw_code, sl, "<mark>", "</mark>", escape_html=True)[0] if len(sl) and sl.size
                   else str(escape(fp.raw_code)))
    return out[0], out[1]


def write_html(report: SimilarityReport, prints: _Fingerprints, boilerplate: str) -> None:
    """``similarity.html``: the flagged pairs, highest first, side by side."""
    from copydetect import __version__

    from .templates import render

    partners: dict[str, set[str]] = {}
    for p in report.pairs:
        partners.setdefault(p.student_a, set()).add(p.student_b)
        partners.setdefault(p.student_b, set()).add(p.student_a)
    shown = []
    for p in report.pairs[:HTML_PAIRS]:
        code_a, code_b = highlighted(prints[p.student_a], prints[p.student_b], boilerplate)
        others = {s: sorted(partners[s] - {p.student_a, p.student_b}) for s in (p.student_a, p.student_b)}
        shown.append({"pair": p, "code_a": code_a, "code_b": code_b, "others": others})
    report.html_path.write_text(render("similarity.html.j2", report=report, shown=shown, hidden=len(report.pairs) - len(shown),
                                       version=__version__, noise=NOISE), encoding="utf-8")
