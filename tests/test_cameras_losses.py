"""Cameras, normalisation and the reprojection loss."""

import chex
import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax import losses


def test_weak_perspective_by_hand():
  camera = cameras.WeakPerspective(jnp.array(2.0), jnp.array([10.0, 20.0]))
  got = cameras.project(camera, jnp.array([[1.0, 2.0, 3.0]]))
  np.testing.assert_allclose(got, [[12.0, 16.0]])  # v = -2 * 2 + 20


def test_perspective_by_hand():
  camera = cameras.Perspective(jnp.array([1000.0, 900.0]),
                               jnp.array([320.0, 240.0]),
                               jnp.array([0.1, 0.0, 5.0]))
  got = cameras.project(camera, jnp.array([[0.5, 1.0, 0.2]]))
  # Camera coordinates: (0.5 + 0.1, -1, -0.2 + 5) = (0.6, -1, 4.8).
  np.testing.assert_allclose(got, [[1000 * 0.6 / 4.8 + 320,
                                    -900 / 4.8 + 240]], rtol=1e-6)


def test_camera_batching_broadcasts():
  points = jnp.ones((5, 7, 3))
  camera = cameras.WeakPerspective(jnp.arange(5.0), jnp.zeros((5, 2)))
  chex.assert_shape(cameras.project(camera, points), (5, 7, 2))
  camera = cameras.intrinsics_camera(640, 480, jnp.zeros((5, 3)) + 3.0)
  chex.assert_shape(cameras.project(camera, points), (5, 7, 2))


def test_default_focal_length_is_the_diagonal():
  camera = cameras.intrinsics_camera(640, 480, jnp.array([0.0, 0.0, 4.0]))
  np.testing.assert_allclose(camera.focal_length, [800.0, 800.0])
  np.testing.assert_allclose(camera.principal_point, [320.0, 240.0])
  # The body's origin projects to the principal point.
  np.testing.assert_allclose(cameras.project(camera, jnp.zeros((1, 3))),
                             [[320.0, 240.0]])


def test_points_behind_the_camera_stay_finite():
  camera = cameras.intrinsics_camera(640, 480, jnp.array([0.0, 0.0, 1.0]))
  points = jnp.array([[0.0, 0.0, 1.0], [0.3, 0.2, 5.0]])  # depth 0 and -4
  grad = jax.grad(lambda p: cameras.project(camera, p).sum())(points)
  chex.assert_tree_all_finite((cameras.project(camera, points), grad))


def test_normalization_round_trip_and_flags():
  rng = np.random.default_rng(0)
  xy = jnp.asarray(rng.uniform(100, 900, (3, 17, 2)), jnp.float32)
  conf = jnp.ones((3, 17)).at[1, 5:].set(0.0).at[2].set(0.0)
  norm = cameras.normalization(xy, conf)
  np.testing.assert_allclose(norm.invert(norm.apply(xy)), xy, rtol=1e-5)
  np.testing.assert_array_equal(norm.num_visible, [17, 5, 0])
  np.testing.assert_array_equal(norm.enough_visible, [True, False, False])
  unit = norm.apply(xy)[0]
  # The visible points span [-1, 1] along the box's longer side.
  span = unit.max(axis=0) - unit.min(axis=0)
  np.testing.assert_allclose(span.max(), 2.0, rtol=1e-5)
  np.testing.assert_allclose((unit.max(axis=0) + unit.min(axis=0)) / 2, 0,
                             atol=1e-6)
  chex.assert_tree_all_finite(norm)


def test_normalization_ignores_invisible_and_non_finite_points():
  xy = jnp.array([[[10.0, 10.0], [20.0, 30.0], [jnp.nan, 5.0], [1e9, 1e9]]])
  conf = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  norm = cameras.normalization(xy, conf)
  np.testing.assert_allclose(norm.center, [[15.0, 20.0]])
  np.testing.assert_allclose(norm.scale, [10.0])
  single = cameras.normalization(xy[:, :1], conf[:, :1])
  np.testing.assert_allclose(single.scale, [1.0])
  huge = cameras.normalization(jnp.array([[[-3e38, 0.0], [3e38, 1.0]]]),
                               jnp.ones((1, 2)))
  chex.assert_tree_all_finite(huge)


def test_normalization_is_image_size_invariant():
  rng = np.random.default_rng(1)
  xy = jnp.asarray(rng.uniform(0, 100, (17, 2)), jnp.float32)
  conf = jnp.ones(17)
  small = cameras.normalization(xy, conf).apply(xy)
  big = cameras.normalization(xy * 7.0 + 300.0, conf).apply(xy * 7.0 + 300.0)
  np.testing.assert_allclose(small, big, atol=1e-5)


def test_loss_by_hand():
  projected = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
  target = jnp.zeros((3, 2))
  conf = jnp.array([1.0, 0.5, 0.0])
  assert losses.reprojection_loss(projected, target, conf) == pytest.approx(
      12.5)
  # Geman-McClure: 0.5 * 4 * 25 / (4 + 25) with sigma = 2.
  assert losses.reprojection_loss(projected, target, conf,
                                  robust_sigma=2.0) == pytest.approx(
                                      0.5 * 4 * 25 / 29, rel=1e-6)


@pytest.mark.parametrize("robust_sigma", [None, 50.0])
def test_loss_and_gradient_finite_on_adversarial_inputs(robust_sigma):
  projected = jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0],
                         [4.0, 4.0]])
  target = jnp.array([[jnp.nan, jnp.nan], [jnp.inf, 0.0], [1e30, -1e30],
                      [3e38, 3e38], [5.0, 5.0]])
  for conf in (jnp.array([1.0, 1.0, 1.0, 1.0, 1.0]), jnp.zeros(5),
               jnp.array([0.0, jnp.nan, 1.0, 0.0, 1.0])):
    value, grad = jax.value_and_grad(losses.reprojection_loss, argnums=(0, 1))(
        projected, target, conf, robust_sigma)
    chex.assert_tree_all_finite((value, grad))
  zero, zero_grad = jax.value_and_grad(losses.reprojection_loss)(
      projected, target, jnp.zeros(5), robust_sigma)
  assert zero == 0 and not np.any(zero_grad)


def test_robust_loss_saturates_for_outliers():
  sigma = 10.0
  far = losses.reprojection_loss(jnp.array([[1e6, 0.0]]), jnp.zeros((1, 2)),
                                 jnp.ones(1), robust_sigma=sigma)
  assert far == pytest.approx(sigma**2, rel=1e-4)


def test_gradient_wrt_pose_shape_and_camera_matches_finite_differences():
  model = lgd_jax.load_body_model()
  regressor = lgd_jax.make_keypoint_regressor(
      model, kp.canonical_regressor(model))
  rng = np.random.default_rng(2)
  target = jnp.asarray(rng.normal(size=(kp.NUM_CANONICAL, 2)) * 50,
                       jnp.float32)
  conf = jnp.asarray(rng.random(kp.NUM_CANONICAL), jnp.float32)

  def loss(pose, betas, camera):
    points = lgd_jax.regress_keypoints(model, regressor, pose, betas)
    return losses.reprojection_loss(cameras.project(camera, points), target,
                                    conf, robust_sigma=100.0)

  args = (jnp.asarray(rng.normal(size=72) * 0.3, jnp.float32),
          jnp.asarray(rng.normal(size=10), jnp.float32),
          cameras.WeakPerspective(jnp.array(150.0), jnp.array([5.0, -3.0])))
  grads = jax.grad(loss, argnums=(0, 1, 2))(*args)
  chex.assert_tree_all_finite(grads)
  flat_args, unravel = ravel_pytree(args)
  flat_grad, _ = ravel_pytree(grads)
  f = lambda x: loss(*unravel(x))
  for seed in range(3):
    direction = jnp.asarray(
        np.random.default_rng(seed).normal(size=flat_args.shape), jnp.float32)
    eps = 1e-3
    numeric = (f(flat_args + eps * direction) -
               f(flat_args - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(flat_grad @ direction, numeric, rtol=3e-2)


def test_default_focal_per_image_for_two_images():
  """Two images: one diagonal focal per image (not read as fx, fy)."""
  camera = cameras.intrinsics_camera(np.array([640.0, 1280.0]),
                                     np.array([480.0, 720.0]),
                                     np.zeros((2, 3)))
  np.testing.assert_allclose(camera.focal_length,
                             [[800.0, 800.0], [1468.6047, 1468.6047]],
                             rtol=1e-6)
