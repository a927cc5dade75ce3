"""Training survives SIGKILL at any moment and resumes exactly.

A tiny training run (configs/tiny.py with a refiner, perturbed and chained
starts and a moving average of the parameters; 40 steps, a checkpoint every
2 steps, no evaluation) runs uninterrupted twice, then once more in a
workdir where it is killed with SIGKILL three times and restarted after
each kill:
- while a checkpoint is being written (its `*.orbax-checkpoint-tmp` folder
  exists: on this machine writing a checkpoint takes most of the time);
- at a random moment after the restarted run's first new checkpoint;
- right after a checkpoint is finalised.
The kill points are random (the seed is printed; LGD_CRASH_SEED=... repeats
one). After each kill, the restarted run must resume from the last complete
checkpoint (never from the unfinished one, which has the highest step), and
every step it logs must have the uninterrupted run's loss, to the bit; the
final state (parameters, optimizer state, chains, average) must equal the
uninterrupted run's, to the bit. The two uninterrupted runs must agree to
the bit (training is a function of the seed: each step's randomness is
folded from the step number), and the state must be float32 throughout.

The processes share a JAX compilation cache, so only the first one compiles.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = 40

_RUN = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    workdir, cache = sys.argv[1], sys.argv[2]
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from lgd_jax.training import trainer as training
    from configs import ablation, tiny
    # A state with every part a checkpoint can hold: the chained starts'
    # people and the parameters' moving average besides the parameters.
    config = ablation.add_ingredients(tiny.get_config(), ["starts"])
    config.network.refine_after = config.num_steps
    config.train_unroll_steps = config.num_steps + 2
    config.starts.perturbed_prob = 0.25
    config.starts.chained_prob = 0.5
    config.starts.chain_restart_prob = 0.5
    config.optimizer.ema_decay = 0.9
    config.train_steps = int(sys.argv[3])
    config.checkpoint_every = 2
    config.eval_every = 10**6
    config.eval.splits = ()  # only the training step compiles
    state, _ = training.train_and_evaluate(config, workdir)
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    np.savez(workdir + "/final.npz", **{
        jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves})
""")


def _start(workdir, cache):
  return subprocess.Popen(
      [sys.executable, "-c", _RUN, str(workdir), str(cache), str(STEPS)],
      cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(process):
  _, err = process.communicate(timeout=300)
  assert process.returncode == 0, err.decode()[-3000:]


def _records(workdir):
  """Every line of metrics.jsonl, in order (a killed run's and its restart's
  records of the same step both stay)."""
  path = Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  with open(path) as f:
    return [json.loads(line) for line in f]


def _checkpoints(workdir):
  """(complete steps, steps of unfinished writes) on disk."""
  folder = Path(workdir) / "checkpoints"
  names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
  complete = sorted(int(n) for n in names if n.isdigit())
  unfinished = sorted(int(n.split(".")[0]) for n in names if "tmp" in n)
  return complete, unfinished


def _final(workdir):
  with np.load(Path(workdir) / "final.npz") as data:
    return {k: data[k] for k in data.files}


def _kill_when(process, condition, timeout=3600):
  """SIGKILLs `process` as soon as `condition()` holds (polled every ms).
  `timeout` only guards against a hung run: a slow (loaded) machine must
  not fail the test."""
  deadline = time.time() + timeout
  while not condition():
    if process.poll() is not None:
      raise AssertionError("the run ended before the kill point: "
                           + process.stderr.read().decode()[-2000:])
    assert time.time() < deadline, "kill point never reached"
    time.sleep(0.001)
  process.send_signal(signal.SIGKILL)
  process.wait()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache):
  """Two uninterrupted runs: (workdir of the first, of the second)."""
  first = tmp_path_factory.mktemp("straight")
  _finish(_start(first, cache))  # compiles, filling the cache
  second = tmp_path_factory.mktemp("straight_again")
  _finish(_start(second, cache))
  return first, second


def test_two_runs_are_bitwise_identical_and_float32(uninterrupted):
  first, second = uninterrupted
  a, b = _final(first), _final(second)
  assert a.keys() == b.keys() and len(a) > 10
  for part in (".params", ".opt_state", ".chains", ".averaged"):
    assert any(key.startswith(part) for key in a), part
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    expected = np.int32 if key.startswith(".step") or key.endswith(
        ".count") else np.float32
    assert a[key].dtype == expected, (key, a[key].dtype)
  assert int(a[".step"]) == STEPS
  losses = [[r["loss/total"] for r in _records(w)] for w in (first, second)]
  assert len(losses[0]) == STEPS and losses[0] == losses[1]


def test_killed_three_times_resumes_exactly(uninterrupted, cache, tmp_path):
  seed = int(os.environ.get("LGD_CRASH_SEED", random.randrange(10**6)))
  rng = random.Random(seed)
  print(f"LGD_CRASH_SEED={seed}")
  straight = {r["step"]: r for r in _records(uninterrupted[0])}
  workdir = tmp_path / "killed"

  def complete():
    return _checkpoints(workdir)[0]

  def while_writing(start):
    # A checkpoint past the resume point is being written.
    step = start + rng.randrange(2, 8, 2)
    return lambda: any(s >= step for s in _checkpoints(workdir)[1])

  def at_random_moment(start):
    delay, since = rng.uniform(0.0, 0.4), []

    def condition():
      if not since and any(s > start for s in complete()):
        since.append(time.time())  # the first new checkpoint is complete
      return bool(since) and time.time() - since[0] >= delay
    return condition

  def right_after_a_checkpoint(start):
    step = start + rng.randrange(2, 8, 2)
    return lambda: any(s >= step for s in complete())

  # The first kill point is retried (rarely needed) until the kill really
  # left a checkpoint unfinished.
  plan = [("while writing", while_writing)] * 3 + [
      ("at a random moment", at_random_moment),
      ("right after a checkpoint", right_after_a_checkpoint)]
  kills, resumed_from = [], []
  process, start = _start(workdir, cache), 0
  while plan:
    name, make_condition = plan.pop(0)
    logged = len(_records(workdir))
    _kill_when(process, make_condition(start))
    new = _records(workdir)[logged:]
    assert new and new[0]["step"] == start + 1, (
        f"the run started at step {new and new[0]['step']}; the last "
        f"complete checkpoint was {start}")
    resumed_from.append(start)
    done, unfinished = _checkpoints(workdir)
    kills.append((name, max(done), unfinished))
    if name == "while writing":
      if not unfinished:
        continue  # the write finished as the kill landed: try again
      plan = [p for p in plan if p[0] != "while writing"]
    # Restart: it must go on from the last complete checkpoint, never from
    # an unfinished one (whose step is higher).
    process, start = _start(workdir, cache), max(done)
  logged = len(_records(workdir))
  _finish(process)
  assert _records(workdir)[logged]["step"] == start + 1
  resumed_from.append(start)
  print(f"kills (where, last complete checkpoint, unfinished): {kills}; "
        f"runs began after steps {resumed_from}")
  assert any(name == "while writing" and unfinished
             for name, _, unfinished in kills), kills
  assert len(kills) >= 3
  # Every record of every process equals the uninterrupted run's, to the bit.
  for record in _records(workdir):
    assert record["loss/total"] == straight[record["step"]]["loss/total"], (
        record["step"])
  final, expected = _final(workdir), _final(uninterrupted[0])
  assert final.keys() == expected.keys()
  for key in final:
    np.testing.assert_array_equal(final[key], expected[key], err_msg=key)
