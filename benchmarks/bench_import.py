"""Import time of `lgd_jax` against its own dependencies.

Each import runs in a fresh process, alternating between the two, so both
see the same machine load; prints one JSON line with the medians and the
difference (the target: `import lgd_jax` within 0.3 s of
`import jax, flax, optax`).
"""

import json
import subprocess
import sys

from absl import app
from absl import flags

_REPEATS = flags.DEFINE_integer("repeats", 7, "Fresh processes per import.")

_TIMED = ("import time; start = time.perf_counter(); import {}; "
          "print(time.perf_counter() - start)")
_CASES = {"jax, flax, optax": "jax, flax, optax", "lgd_jax": "lgd_jax"}


def _seconds(modules: str) -> float:
  out = subprocess.run([sys.executable, "-c", _TIMED.format(modules)],
                       check=True, capture_output=True, text=True).stdout
  return float(out)


def main(argv):
  del argv
  times = {name: [] for name in _CASES}
  for _ in range(_REPEATS.value):
    for name, modules in _CASES.items():
      times[name].append(_seconds(modules))
  median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
  print(json.dumps({
      "median_s": {name: round(t, 3) for name, t in median.items()},
      "lgd_jax_minus_dependencies_s": round(
          median["lgd_jax"] - median["jax, flax, optax"], 3),
      "repeats": _REPEATS.value}))


if __name__ == "__main__":
  app.run(main)
