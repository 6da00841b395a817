"""Lighthouse (mobile profile) on every chapter page of the built website.

Serves the built site on 127.0.0.1 as a static host does (gzip for text files,
``autograder/website/server.py``), runs Lighthouse (the npm package pinned in
``package-lock.json``; ``make lighthouse`` installs it) against each chapter page with
Debian's ``/usr/bin/chromium`` (no browser is downloaded), and prints the four category
scores per page with the timings behind the performance score and the bytes the page
transferred.

Lighthouse's mobile profile: a 412x823 screen, a simulated slow 4G network (150 ms
round trip, 1.6 Mbit/s down) and a CPU slowed 4x.

Each page is measured ``--runs`` times (default 3) and the run with the median
performance score is reported, as Lighthouse's own documentation advises: one run on a
busy machine can be far off.

Usage::

    make lighthouse                          # installs Lighthouse, builds the site, runs this
    .venv/bin/python bench/lighthouse.py [--site _build/html] [--pages 03 07] [--runs 3] [--json DIR]

Targets (issue 19): performance >= 90 on every chapter page, accessibility and best
practices 100, SEO >= 95. The exit status is 1 when a page misses one.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder import REPO_ROOT
from autograder.website.server import serve

LIGHTHOUSE = REPO_ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = Path("/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 90, "accessibility": 100, "best-practices": 100, "seo": 95}
METRICS = {
    "first-contentful-paint": "FCP",
    "largest-contentful-paint": "LCP",
    "total-blocking-time": "TBT",
    "cumulative-layout-shift": "CLS",
    "speed-index": "SI",
}
CHROME_FLAGS = "--headless=new --no-sandbox --disable-dev-shm-usage --no-first-run " \
               "--disable-background-networking --disable-component-update --disable-sync"


@dataclass(frozen=True)
class PageReport:
    """One page's Lighthouse result: scores 0-100 per category, metric display values,
    bytes transferred, and the titles of the audits that cost points."""

    page: str
    scores: dict[str, int]
    metrics: dict[str, str]
    transferred: int
    failed: list[str]

    def misses(self) -> list[str]:
        return [f"{c} {self.scores[c]} < {t}" for c, t in TARGETS.items() if self.scores[c] < t]


def chapter_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in (site / "book").glob("[0-9][0-9]-*.html"))


def run_lighthouse(url: str, out: Path) -> dict:
    """Lighthouse's JSON report for ``url`` (mobile profile, the four categories)."""
    cmd = [
        str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={CHROME_FLAGS}",
    ]
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"lighthouse failed on {url}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def summarize(page: str, report: dict) -> PageReport:
    cats, audits = report["categories"], report["audits"]
    scores = {c: round(100 * (cats[c]["score"] or 0)) for c in CATEGORIES}
    metrics = {short: audits[key].get("displayValue", "") for key, short in METRICS.items()}
    transferred = int(audits["total-byte-weight"].get("numericValue", 0))
    in_scores = {ref["id"] for c in CATEGORIES for ref in cats[c]["auditRefs"] if ref.get("weight", 0) > 0}
    failed = sorted(f"{audits[a]['title']} ({audits[a]['score']})" for a in in_scores
                    if audits[a].get("score") is not None and audits[a]["score"] < 1
                    and audits[a].get("scoreDisplayMode") in ("binary", "numeric", "metricSavings"))
    return PageReport(page, scores, metrics, transferred, failed)


def print_table(reports: list[PageReport]) -> None:
    head = f"{'page':<28} {'perf':>4} {'a11y':>4} {'best':>4} {'seo':>4}  " + " ".join(f"{m:>7}" for m in METRICS.values()) + "   KiB"
    print(head)
    for r in reports:
        row = f"{r.page:<28} " + " ".join(f"{r.scores[c]:>4}" for c in CATEGORIES) + "  "
        row += " ".join(f"{r.metrics[m]:>7}" for m in METRICS.values()) + f" {r.transferred / 1024:6.0f}"
        print(row)
    for r in reports:
        if r.failed:
            print(f"{r.page}: audits below full marks: " + "; ".join(r.failed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO_ROOT / "_build" / "html", help="the built site (default: _build/html)")
    parser.add_argument("--pages", nargs="*", help="chapter numbers or page names to run (default: every chapter)")
    parser.add_argument("--runs", type=int, default=3, help="runs per page; the median one is reported (default 3)")
    parser.add_argument("--json", type=Path, help="keep each page's Lighthouse JSON report in this folder")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        parser.error(f"no built site at {args.site}: run `make` first")
    if not LIGHTHOUSE.exists():
        parser.error(f"Lighthouse is not installed ({LIGHTHOUSE}): run `make lighthouse`")
    if not CHROMIUM.exists():
        parser.error(f"no {CHROMIUM}: run scripts/system-packages.sh as root")
    pages = chapter_pages(args.site)
    if args.pages:
        pages = [p for p in pages if any(Path(p).name.startswith(sel) for sel in args.pages)]
    reports = []
    with serve(args.site) as base, tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        for page in pages:
            runs = []
            for i in range(args.runs):
                out = Path(tmp) / f"{Path(page).stem}-{i}.json"
                runs.append((summarize(page, run_lighthouse(base + page, out)), out))
                print(f"  {page} run {i + 1}: " + ", ".join(f"{c} {runs[-1][0].scores[c]}" for c in CATEGORIES),
                      file=sys.stderr, flush=True)
            report, out = sorted(runs, key=lambda r: r[0].scores["performance"])[len(runs) // 2]
            reports.append(report)
            if args.json:
                args.json.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out, args.json / f"{Path(page).stem}.json")
    print_table(reports)
    misses = [f"{r.page}: {m}" for r in reports for m in r.misses()]
    if misses:
        print("below target: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
