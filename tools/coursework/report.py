"""The class report, ``_build/grades/report.html``: for each assignment a histogram of the
scores and the pass rate of each question, as SVG drawn by matplotlib and inlined, so the page
works offline and loads nothing from elsewhere."""

from __future__ import annotations

import collections
import csv
import html
import io
from pathlib import Path


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def build(grades: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(grades / "totals.csv", newline="") as f:
        totals = [r for r in csv.DictReader(f) if r.get("status", "graded") == "graded"]
    with open(grades / "grades.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") not in ("unmatched", "skipped")]
    parts = []
    for name in sorted({r["assignment"] for r in totals}):
        mine = [r for r in totals if r["assignment"] == name]
        scores = [float(r["points"]) for r in mine]
        top = max(float(r["max_points"]) for r in mine)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
        ax1.hist(scores, bins=[b - 0.5 for b in range(int(top) + 2)], color="#4c72b0",
                 edgecolor="white")
        ax1.set(xlabel="points", ylabel="submissions", title=f"scores (out of {top:g})")
        ax1.set_xlim(-0.5, top + 0.5)
        passed, seen = collections.Counter(), collections.Counter()
        for r in rows:
            if r["assignment"] == name and r["question"]:
                seen[r["question"]] += 1
                passed[r["question"]] += r["status"] == "passed"
        qs = list(seen)
        rates = [passed[q] / seen[q] for q in qs]
        ax2.barh(qs[::-1], [100 * x for x in rates[::-1]], color="#55a868")
        ax2.set(xlabel="passed (%)", title="pass rate per question", xlim=(0, 100))
        fig.tight_layout()
        svg = _svg(fig)
        plt.close(fig)
        mean = sum(scores) / len(scores)
        parts.append(f"<section><h2>{html.escape(name)}</h2><p>{len(scores)} submissions, "
                     f"mean {mean:.1f} / {top:g}, full marks {sum(s == top for s in scores)}"
                     f"</p>{svg}</section>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Coursework: class report</title><style>body{font-family:sans-serif;"
            "max-width:1000px;margin:2em auto;font-size:16px}svg{max-width:100%;height:auto}"
            "</style></head><body><h1>Coursework: class report</h1>"
            f"<p>From {html.escape(str(grades / 'totals.csv'))}.</p>"
            + "".join(parts) + "</body></html>")
    out = grades / "report.html"
    out.write_text(page)
    return out
