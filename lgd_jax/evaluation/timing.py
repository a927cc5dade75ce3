"""Timing of jitted calls (benchmarks, evaluation)."""

import time

import jax
import numpy as np


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
