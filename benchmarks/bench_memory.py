r"""Peak memory of `fit` and of the training step, per batch size.

  python -m benchmarks.bench_memory [--fit_batches=1,64,1024,8192,65536]
      [--train_batches=64,256,512]
      [--output=experiments/reports/bench_memory.json]

Each case runs in a fresh process (so one case's caches and allocator pools
do not count toward the next) and reports:
- XLA's compiled memory analysis of the jitted program
  (`jit(...).lower(...).compile().memory_analysis()`): its arguments,
  outputs and temporaries (bytes), and their sum less aliased (donated)
  buffers: what the device must hold while the program runs, as XLA
  assigned the buffers for this backend.
- Host resident memory (psutil / getrusage): before the case (imports,
  weights, body model, pose set loaded), its peak through compilation, and
  its peak through one run (the peak is monotone: the run's includes the
  compilation's). On CPU, the peak less the baseline is what the case
  really costs the host; on GPU/TPU the device figure is the one to read.

`fit` uses the bundled weights (the default config's network) on COCO-17
keypoints; the training step is configs/default.py's at the given batch
size. One JSON line per case, a table at the end, and the whole report in
--output.
"""

import json
import os
import resource
import subprocess
import sys

import jax
import jax.numpy as jnp
import psutil
from absl import app, flags

from lgd_jax.evaluation import timing

_FIT_BATCHES = flags.DEFINE_list("fit_batches",
                                 ["1", "64", "1024", "8192", "65536"],
                                 "Batch sizes of `fit`.")
_TRAIN_BATCHES = flags.DEFINE_list("train_batches", ["64", "256", "512"],
                                   "Batch sizes of the training step.")
_OUTPUT = flags.DEFINE_string("output",
                              "experiments/reports/bench_memory.json",
                              "Where to write the report ('' for nowhere).")
_CASE = flags.DEFINE_string("case", None, "Internal: run one case (fit:B or "
                            "train:B) in this process and print it.")

MIB = 2**20


def _rss() -> int:
  return psutil.Process().memory_info().rss


def _peak_rss() -> int:
  """The process's peak resident memory so far, bytes (Linux: KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _device_bytes(compiled) -> dict:
  stats = compiled.memory_analysis()
  sizes = {name: int(getattr(stats, f"{name}_size_in_bytes"))
           for name in ("argument", "output", "temp", "alias",
                        "generated_code")}
  sizes["total"] = (sizes["argument"] + sizes["output"] + sizes["temp"] -
                    sizes["alias"])
  return sizes


def _fit_case(batch: int):
  """(compile, run) of the jitted fit on `batch` people."""
  import lgd_jax  # pylint: disable=g-import-not-at-top
  from benchmarks import bench_fit  # pylint: disable=g-import-not-at-top
  from lgd_jax.training import trainer as training  # pylint: disable=g-import-not-at-top
  weights = lgd_jax.load_pretrained()
  xy = bench_fit.coco_keypoints(training.make_setup(weights.config), batch)
  jax.block_until_ready(xy)
  # The network's parameters as an argument, so that they count; the body
  # model's coefficients are constants of the program (in the host figure).
  fit = jax.jit(lambda params, xy: lgd_jax.fit(
      xy, params=weights._replace(params=params)))
  return (lambda: fit.lower(weights.params, xy).compile()), (
      lambda c: c(weights.params, xy))


def _train_case(batch: int):
  from configs import default  # pylint: disable=g-import-not-at-top
  from lgd_jax.training import trainer as training  # pylint: disable=g-import-not-at-top
  from lgd_jax.training import pose_set  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.data.batch_size = batch
  setup = training.make_setup(config)
  poses = jnp.asarray(pose_set.load_pose_set("train", config.pose_set).poses)
  step = training.make_train_step(setup, config, poses)
  state = training.place_state(setup, training.init_state(setup, config))
  key = jax.random.PRNGKey(0)
  jax.block_until_ready(state)
  return (lambda: step.lower(state, key).compile()), (
      lambda c: c(state, key))


def run_case(case: str) -> dict:
  """Sets up, compiles and runs one case in this process."""
  kind, batch = case.split(":")
  compile_fn, run_fn = {"fit": _fit_case, "train": _train_case}[kind](
      int(batch))
  baseline = _rss()
  compiled = compile_fn()
  after_compile = _peak_rss()
  jax.block_until_ready(run_fn(compiled))
  after_run = _peak_rss()
  device = _device_bytes(compiled)
  return {
      "case": kind, "batch": int(batch),
      "device_mib": {k: round(v / MIB, 2) for k, v in device.items()},
      "host_baseline_mib": round(baseline / MIB, 1),
      "host_peak_compile_mib": round(after_compile / MIB, 1),
      "host_peak_run_mib": round(after_run / MIB, 1),
      "host_peak_above_baseline_mib": round(
          max(after_run - baseline, 0) / MIB, 1),
      "backend": jax.default_backend(),
  }


def _in_fresh_process(case: str) -> dict:
  run = subprocess.run(
      [sys.executable, "-m", "benchmarks.bench_memory", f"--case={case}"],
      capture_output=True, text=True, check=False,
      env={**os.environ, "PYTHONPATH": os.pathsep.join(
          filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))})
  if run.returncode != 0:
    raise RuntimeError(f"case {case} failed:\n{run.stderr[-3000:]}")
  return json.loads(run.stdout.strip().splitlines()[-1])


def _table(results) -> str:
  lines = [("| case | batch | device: args | outputs | temporaries | total "
            "| host: baseline | peak (compile) | peak (run) | peak above "
            "baseline |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for r in results:
    d = r["device_mib"]
    lines.append(
        f"| {r['case']} | {r['batch']} | {d['argument']} | {d['output']} | "
        f"{d['temp']} | **{d['total']}** | {r['host_baseline_mib']} | "
        f"{r['host_peak_compile_mib']} | {r['host_peak_run_mib']} | "
        f"{r['host_peak_above_baseline_mib']} |")
  return "\n".join(lines) + "\n(MiB)"


def main(argv):
  del argv
  if _CASE.value:
    print(json.dumps(run_case(_CASE.value)), flush=True)
    return
  cases = ([f"fit:{b}" for b in _FIT_BATCHES.value] +
           [f"train:{b}" for b in _TRAIN_BATCHES.value])
  results = []
  for case in cases:
    results.append(_in_fresh_process(case))
    print(json.dumps(results[-1]), flush=True)
  print(_table(results))
  if _OUTPUT.value:
    timing.save_report(_OUTPUT.value, results=results)


if __name__ == "__main__":
  app.run(main)
