"""People lying across the image fitted turned upright: Θ turned in the
image, the body axis's angle, `unroll_best_start`'s turn and `fit`'s
threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax.body.cache import body_of
from lgd_jax.training import sampling
from lgd_jax.training.pose_set import load_pose_set
from configs import default


@pytest.fixture(scope="module")
def body():
  return body_of(lgd_jax.load_body_model())


@pytest.fixture(scope="module")
def batch(body):
  """People of the held-out clips as training draws them (any heading)."""
  data = default.get_config().data
  data.batch_size = 128
  return sampling.compiled_sample_batch(
      jax.random.PRNGKey(5), jnp.asarray(load_pose_set("val").poses[:200]),
      body, data)


def _turned_points(points, angle):
  """(B, C, 2) points turned by (B,) radians from the image's x axis
  towards its y axis, written out by hand."""
  cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
  x, y = points[..., 0], points[..., 1]
  return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def test_a_theta_turned_in_the_image_projects_turned(body):
  theta = 0.3 * jax.random.normal(jax.random.PRNGKey(4), (6, 85))
  # Shapes far from the mean move the root joint the body turns about.
  theta = theta.at[:, 72:82].set(
      1.5 * jax.random.normal(jax.random.PRNGKey(5), (6, 10)))
  angle = np.array([0.0, 0.4, -1.3, 2.0, 3.1, -2.9], np.float32)
  _, projected = theta_lib.keypoints(theta, body)
  turned = theta_lib.turned_in_image(theta, angle, body)
  np.testing.assert_allclose(
      theta_lib.keypoints(turned, body)[1],
      _turned_points(np.asarray(projected), angle), atol=1e-5)
  back = theta_lib.turned_in_image(turned, -angle, body)
  np.testing.assert_allclose(theta_lib.keypoints(back, body)[1], projected,
                             atol=1e-5)
  np.testing.assert_array_equal(turned[:, 3:-2], theta[:, 3:-2])  # pose, β
  # Unturned, a rotation beyond π keeps its axis-angle (a refiner reads it).
  far = theta.at[:, :3].set(jnp.array([0.0, 4.0, 0.0]))
  np.testing.assert_array_equal(
      theta_lib.turned_in_image(far, np.zeros(6, np.float32), body), far)


def _standing_points():
  """(1, C, 2) canonical points of a person standing upright (image y
  down), confidences (1, C): both shoulder and knee conventions, ankles."""
  names = lgd_jax.formats.CANONICAL_NAMES
  where = {"left_shoulder": (0.2, -0.6), "right_shoulder": (-0.2, -0.6),
           "coco_left_shoulder": (0.22, -0.58),
           "coco_right_shoulder": (-0.22, -0.58),
           "left_knee": (0.15, 0.3), "right_knee": (-0.1, 0.3),
           "left_ankle": (0.1, 0.8), "right_ankle": (-0.1, 0.8),
           "nose": (0.5, -0.9)}  # off the axis: not one of its ends
  points = np.zeros((1, len(names), 2), np.float32)
  confidence = np.zeros((1, len(names)), np.float32)
  for name, xy in where.items():
    points[0, names.index(name)] = xy
    confidence[0, names.index(name)] = 1
  return points, confidence


@pytest.mark.parametrize("degrees", [0, 35, -90, 120, 179])
def test_the_body_axis_angle_is_how_far_the_body_is_turned(degrees):
  points, confidence = _standing_points()
  angle = np.deg2rad(np.float32(degrees))[None]
  got = unroll_lib.body_axis_angle(_turned_points(points, angle), confidence)
  np.testing.assert_allclose(got, angle, atol=1e-5)


def test_the_body_axis_falls_back_to_the_knees_and_needs_both_sides():
  points, confidence = _standing_points()
  names = lgd_jax.formats.CANONICAL_NAMES
  lying = _turned_points(points, np.float32([np.pi / 2]))
  no_ankles = confidence.copy()
  no_ankles[0, [names.index("left_ankle"), names.index("right_ankle")]] = 0
  # Between the knees (0.025, 0.3) to between the shoulders (0, -0.59).
  np.testing.assert_allclose(unroll_lib.body_axis_angle(lying, no_ankles),
                             [np.pi / 2 + np.arctan2(-0.025, 0.89)],
                             atol=1e-5)
  one_shoulder = confidence.copy()
  one_shoulder[0, [names.index("right_shoulder"),
                   names.index("coco_right_shoulder")]] = 0
  assert unroll_lib.body_axis_angle(lying, one_shoulder)[0] == 0
  no_legs = no_ankles.copy()
  no_legs[0, names.index("right_knee")] = 0
  assert unroll_lib.body_axis_angle(lying, no_legs)[0] == 0


def test_people_lying_across_the_image_are_fitted_upright(body, batch,
                                                          tiny_weights):
  run = lambda points, **kw: unroll_lib.unroll_best_start(
      tiny_weights.network, tiny_weights.params, body, points,
      batch.confidence, 3, **kw)
  seen = np.asarray(unroll_lib.body_axis_angle(batch.keypoints,
                                               batch.confidence) != 0)
  # The same people with their body axes upright, then turned by 100°.
  upright = _turned_points(np.asarray(batch.keypoints), -np.asarray(
      unroll_lib.body_axis_angle(batch.keypoints, batch.confidence)))
  angle = np.where(seen, np.float32(np.deg2rad(100)), 0).astype(np.float32)
  lying = _turned_points(upright, angle)
  as_upright = run(upright, upright_beyond_deg=30)
  np.testing.assert_array_equal(as_upright.thetas, run(upright).thetas)
  as_lying = run(lying, upright_beyond_deg=30)
  np.testing.assert_allclose(as_lying.losses, as_upright.losses, rtol=1e-3,
                             atol=1e-6)
  project = lambda theta: np.asarray(theta_lib.keypoints(theta, body)[1])
  np.testing.assert_allclose(
      project(as_lying.thetas[-1]),
      _turned_points(project(as_upright.thetas[-1]), angle), atol=1e-4)
  # Not turned, the lying people are fitted otherwise.
  assert not np.allclose(run(lying).losses[-1][seen],
                         as_lying.losses[-1][seen], rtol=1e-2)
  # A warm start is turned upright with them.
  init = as_upright.thetas[1]
  warm_upright = run(upright, upright_beyond_deg=30, init=init)
  warm_lying = run(lying, upright_beyond_deg=30,
                   init=theta_lib.turned_in_image(init, angle, body))
  np.testing.assert_allclose(warm_lying.losses, warm_upright.losses,
                             rtol=1e-3, atol=1e-6)
  with pytest.raises(ValueError, match="upright_beyond_deg"):
    run(upright, upright_beyond_deg=200)


def test_fit_checks_its_upright_threshold(tiny_weights):
  xy = np.random.default_rng(0).uniform(100, 400, (2, 17, 2))
  never = lgd_jax.fit(xy, params=tiny_weights, upright_beyond_deg=180)
  assert never.pose.shape == (2, 72)
  for bad in (-1, 181, True, "30", float("nan")):
    with pytest.raises(ValueError, match="upright_beyond_deg"):
      lgd_jax.fit(xy, params=tiny_weights, upright_beyond_deg=bad)
