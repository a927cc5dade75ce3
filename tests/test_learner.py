"""The learned optimizer at fit time: fit(), its inputs, cameras, warm
starts, jit/vmap/grad (training: tests/test_training.py)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax import weights as weights_lib
from lgd_jax.body.cache import load_body

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


def test_residual_features_weigh_the_visible_points():
  projected = jnp.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
  keypoints = jnp.array([[[0.5, 2.5], [np.nan, np.nan], [5.0, 7.0]]])
  confidence = jnp.array([[0.5, 1.0, 1.0]])  # the NaN point counts as unseen
  np.testing.assert_allclose(
      optimizer.residual_features(projected, keypoints, confidence),
      [[0.25, -0.25, 0.0, 0.0, 0.0, -1.0]])


def test_residual_input_on_the_format_points_only_changes_nothing(
    tiny_weights, tmp_path):
  """A network that sees each keypoint's residual gets it at the same
  canonical places whether the inner loss runs on the format's points
  (`fit`) or on all of them, and a saved one fits through `fit`."""
  config = ml_collections.ConfigDict(tiny_weights.config.to_dict())
  config.network.inputs = ("x", "grad", "theta", "residual")
  network = lgd_jax.network.from_config(config)
  params = jax.tree.map(lambda x: x + 0.01, optimizer.init_params(
      network, jax.random.PRNGKey(1), kp.NUM_CANONICAL))
  confidence = np.ones((4, 17), np.float32)
  confidence[0, :3] = 0  # unseen points of the format too
  canon_xy, canon_conf = kp.to_canonical(_coco_people(4) / 300.0,
                                         jnp.asarray(confidence), "coco17")
  body = load_body(None, 10)
  runs = [optimizer.unroll(network, params, body, canon_xy, canon_conf, 3,
                           loss_points=points)
          for points in (None, kp.FORMATS["coco17"].canonical_index)]
  chex.assert_trees_all_close(runs[1], runs[0], rtol=1e-4, atol=1e-6)
  features = optimizer.keypoint_features(canon_xy, canon_conf)
  theta = runs[0].thetas[1]
  update = lambda residual: network.apply(params, features, theta, theta,
                                          residual=residual)
  assert float(jnp.abs(update(jnp.ones((4, 2 * kp.NUM_CANONICAL))) -
                       update(jnp.zeros((4, 2 * kp.NUM_CANONICAL)))).max()) > 0
  path = tmp_path / "residual.npz"
  weights_lib.save_pretrained(path, config, params)
  loaded = weights_lib.load_pretrained(path)
  for num_starts in (1, 2):  # the second start turned half round
    fitted = lgd_jax.fit(_coco_people(4), params=loaded, num_starts=num_starts)
    assert bool(fitted.fit_ok.all())


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
