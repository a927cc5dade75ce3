"""How the suite's processes compile.

Most of the suite's time is XLA compiling (each fit program takes seconds),
so every process of a run (the test processes, their xdist workers and the
CLI and training subprocesses they start, which inherit the environment;
set up in conftest.py):
- shares one compilation cache, so a program compiled once (before
  `jax.clear_caches()` between modules, or in another process) is loaded,
  not compiled again; a new folder each run, so nothing carries over;
- compiles without LLVM's optimizations (about a third less time per test
  file; programs run slower, which tests on tiny batches don't notice) and
  with XLA:CPU's older fusion code generator (small programs, as every
  operation run outside `jit` is, compile faster: the README's "Tests").
Tests that set XLA_FLAGS for a subprocess add to `xla_flags()`, so that
processes whose bits are compared compile alike.
"""

import os

CACHE_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
FAST_COMPILE = ("--xla_backend_optimization_level=0 "
                "--xla_cpu_use_fusion_emitters=false")


def xla_flags(*extra: str) -> str:
  """This run's XLA_FLAGS with `extra` flags added."""
  return " ".join([os.environ.get("XLA_FLAGS", ""), *extra]).strip()
