"""``grades.csv``, the summary table printed at the end, and ``summary.html`` with a plot."""
from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections import Counter
from pathlib import Path

STATUS_ORDER = ("graded", "timeout", "memory limit", "crashed", "tampered", "unreadable", "wrong assignment",
                "metadata stripped", "missing notebook")


def rows(answers: list[dict], grade_ids: list[str], max_total: float) -> list[dict]:
    """One CSV row per answer: student, status, a column per test, total, max, note."""
    out = []
    for a in sorted(answers, key=lambda a: a["student"]):
        row = {"student": a["student"], "status": a["status"]}
        total = 0.0
        for gid in grade_ids:
            score = float(a["tests"].get(gid, [0.0])[0])
            row[gid] = f"{score:g}"
            total += score
        row["total"] = f"{min(total, max_total):g}"
        row["max"] = f"{max_total:g}"
        row["note"] = a.get("note", "")
        out.append(row)
    return out


def write_csv(path: Path, table: list[dict], grade_ids: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["student", "status", *grade_ids, "total", "max", "note"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


GRADED = ("graded", "timeout", "memory limit")


def failure_hints(answers: list[dict], top: int = 12) -> list[tuple[str, int]]:
    """The most common failure messages of graded notebooks: the ``Hint:`` line when there is
    one, else the first line with numbers masked."""
    counts: Counter = Counter()
    for a in answers:
        if a["status"] not in GRADED:
            continue
        for score, max_score, message in a["tests"].values():
            if score < max_score and message:
                hint = next((line.strip() for line in message.splitlines() if line.strip().startswith("Hint:")), None)
                first = re.sub(r"\d+(\.\d+)?", "#", message.splitlines()[0])[:160]
                counts[hint or first] += 1
    return counts.most_common(top)


def summary_text(table: list[dict], grade_ids: list[str], max_total: float) -> str:
    """The summary printed at the end: students per status, pass rate per test, mean total."""
    n = len(table) or 1
    lines = [f"{'status':<20} students"]
    for status, count in sorted(Counter(r["status"] for r in table).items(), key=lambda kv: STATUS_ORDER.index(kv[0]) if kv[0] in STATUS_ORDER else 99):
        lines.append(f"{status:<20} {count}")
    lines.append("")
    lines.append(f"{'test':<28} pass rate")
    for gid in grade_ids:
        passed = sum(1 for r in table if float(r[gid]) > 0)
        lines.append(f"{gid:<28} {passed}/{len(table)} ({100 * passed / n:.0f}%)")
    mean = sum(float(r["total"]) for r in table) / n
    lines.append(f"\nmean total {mean:.2f} / {max_total:g} over {len(table)} students")
    return "\n".join(lines)


def _plot(table: list[dict], grade_ids: list[str], max_total: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(table) or 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rates = [100 * sum(1 for r in table if float(r[g]) > 0) / n for g in grade_ids]
    left.barh(grade_ids[::-1], rates[::-1], color="#4a7")
    left.set_xlim(0, 100)
    left.set_xlabel("students passing (%)")
    left.set_title("pass rate per test")
    right.hist([float(r["total"]) for r in table], bins=max(1, int(max_total) + 1), range=(-0.5, max_total + 0.5), color="#47a")
    right.set_xlabel(f"total score (of {max_total:g})")
    right.set_ylabel("students")
    right.set_title("score histogram")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_summary(path: Path, assignment: str, table: list[dict], answers: list[dict], grade_ids: list[str],
                  max_total: float, sandboxed: bool) -> None:
    """``summary.html``: the summary table, the plot, the most common failure hints."""
    hints = "".join(f"<tr><td>{count}</td><td><pre>{html.escape(text)}</pre></td></tr>"
                    for text, count in failure_hints(answers))
    warning = "" if sandboxed else "<p style='color:#a00'><b>Graded WITHOUT a sandbox</b> (bubblewrap not available).</p>"
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Summary: {html.escape(assignment)}</title></head>"
            f"<body style='font-family:sans-serif;max-width:70em;margin:2em auto'><h1>{html.escape(assignment)}</h1>{warning}"
            f"<pre>{html.escape(summary_text(table, grade_ids, max_total))}</pre>"
            f"<img alt='pass rate per test and score histogram' src='data:image/png;base64,{_plot(table, grade_ids, max_total)}'>"
            f"<h2>Most common failures</h2><table><tr><th>students' tests</th><th>message</th></tr>{hints}</table>"
            f"</body></html>")
    path.write_text(page, encoding="utf-8")
