r"""Markdown tables of evaluation reports, as the README shows them.

  python -m experiments.report_tables \
      --report=experiments/reports/evaluate.json \
      [--timing=experiments/reports/evaluate_timing.json] \
      [--ablations=experiments/reports/ablations.json]
  python -m experiments.report_tables --convergence \
      --report=experiments/reports/evaluate_converging.json \
      --against=experiments/reports/evaluate_v2.json
  python -m experiments.report_tables --tilted \
      --report=experiments/reports/tilted_refiner.json
  python -m experiments.report_tables --bent_hips \
      --report=experiments/reports/bent_hips_bundled.json
  python -m experiments.report_tables --steps=4,16 \
      --report=experiments/reports/evaluate_retrained_default.json \
      --baseline=experiments/reports/evaluate_upright.json
"""

import json

from absl import app
from absl import flags

_REPORT = flags.DEFINE_string("report", "experiments/reports/evaluate.json",
                              "Report of experiments.evaluate.")
_TIMING = flags.DEFINE_string("timing", None, "A timed report, optional.")
_ABLATIONS = flags.DEFINE_string("ablations", None,
                                 "Ablation report, optional.")
_CONVERGENCE = flags.DEFINE_bool(
    "convergence", False, "Instead: PA-MPJPE after steps of --report's "
    "methods (recorded for 16 steps), and × --against's SMPLify.")
_TILTED = flags.DEFINE_bool(
    "tilted", False, "Instead: each result's upright and tilted people "
    "(bodies more than 30° off the view's vertical) apart.")
_BENT_HIPS = flags.DEFINE_bool(
    "bent_hips", False, "Instead: each result's people with straight hips "
    "and with a hip bent more than 60° (sitting, squatting) apart.")
_BASELINE = flags.DEFINE_string(
    "baseline", None, "Instead: --report against this report of the same "
    "benchmarks and people, after each of --steps: the mean PA-MPJPE "
    "difference, the benchmarks it is better on, and each split's mean.")
_AGAINST = flags.DEFINE_string("against", None,
                               "A report with SMPLify on the same people.")
_STEPS = flags.DEFINE_list("steps", ["1", "4", "8", "16"],
                           "Steps shown by --convergence.")
_RATIO_STEPS = flags.DEFINE_list(
    "ratio_steps", ["4", "16"], "Steps at which --convergence divides by "
    "--against's SMPLify (the network's N first).")


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


def _largest_rise(curve) -> float:
  """The largest increase of PA-MPJPE from one step to the next, after
  step 1 (0 when it never rises)."""
  return max([0.0] + [b - a for a, b in zip(curve[1:], curve[2:])])


def convergence_table(rows, steps, against=None, ratio_steps=(4, 16)) -> str:
  """Method × benchmark: PA-MPJPE after each of `steps`, the largest rise
  between consecutive steps, the catastrophic share (% of fits over 150 mm
  after the first of `ratio_steps`, the network's N; reports from before it
  was measured show "–"), and with `against` (SMPLify's rows on the same
  people) the ratio to SMPLify after each of `ratio_steps`."""
  smplify = {(r["split"], r["profile"]): r["pa_mpjpe"]
             for r in against or () if r["method"] == "smplify"}
  head = ["method", "split", "profile"] + [f"step {n}" for n in steps] + [
      "largest rise", f"> 150 mm at {ratio_steps[0]} (%)"] + (
          [f"× SMPLify at {n}" for n in ratio_steps] if smplify else [])
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  for r in rows:
    curve = r["per_step"]["pa_mpjpe"]
    cells = [r["method"], r["split"], r["profile"]] + [
        f"{curve[n]:.1f}" for n in steps] + [
            f"{_largest_rise(curve):.1f}",
            f"{r['per_step']['catastrophic'][ratio_steps[0]]:.1f}"
            if "catastrophic" in r["per_step"] else "–"]
    if smplify:
      base = smplify[r["split"], r["profile"]]
      cells += [f"{curve[n] / base:.2f}" for n in ratio_steps]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def difference_summary(rows, baseline, steps) -> str:
  """`rows` against `baseline`'s rows of the same (method, split,
  profile): after each of `steps`, the mean PA-MPJPE difference (negative:
  `rows` better), on how many benchmarks `rows` is better, the range of
  the differences, and each split's mean of both."""
  base = {(r["method"], r["split"], r["profile"]): r for r in baseline}
  pairs = [(r, base[r["method"], r["split"], r["profile"]]) for r in rows]
  lines = []
  for n in steps:
    diffs = [r["per_step"]["pa_mpjpe"][n] - b["per_step"]["pa_mpjpe"][n]
             for r, b in pairs]
    better = sum(d < 0 for d in diffs)
    lines.append(f"step {n}: {sum(diffs) / len(diffs):+.2f} mm on average, "
                 f"better on {better} of {len(diffs)}, "
                 f"{min(diffs):+.1f} to {max(diffs):+.1f}")
    for split in dict.fromkeys(r["split"] for r, _ in pairs):
      means = [sum(x["per_step"]["pa_mpjpe"][n] for x in side) / len(side)
               for side in zip(*((r, b) for r, b in pairs
                                 if r["split"] == split))]
      lines.append(f"  {split}: {means[0]:.1f} against {means[1]:.1f}")
  return "\n".join(lines)


def group_table(rows, groups=("upright", "tilted")) -> str:
  """Method × benchmark: the final PA-MPJPE and catastrophic share of each
  of a pair of groups of people apart (`benchmarks.run_method`'s `upright`
  and `tilted`, or `straight_hips` and `bent_hips`; reports that have
  them)."""
  names = [group.replace("_", " ") for group in groups]
  lines = ["| method | split | profile | " + " | ".join(
      f"{name} people | PA-MPJPE | > 150 mm (%)" for name in names) + " |",
           "|---" * (3 + 3 * len(groups)) + "|"]
  for r in (r for r in rows if groups[1] in r):
    cells = [r["method"], r["split"], r["profile"]]
    for part in (r[group] for group in groups):
      cells += [str(part["people"]), f"{part['pa_mpjpe']:.1f}",
                f"{part['catastrophic']:.1f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv):
  del argv
  rows = _rows(_REPORT.value)
  if _TILTED.value and _BENT_HIPS.value:
    raise app.UsageError("--tilted or --bent_hips, not both")
  if _TILTED.value or _BENT_HIPS.value:
    print(group_table(rows, ("upright", "tilted") if _TILTED.value else
                      ("straight_hips", "bent_hips")))
    return
  if _BASELINE.value:
    print(difference_summary(rows, _rows(_BASELINE.value),
                             [int(n) for n in _STEPS.value]))
    return
  if _CONVERGENCE.value:
    print(convergence_table(rows, [int(n) for n in _STEPS.value],
                            _AGAINST.value and _rows(_AGAINST.value),
                            [int(n) for n in _RATIO_STEPS.value]))
    return
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
