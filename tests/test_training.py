"""Training the learned optimizer: the loss, the released code's layout, a
tiny run, data parallelism (resuming after SIGKILL:
tests/test_crash_training.py; starts and longer unrolls:
tests/test_convergence.py)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax.training import trainer as training
from configs import released_code
from configs import tiny
from xla_env import xla_flags

REPO = Path(__file__).resolve().parents[1]


def test_tiny_training_lowers_the_loss_and_exports_the_average(tmp_path):
  config = tiny.get_config()
  config.train_steps = 40
  config.eval_every = 40
  config.checkpoint_every = 39  # steps 39 and 40 (the last) among those kept
  config.data.batch_size = 64
  config.optimizer.warmup_steps = 1
  config.optimizer.learning_rate = 3e-3
  config.optimizer.ema_decay = 0.75
  training.train_and_evaluate(config, str(tmp_path))
  losses = [r["loss/total"] for r in _records(tmp_path)]
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])

  setup = training.make_setup(config)
  fresh = training.init_state(setup, config)
  chex.assert_trees_all_equal(fresh.averaged, fresh.params)  # it starts there
  manager = training.checkpoint_manager(tmp_path, config)
  template = training._checkpointed(fresh)  # pylint: disable=protected-access
  before, last = (manager.restore(step, args=ocp.args.StandardRestore(
      template)) for step in (39, 40))
  # Each step moves the average a quarter of the way to the new parameters.
  chex.assert_trees_all_close(
      last["averaged"],
      jax.tree.map(lambda a, p: 0.75 * a + 0.25 * p, before["averaged"],
                   last["params"]), rtol=1e-5, atol=1e-7)
  flat = lambda tree: jax.flatten_util.ravel_pytree(tree)[0]

  def exported(**kwargs):
    path = tmp_path / f"w{len(list(tmp_path.glob('w*.npz')))}.npz"
    assert training.export_pretrained(config, str(tmp_path), str(path),
                                      **kwargs) == 40
    return flat(lgd_jax.load_pretrained(path).params)

  stored = lambda tree: np.asarray(flat(tree), np.float16).astype(np.float32)
  # The export is the average (in float16), not the parameters; with
  # average_last=2 the mean of the two kept checkpoints' averages.
  np.testing.assert_array_equal(exported(), stored(last["averaged"]))
  assert not np.array_equal(exported(), stored(last["params"]))
  np.testing.assert_array_equal(exported(averaged=False),
                                stored(last["params"]))
  mean = jax.tree.map(lambda a, b: (a + b) / 2, before["averaged"],
                      last["averaged"])
  np.testing.assert_array_equal(exported(average_last=2), stored(mean))
  assert not np.array_equal(stored(mean), stored(last["averaged"]))
  kept = len(manager.all_steps())
  with pytest.raises(ValueError, match=f"keeps {kept} checkpoints"):
    exported(average_last=kept + 1)
  config.optimizer.ema_decay = 0.0  # not the run's config: a clear error
  with pytest.raises(ValueError, match="ema_decay"):
    exported()
  config.optimizer.ema_decay = 1.0
  with pytest.raises(ValueError, match=r"in \[0, 1\)"):
    training.make_train_step(setup, config, jnp.zeros((1, 72)))


def _records(workdir):
  with open(Path(workdir) / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  return list({r["step"]: r for r in records}.values())  # last per step


def test_eight_devices_match_one(tmp_path):
  """The sharded step equals one device's, with people from Θ_0 and every
  kind of warm start (perturbed, drifted, chained: slices of the sharded
  batch)."""
  script = textwrap.dedent("""
      import sys, jax, numpy as np
      from lgd_jax.training import trainer as training
      from configs import tiny
      config = tiny.get_config()
      config.train_inline_unroll = True  # the program training runs
      # Two path steps and a refiner step: every kind of step, and half
      # the inlined program (its compile is most of this test's time).
      config.num_steps = 2
      config.network.refine_after = config.num_steps
      config.train_unroll_steps = 3
      config.starts.perturbed_prob = 0.25
      config.starts.drifted_prob = 0.25
      config.starts.drifted_steps = (2, 3)
      config.starts.chained_prob = 0.25
      setup = training.make_setup(config)
      poses = jax.numpy.asarray(
          training.pose_set.load_pose_set("val").poses[:256])
      step = training.make_train_step(setup, config, poses)
      state = training.place_state(setup, training.init_state(setup, config))
      for _ in range(3):
        state, scalars = step(state, jax.random.PRNGKey(0))
      flat = jax.flatten_util.ravel_pytree(state.params)[0]
      np.save(sys.argv[1], np.asarray(flat))
      print(jax.device_count(), setup.mesh.size)
  """).replace("jax.flatten_util", "__import__('jax.flatten_util').flatten_util")
  results = {}
  for devices in (1, 8):
    out = tmp_path / f"params_{devices}.npy"
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "XLA_FLAGS": xla_flags(
               f"--xla_force_host_platform_device_count={devices}")}
    run = subprocess.run([sys.executable, "-c", script, str(out)], cwd=REPO,
                         env=env, capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().split()[-2:] == [str(devices)] * 2
    results[devices] = np.load(out)
  np.testing.assert_allclose(results[8], results[1], atol=2e-5, rtol=1e-4)


def _setup_and_batch(config):
  """The training setup of `config` and one batch of held-out poses."""
  setup = training.make_setup(config)
  poses = jnp.asarray(load_pose_set("val").poses[:64])
  return setup, lgd_jax.training.sampling.compiled_sample_batch(
      jax.random.PRNGKey(0), poses, setup.body, config.data)


def test_released_code_layout_loss_is_finite_and_uses_every_term():
  config = released_code.get_config()
  config.network.features = 32
  config.data.batch_size = 8
  setup, batch = _setup_and_batch(config)
  state = training.init_state(setup, config)
  unrolled = training.run_optimizer(setup, config, state.params, batch,
                                    config.num_steps, train=True,
                                    rng=jax.random.PRNGKey(1))
  assert unrolled.thetas.shape[0] == config.num_steps + 1
  loss, scalars = training.parameter_loss(setup, config, unrolled.thetas,
                                          batch)
  assert np.isfinite(float(loss))
  assert {"loss/joints3d", "loss/keypoints2d"} <= set(scalars)
  np.testing.assert_array_equal(
      training.joint_weights(["left_wrist", "coco_right_knee", "left_hip",
                              "nose"]), [8, 4, 2, 1])


def test_parameter_loss_is_zero_at_the_ground_truth():
  config = tiny.get_config()
  config.loss.joints3d = 0.3
  config.loss.keypoints2d = 0.3
  setup, batch = _setup_and_batch(config)
  target = lgd_jax.training.sampling.target_theta(batch)
  exact = jnp.stack([target] * 3)  # Θ_0..Θ_2 all at the ground truth
  loss, _ = training.parameter_loss(setup, config, exact, batch)
  assert float(loss) == pytest.approx(0.0, abs=1e-6)
  off = exact.at[1:, :, 10].add(0.1)  # one body-pose angle off by 0.1 rad
  loss_off, scalars = training.parameter_loss(setup, config, off, batch)
  assert float(scalars["loss/pose"]) == pytest.approx(0.1 / 69, rel=1e-3)
  assert float(scalars["loss/joints3d"]) > 0
  assert float(loss_off) > 0


def test_step_decay_weighs_step_n_by_gamma_to_the_n_minus_1():
  config = tiny.get_config()
  setup, batch = _setup_and_batch(config)
  exact = jnp.stack([lgd_jax.training.sampling.target_theta(batch)] * 3)
  first_off = exact.at[1, :, 10].add(0.1)
  second_off = exact.at[2, :, 20].add(0.3)
  both_off = first_off.at[2].set(second_off[2])
  loss = lambda thetas: float(training.parameter_loss(
      setup, config, thetas, batch)[0])
  first, second = loss(first_off), loss(second_off)
  assert first > 0 and second > 2 * first
  config.loss.step_decay = 0.5
  assert loss(both_off) == pytest.approx(first + 0.5 * second, rel=1e-5)
  config.loss.sum_over_steps = False
  assert loss(both_off) == pytest.approx((first + 0.5 * second) / 1.5,
                                         rel=1e-5)


def test_the_loss_on_the_unrolls_own_keypoints_equals_recomputing_them():
  """Training takes each step's body keypoints from the unroll (the ones
  its inner loss computed) and compiles the steps inline; the loss and its
  gradient are those of the loop with the keypoints computed again."""
  config = tiny.get_config()
  config.loss.joints3d = 0.3
  config.loss.keypoints2d = 0.3
  # Both phases' scans, each as short as it can be (the inline compile is
  # this test's time): 2 path steps, 1 refiner step.
  config.num_steps = 2
  config.network.refine_after = config.num_steps
  setup, batch = _setup_and_batch(config)
  flat, unflatten = jax.flatten_util.ravel_pytree(
      training.init_state(setup, config).params)
  # Off the initialisation (its last layers are zero: no updates at all).
  params = unflatten(flat + 0.05 * jax.random.normal(jax.random.PRNGKey(3),
                                                     flat.shape))

  run = lambda params, shared: lgd_jax.unroll.unroll(
      setup.network, params, setup.body, batch.keypoints, batch.confidence,
      config.num_steps + 1, with_points=shared, scan_unroll=shared)

  def loss(params, shared):
    unrolled = run(params, shared)
    return training.parameter_loss(setup, config, unrolled.thetas, batch,
                                   unrolled.points)[0]

  unrolled = jax.jit(run, static_argnums=1)(params, True)
  chex.assert_trees_all_close(
      unrolled.points, lgd_jax.theta.keypoints(unrolled.thetas, setup.body),
      atol=1e-5)
  value_and_grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
  shared, grad_shared = value_and_grad(params, True)
  again, grad_again = value_and_grad(params, False)
  assert float(again) > 0
  np.testing.assert_allclose(shared, again, rtol=1e-5)
  chex.assert_trees_all_close(grad_shared, grad_again, rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="loss_points"):
    lgd_jax.unroll.unroll(setup.network, params, setup.body, batch.keypoints,
                          batch.confidence, 2, with_points=True,
                          loss_points=np.arange(17))


class _StateBeforeChains(NamedTuple):
  """`TrainState` as checkpoints before chained starts held it."""

  step: jax.Array
  params: Any
  opt_state: Any


def test_checkpoints_written_before_chains_restore_and_export(tmp_path):
  config = tiny.get_config()
  setup = training.make_setup(config)
  state = training.init_state(setup, config)
  state = state._replace(step=jnp.array(7, jnp.int32),
                         params=jax.tree.map(lambda x: x + 0.5, state.params))
  manager = training.checkpoint_manager(tmp_path, config)
  manager.save(7, args=ocp.args.StandardSave(_StateBeforeChains(
      state.step, state.params, state.opt_state)))
  manager.wait_until_finished()
  restored = training.restore_or_init(setup, config, manager)
  assert int(restored.step) == 7 and restored.chains is None
  chex.assert_trees_all_equal(restored.params, state.params)
  assert training.export_pretrained(config, str(tmp_path),
                                    str(tmp_path / "w.npz")) == 7


def test_a_resumed_state_is_placed_like_a_fresh_one(tmp_path):
  # Placed alike, a resumed run lowers (and so compiles) as the fresh run
  # did, and reuses its compiled steps.
  config = tiny.get_config()
  setup = training.make_setup(config)
  fresh = training.init_state(setup, config)
  manager = training.checkpoint_manager(tmp_path, config)
  manager.save(0, args=ocp.args.StandardSave(
      training._checkpointed(fresh)))  # pylint: disable=protected-access
  manager.wait_until_finished()
  restored = training.restore_or_init(setup, config, manager)

  def lowered(state):
    placed = training.place_state(setup, state)
    return jax.jit(lambda s: jax.tree.map(lambda leaf: leaf + 1, s)).lower(
        placed).as_text()

  assert lowered(restored) == lowered(fresh)


def test_bench_train_writes_what_it_prints(tmp_path):
  output = tmp_path / "bench_train.json"
  run = subprocess.run(
      [sys.executable, "-m", "benchmarks.bench_train",
       "--configs=configs.tiny", "--steps=1", f"--output={output}"],
      cwd=REPO, check=True, timeout=1800, capture_output=True, text=True)
  report = json.loads(output.read_text())
  (stage,) = report["stages"]
  assert stage["config"] == "configs.tiny"
  assert stage["train_steps"] == tiny.get_config().train_steps
  assert stage["seconds_per_step"] > 0
  assert "configs.tiny: " in run.stdout and "-minute budget" in run.stdout
  assert report["machine"]["cores"] == os.cpu_count()
  assert report["machine"]["devices"] >= 1


def test_retraining_script_trains_the_bundled_network(tmp_path):
  """experiments/train_default.sh's stages 2 and 3 train the first network
  for the takeover `fit` runs with the exported file and with the bent legs
  the bundled file records, stage 3 over the unroll it records, every
  stage keeping an average that its export takes and seeing the inputs
  the bundled network sees, stage 1 with its seed, and export stage 3
  with the bundled network's config."""
  from configs import refiner_unroll8  # pylint: disable=import-outside-toplevel
  calls = tmp_path / "calls.txt"
  recorder = tmp_path / "python"
  recorder.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\n')
  recorder.chmod(0o755)
  subprocess.run(["bash", "experiments/train_default.sh", "out.npz"],
                 cwd=REPO, env={**os.environ, "PYTHON": str(recorder)},
                 check=True)
  lines = calls.read_text().splitlines()
  assert len(lines) == 6  # train and export, three stages
  exported = refiner_unroll8.get_config()
  bundled = lgd_jax.load_pretrained().config
  for field in ("refine_after", "refine_decay"):
    assert bundled.network[field] == exported.network[field]
  assert bundled.train_unroll_steps == exported.train_unroll_steps
  flag = f"--config.network.refine_after={exported.network.refine_after}"
  assert all(flag not in line for line in lines[:2])  # stage 1: its own
  assert all(flag in line.split() for line in lines[2:])
  legs = f"--config.data.bent_legs_prob={bundled.data.bent_legs_prob}"
  assert bundled.data.bent_legs_prob > 0
  assert [legs in line.split() for line in lines] == [False] * 2 + [True] * 4
  inputs = "--config.network.inputs=({})".format(",".join(
      f"'{name}'" for name in bundled.network.inputs))
  assert "residual" in bundled.network.inputs
  assert all(inputs in line.split() for line in lines)
  unroll = f"--config.train_unroll_steps={exported.train_unroll_steps}"
  assert [unroll in line.split() for line in lines] == [False] * 4 + [True] * 2
  # Every stage keeps an average, and its export takes it (each its own
  # decay); stage 1 draws with its own seed, the same for its export.
  for stage in (0, 1, 2):
    train, export = lines[2 * stage:2 * stage + 2]
    average = [flag for flag in train.split() if "ema_decay" in flag]
    assert len(average) == 1 and average[0] in export.split()
  seeds = [[flag for flag in line.split() if flag.startswith("--config.seed=")]
           for line in lines]
  assert seeds[0] == seeds[1] == ["--config.seed=1"] and not any(seeds[2:])
  configs = [line.split()[2] for line in lines]  # after "-m module"
  assert configs == ["--config=configs/refiner.py"] * 2 + [
      "--config=configs/refiner_tilted.py"] * 2 + [
          "--config=configs/refiner_converge.py",
          "--config=configs/refiner_unroll8.py"]
  assert "--output=out.npz" in lines[-1].split()
