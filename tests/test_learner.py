"""The learned optimizer: fit(), training, resume, data parallelism."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax import weights as weights_lib
from lgd_jax.body.cache import load_body
from lgd_jax.training import trainer as training
from configs import released_code
from configs import tiny

REPO = Path(__file__).resolve().parents[1]


def _coco_people(n, seed=0):
  """Keypoints of bodies posed from the pose set, projected to pixels."""
  model = lgd_jax.load_body_model()
  regressor = lgd_jax.make_keypoint_regressor(model,
                                              kp.canonical_regressor(model))
  poses = load_pose_set("val").poses[seed:seed + n]
  points = lgd_jax.regress_keypoints(model, regressor, poses,
                                     jnp.zeros((n, 10)))
  camera = lgd_jax.WeakPerspective(jnp.full(n, 300.0),
                                   jnp.tile(jnp.array([320.0, 240.0]),
                                            (n, 1)))
  return kp.from_canonical(lgd_jax.project(camera, points), "coco17")


def test_saved_weights_round_trip(tiny_weights, tmp_path):
  again = tmp_path / "again.npz"
  weights_lib.save_pretrained(again, tiny_weights.config, tiny_weights.params)
  loaded = weights_lib.load_pretrained(again)
  chex.assert_trees_all_equal(loaded.params, tiny_weights.params)
  assert loaded.config.to_dict() == tiny_weights.config.to_dict()


def test_fit_shapes_and_batching(tiny_weights):
  xy = _coco_people(6)
  result = lgd_jax.fit(xy.reshape(2, 3, 17, 2), params=tiny_weights)
  chex.assert_shape((result.pose, result.betas, result.joints,
                     result.keypoints_2d, result.loss_history, result.fit_ok),
                    [(2, 3, 72), (2, 3, 10), (2, 3, 24, 3), (2, 3, 17, 2),
                     (2, 3, 5), (2, 3)])
  chex.assert_shape(result.camera.translation, (2, 3, 2))
  single = lgd_jax.fit(xy[4], params=tiny_weights)
  np.testing.assert_allclose(single.pose, result.pose[1, 1], atol=1e-4)
  assert bool(result.fit_ok.all())


def test_fit_under_jit_vmap_and_grad(tiny_weights):
  xy = _coco_people(4)
  eager = lgd_jax.fit(xy, params=tiny_weights)
  jitted = jax.jit(lambda k: lgd_jax.fit(k, params=tiny_weights))(xy)
  mapped = jax.vmap(lambda k: lgd_jax.fit(k, params=tiny_weights))(xy)
  chex.assert_trees_all_close(jitted.pose, eager.pose, atol=1e-5)
  chex.assert_trees_all_close(mapped.pose, eager.pose, atol=1e-4)
  grad = jax.grad(lambda k: lgd_jax.fit(k, params=tiny_weights).pose.sum())(
      xy)
  chex.assert_shape(grad, xy.shape)
  chex.assert_tree_all_finite(grad)
  assert np.abs(grad).sum() > 0


def test_inner_loss_on_the_format_points_only_changes_nothing(tiny_weights):
  """`fit` evaluates the inner loss on the format's points only (speed);
  the canonical points it skips have zero confidence."""
  confidence = np.ones((4, 17), np.float32)
  confidence[0, :3] = 0
  canon_xy, canon_conf = kp.to_canonical(_coco_people(4) / 300.0,
                                         jnp.asarray(confidence), "coco17")
  body = load_body(None, 10)
  runs = [
      optimizer.unroll(tiny_weights.network, tiny_weights.params, body,
                       canon_xy, canon_conf, 3,
                       loss_points=points)
      for points in (None, kp.FORMATS["coco17"].canonical_index)
  ]
  chex.assert_trees_all_close(runs[1], runs[0], rtol=1e-4, atol=1e-6)
  assert float(np.abs(runs[0].thetas[-1]).max()) > 1e-3  # it moved


def test_too_few_keypoints_flagged_never_nan(tiny_weights):
  xy = np.array(_coco_people(3))
  confidence = np.ones((3, 17), np.float32)
  confidence[0, 5:] = 0  # 5 visible
  confidence[1] = 0  # none
  xy[1] = np.nan
  result = lgd_jax.fit(xy, confidence, params=tiny_weights)
  np.testing.assert_array_equal(result.fit_ok, [False, False, True])
  chex.assert_tree_all_finite(result)
  assert not np.any(result.pose[:2])


def test_perspective_camera_and_warm_start(tiny_weights):
  xy = _coco_people(2)
  intrinsics = lgd_jax.cameras.intrinsics_camera(640, 480, jnp.zeros(3),
                                                 focal_length=1000.0)
  result = lgd_jax.fit(xy, params=tiny_weights, camera=intrinsics)
  weak = lgd_jax.fit(xy, params=tiny_weights)
  # The perspective camera images the body's origin where the weak one does,
  # at the weak camera's pixels-per-metre.
  origin = lgd_jax.project(result.camera, jnp.zeros((2, 1, 3)))[:, 0]
  np.testing.assert_allclose(origin, weak.camera.translation, rtol=1e-5)
  unit = lgd_jax.project(result.camera, jnp.array([[[0.01, 0.0, 0.0]]] * 2))
  np.testing.assert_allclose((unit[:, 0, 0] - origin[:, 0]) / 0.01,
                             weak.camera.scale, rtol=1e-3)
  # The weak camera reprojects the fitted keypoints.
  points = lgd_jax.project(weak.camera, kp.from_canonical(
      lgd_jax.regress_keypoints(
          *load_body(None, 10), weak.pose, weak.betas),
      "coco17"))
  np.testing.assert_allclose(points, weak.keypoints_2d, atol=1e-2)
  # A warm start from a perspective result works like one from weak.
  from_perspective = lgd_jax.fit(xy, params=tiny_weights, init=result,
                                 num_steps=0)
  np.testing.assert_allclose(from_perspective.pose, weak.pose, atol=1e-5)
  # Starting from a fit's own result with zero steps returns that result.
  again = lgd_jax.fit(xy, params=tiny_weights, init=weak, num_steps=0)
  np.testing.assert_allclose(again.pose, weak.pose, atol=1e-5)
  np.testing.assert_allclose(again.camera.scale, weak.camera.scale,
                             rtol=1e-4)


def test_tiny_training_lowers_the_loss(tmp_path):
  config = tiny.get_config()
  config.train_steps = 40
  config.eval_every = 40
  config.checkpoint_every = 40
  config.data.batch_size = 64
  config.optimizer.warmup_steps = 1
  config.optimizer.learning_rate = 3e-3
  training.train_and_evaluate(config, str(tmp_path))
  losses = [r["loss/total"] for r in _records(tmp_path)]
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def _records(workdir):
  with open(Path(workdir) / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  return list({r["step"]: r for r in records}.values())  # last per step


# Resuming after SIGKILL: tests/test_crash_training.py.


def test_eight_devices_match_one(tmp_path):
  script = textwrap.dedent("""
      import sys, jax, numpy as np
      from lgd_jax.training import trainer as training
      from configs import tiny
      config = tiny.get_config()
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
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
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
  return setup, lgd_jax.training.sampling.sample_batch(
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


def test_first_fit_inside_jit_in_a_fresh_process(tiny_weights, tmp_path):
  # The bundled body model is loaded and cached on first use; that first use
  # may be inside the user's jit, and must not cache tracers.
  weights = tmp_path / "w.npz"
  weights_lib.save_pretrained(weights, tiny_weights.config, tiny_weights.params)
  script = textwrap.dedent(f"""
      import jax, jax.numpy as jnp, lgd_jax
      params = lgd_jax.load_pretrained({str(weights)!r})
      xy = jnp.tile(jnp.arange(17.0)[:, None], (2, 1, 2)) * 10
      result = jax.jit(lambda k: lgd_jax.fit(k, params=params))(xy)
      again = lgd_jax.fit(xy, params=params)  # the cache holds real arrays
      print(bool(jnp.allclose(result.pose, again.pose, atol=1e-5)))
  """)
  run = subprocess.run([sys.executable, "-c", script], cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, timeout=600)
  assert run.returncode == 0, run.stderr.decode()[-2000:]
  assert run.stdout.decode().split()[-1] == "True"
