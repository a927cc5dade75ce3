r"""Markdown tables of evaluation reports, as the README shows them.

  python -m experiments.report_tables \
      --report=experiments/reports/evaluate.json \
      [--timing=experiments/reports/evaluate_timing.json] \
      [--ablations=experiments/reports/ablations.json]
"""

import json

from absl import app
from absl import flags

_REPORT = flags.DEFINE_string("report", "experiments/reports/evaluate.json",
                              "Report of experiments.evaluate.")
_TIMING = flags.DEFINE_string("timing", None, "A timed report, optional.")
_ABLATIONS = flags.DEFINE_string("ablations", None,
                                 "Ablation report, optional.")


def _rows(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)["results"]


def methods_table(rows, profiles) -> str:
  """Methods × benchmarks: PA-MPJPE / MPJPE / PVE (mm)."""
  methods = list(dict.fromkeys(r["method"] for r in rows))
  splits = list(dict.fromkeys(r["split"] for r in rows))
  lines = []
  for split in splits:
    lines.append(f"\n{split}: PA-MPJPE / MPJPE / PVE (mm), 24 joints\n")
    lines.append("| method | " + " | ".join(profiles) + " |")
    lines.append("|---" * (len(profiles) + 1) + "|")
    for method in methods:
      cells = []
      for profile in profiles:
        row = next(r for r in rows if (r["method"], r["split"],
                                       r["profile"]) == (method, split,
                                                         profile))
        cells.append(f"{row['pa_mpjpe']:.1f} / {row['mpjpe']:.1f} / "
                     f"{row['pve']:.1f}")
      lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def detail_table(rows, profile) -> str:
  """One profile: every metric, and the time per fit when measured."""
  lines = ["| method | split | PA-MPJPE | MPJPE | PA-MPJPE LSP14 | "
           "MPJPE LSP14 | PVE | 2D error (% box) | ms per fit |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in (r for r in rows if r["profile"] == profile):
    time = f"{r['ms_per_fit']:.3f}" if "ms_per_fit" in r else ""
    lines.append(
        f"| {r['method']} | {r['split']} | {r['pa_mpjpe']:.1f} | "
        f"{r['mpjpe']:.1f} | {r['pa_mpjpe_lsp14']:.1f} | "
        f"{r['mpjpe_lsp14']:.1f} | {r['pve']:.1f} | {r['error_2d']:.2f} | "
        f"{time} |")
  return "\n".join(lines)


def main(argv):
  del argv
  rows = _rows(_REPORT.value)
  profiles = list(dict.fromkeys(r["profile"] for r in rows))
  print(methods_table(rows, profiles))
  print("\nrealistic, all metrics\n")
  print(detail_table(rows, "realistic"))
  if _TIMING.value:
    print("\ntimed\n")
    print(detail_table(_rows(_TIMING.value), "realistic"))
  if _ABLATIONS.value:
    print("\nablations (realistic)\n")
    print(detail_table(_rows(_ABLATIONS.value), "realistic"))
    for r in _rows(_ABLATIONS.value):
      print(r["method"], r["split"], "per-step PA-MPJPE",
            r["per_step"]["pa_mpjpe"])


if __name__ == "__main__":
  app.run(main)
