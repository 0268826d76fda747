"""Rendering a report e-mail's charts and PDF: Pillow + reportlab, next to matplotlib.

    .venv/bin/python benchmarks/report_mail.py

Each measure runs in a fresh interpreter (imports are part of what a worker pays once):
the import, the first chart, then the mean of 50 charts and of 20 PDFs, and the process's
peak memory. matplotlib is measured the same way when it is installed (it is not a
dependency: ``pip install matplotlib==3.11.2`` in a scratch environment to compare).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OURS = r"""
import json, resource, time
t0 = time.perf_counter()
from agency.report_mail.charts import Bar, bar_chart
from agency.report_mail.document import PdfContent, Section, render_pdf
t1 = time.perf_counter()
bars = [Bar(f"Network {i}", 1000 + 517 * i, f"{1000 + 517 * i}", 800 + 300 * i) for i in range(6)]
chart = lambda: bar_chart("Reach per network", bars, "#1F4E79", ("This period", "Before"))
png = chart()
t2 = time.perf_counter()
for _ in range(50):
    png = chart()
t3 = time.perf_counter()
rows = [[f"Figure {i}", "12 000", "10 500", "+14,3 %"] for i in range(17)]
content = PdfContent("Rapport de Maison", "1-31 mars 2027", "Agence", "#1F4E79",
                     [("Portée", "5 000", "+400 %")] * 5, [png, png],
                     [Section("Indicateurs", ["a", "b", "c", "d"], rows)], "Agence")
pdf = render_pdf(content)
t4 = time.perf_counter()
for _ in range(20):
    pdf = render_pdf(content)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_chart_ms": (t2 - t1) * 1000,
                  "chart_ms": (t3 - t2) / 50 * 1000, "chart_bytes": len(png),
                  "pdf_ms": (t5 - t4) / 20 * 1000, "pdf_bytes": len(pdf),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

MATPLOTLIB = r"""
import io, json, resource, time
t0 = time.perf_counter()
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
t1 = time.perf_counter()
labels = [f"Network {i}" for i in range(6)]
now = [1000 + 517 * i for i in range(6)]
before = [800 + 300 * i for i in range(6)]
def chart():
    fig = Figure(figsize=(6, 1.6), dpi=200)
    ax = fig.subplots()
    ax.barh([y + 0.2 for y in range(6)], now, height=0.4, color="#1F4E79")
    ax.barh([y - 0.2 for y in range(6)], before, height=0.4, color="#BEC4CC")
    ax.set_yticks(range(6), labels)
    ax.set_title("Reach per network")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
png = chart()
t2 = time.perf_counter()
for _ in range(50):
    png = chart()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_chart_ms": (t2 - t1) * 1000,
                  "chart_ms": (t3 - t2) / 50 * 1000, "chart_bytes": len(png),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, python: str = sys.executable) -> dict[str, float] | None:
    env = {"PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return None
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    python = sys.argv[1] if len(sys.argv) > 1 else sys.executable
    ours = run(OURS, python)
    theirs = run(MATPLOTLIB, python)
    assert ours is not None, "the report renderer did not run"
    print(f"{'':28}{'Pillow + reportlab':>20}{'matplotlib':>14}")
    for key, label in (
        ("import_s", "import (s)"),
        ("first_chart_ms", "first chart (ms)"),
        ("chart_ms", "chart, warm (ms)"),
        ("chart_bytes", "chart PNG (bytes)"),
        ("pdf_ms", "PDF with 2 charts (ms)"),
        ("pdf_bytes", "PDF (bytes)"),
        ("rss_mb", "peak memory (MB)"),
    ):
        other = "" if theirs is None or key not in theirs else f"{theirs[key]:14.2f}"
        if theirs is None and key == "import_s":
            other = f"{'not installed':>14}"
        print(f"{label:28}{ours[key]:20.2f}{other}")


if __name__ == "__main__":
    main()
