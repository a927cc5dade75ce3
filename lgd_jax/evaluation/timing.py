"""Timing of jitted calls (benchmarks, evaluation)."""

import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax.files import save_json


def processor(cpuinfo: str = "/proc/cpuinfo") -> dict:
  """The processor's model name and whether it has AVX-512, from Linux's
  `cpuinfo` (elsewhere what `platform` knows, and None): the 2-core
  machines that run the benchmarks are not all one CPU."""
  model = platform.processor() or platform.machine()
  try:
    with open(cpuinfo, encoding="utf-8") as info:
      first_cpu = info.read().split("\n\n")[0]
  except OSError:
    return {"cpu_model": model, "avx512": None}
  fields = dict((key.strip(), value.strip()) for key, value in (
      line.split(":", 1) for line in first_cpu.splitlines() if ":" in line))
  return {"cpu_model": fields.get("model name", model),
          "avx512": ("avx512f" in fields["flags"].split() if "flags" in fields
                     else None)}


def matmul_gflops(size: int = 1024, min_seconds: float = 0.3) -> float:
  """GFLOP/s of a jitted (size, size) float32 matrix product on the default
  device: the machine's speed when a report was written, which the
  network's cost follows (README, "Speed")."""
  a = jnp.ones((size, size), jnp.float32)
  seconds = median_seconds(jax.jit(jnp.matmul), a, a,
                           min_seconds=min_seconds)
  return 2 * size**3 / seconds / 1e9


def machine() -> dict:
  """What a benchmark's figures depend on, for its report."""
  return {"cpu": platform.machine(), **processor(),
          "cores": os.cpu_count(), "backend": jax.default_backend(),
          "devices": jax.device_count(), "jax": jax.__version__,
          "numpy": np.__version__,
          "matmul_gflops": round(matmul_gflops(), 1)}


def save_report(path, **fields) -> None:
  """Writes a benchmark's report: its fields and the `machine` they were
  measured on."""
  save_json(path, {"machine": machine(), **fields})


def median_seconds(fn, *args, min_seconds: float = 1.0,
                   min_calls: int = 5) -> float:
  """Median seconds per call of `fn(*args)`, after compilation and one
  warm-up call, over at least `min_seconds` and `min_calls` calls."""
  jax.block_until_ready(fn(*args))
  jax.block_until_ready(fn(*args))
  times, start = [], time.perf_counter()
  while time.perf_counter() - start < min_seconds or len(times) < min_calls:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def interleaved_median_seconds(fns: dict, *args, calls: int = 200) -> dict:
  """Median seconds per call of each `fn(*args)` of `fns` (name -> fn),
  calling them in turn, so that all of them see the same machine load:
  ratios between them hold on a busy machine too."""
  for fn in fns.values():
    jax.block_until_ready(fn(*args))
    jax.block_until_ready(fn(*args))
  times = {name: [] for name in fns}
  for _ in range(calls):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  return {name: float(np.median(t)) for name, t in times.items()}

