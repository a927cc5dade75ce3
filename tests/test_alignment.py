"""Aligning the fit in the image after the learned steps
(`lgd_jax.alignment`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax import alignment
from lgd_jax import formats as kp
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax.body import rotations
from lgd_jax.body.cache import body_of
from lgd_jax.training.pose_set import load_pose_set

COCO = kp.get_format("coco17").canonical_index


@pytest.fixture(scope="module")
def body():
  return body_of(lgd_jax.load_body_model()).select(COCO)


@pytest.fixture(scope="module")
def truth(body):
  """(16, P) Θ of held-out poses with varied shapes and cameras, and their
  projected points."""
  rng = np.random.default_rng(0)
  poses = load_pose_set("val").poses[::400][:16]
  betas = rng.normal(0, 1, (16, body.model.num_betas))
  camera = np.c_[rng.uniform(-0.3, 0.3, 16), rng.uniform(-0.2, 0.2, (16, 2))]
  theta = jnp.asarray(np.c_[poses, betas, camera], jnp.float32)
  return theta, theta_lib.keypoints(theta, body)[1]


def _loss(theta, body, xy, confidence):
  return unroll_lib.inner_loss(theta, body, xy, confidence)


def test_alignment_recovers_a_body_turned_scaled_and_shifted_in_the_image(
    body, truth):
  theta, xy = truth
  confidence = jnp.ones(xy.shape[:-1])
  rng = np.random.default_rng(1)
  # Each body turned in the image by up to 40 degrees either way, its
  # camera scaled by 0.8-1.25 and shifted: a similarity transform off.
  start = theta_lib.turned_in_image(
      theta, jnp.asarray(rng.uniform(-0.7, 0.7, 16), jnp.float32), body)
  start = start.at[:, -3:].add(jnp.asarray(
      np.c_[rng.uniform(-0.22, 0.22, 16), rng.uniform(-0.2, 0.2, (16, 2))],
      jnp.float32))
  start_loss = _loss(start, body, xy, confidence)
  aligned, loss = alignment.aligned_in_image(start, start_loss, body, xy,
                                             confidence)
  assert float(loss.max()) < 1e-9 < float(start_loss.min())
  relative = (rotations.axis_angle_to_matrix(aligned[:, :3]) @
              jnp.swapaxes(rotations.axis_angle_to_matrix(theta[:, :3]),
                           -1, -2))
  angle = jnp.linalg.norm(rotations.matrix_to_axis_angle(relative), axis=-1)
  assert float(angle.max()) < 1e-4
  np.testing.assert_allclose(aligned[:, -3:], theta[:, -3:], atol=1e-5)
  np.testing.assert_array_equal(aligned[:, 3:-3], start[:, 3:-3])


def test_alignment_keeps_the_body_and_never_raises_the_loss(body, truth):
  theta, xy = truth
  rng = np.random.default_rng(2)
  # Keypoints the body does not explain: noise, and some points unseen.
  xy = xy + jnp.asarray(rng.normal(0, 0.05, xy.shape), jnp.float32)
  confidence = jnp.asarray(rng.uniform(size=xy.shape[:-1]) > 0.2,
                           jnp.float32)
  start = theta + jnp.asarray(rng.normal(0, 0.1, theta.shape), jnp.float32)
  start_loss = _loss(start, body, xy, confidence)
  aligned, loss = alignment.aligned_in_image(start, start_loss, body, xy,
                                             confidence)
  # Only the global rotation and camera move; the loss returned is the
  # aligned Θ's, never above the given one.
  np.testing.assert_array_equal(aligned[:, 3:-3], start[:, 3:-3])
  np.testing.assert_allclose(loss, _loss(aligned, body, xy, confidence),
                             rtol=1e-4)
  assert np.all(np.asarray(loss) <= np.asarray(start_loss))
  assert float(jnp.mean(loss / start_loss)) < 0.9
  # A person whose given Θ already has the lower loss keeps it.
  kept, kept_loss = alignment.aligned_in_image(
      start, jnp.zeros_like(start_loss), body, xy, confidence)
  np.testing.assert_array_equal(kept, start)
  np.testing.assert_array_equal(kept_loss, 0.0)


def test_alignment_without_points_or_with_bad_ones_is_finite(body, truth):
  theta, xy = truth
  confidence = jnp.ones(xy.shape[:-1]).at[0].set(0.0).at[1, 1:].set(0.0)
  xy = xy.at[2].set(jnp.nan).at[3, :4].set(jnp.inf)
  loss = _loss(theta, body, xy, confidence)
  aligned, aligned_loss = alignment.aligned_in_image(theta, loss, body, xy,
                                                     confidence)
  assert np.all(np.isfinite(aligned)) and np.all(np.isfinite(aligned_loss))
  # Nothing seen, one point (no turn or scale to tell) or only non-finite
  # points: kept as given.
  for person in (0, 1, 2):
    np.testing.assert_array_equal(aligned[person], theta[person])
  assert np.all(np.asarray(aligned_loss) <= np.asarray(loss))


def test_fit_aligns_after_the_learned_steps(tiny_weights):
  rng = np.random.default_rng(3)
  xy = rng.uniform(100, 400, (6, 17, 2))
  aligned = lgd_jax.fit(xy, params=tiny_weights)
  learned = lgd_jax.fit(xy, params=tiny_weights, align=False)
  # The body is the learned one (two programs: float32 rounding apart).
  np.testing.assert_allclose(aligned.pose[:, 3:], learned.pose[:, 3:],
                             atol=1e-6)
  np.testing.assert_allclose(aligned.betas, learned.betas, atol=1e-6)
  np.testing.assert_allclose(aligned.loss_history[:, :-1],
                             learned.loss_history[:, :-1], rtol=1e-6)
  assert np.all(np.asarray(aligned.loss_history[:, -1]) <=
                np.asarray(learned.loss_history[:, -1]))
  # The 2D error the caller sees follows the loss.
  error = lambda result: np.linalg.norm(
      np.asarray(result.keypoints_2d) - xy, axis=-1).mean()
  assert error(aligned) < error(learned)
  for bad in (0, 1, "yes", None):
    with pytest.raises(ValueError, match="align"):
      lgd_jax.fit(xy, params=tiny_weights, align=bad)
  jitted = jax.jit(lambda xy: lgd_jax.fit(xy, params=tiny_weights).pose)
  np.testing.assert_allclose(jitted(jnp.asarray(xy, jnp.float32)),
                             aligned.pose, atol=1e-5)


def test_videos_are_aligned_as_fit_aligns_them(tiny_weights):
  rng = np.random.default_rng(4)
  xy = rng.uniform(100, 400, (3, 2, 17, 2))
  confidence = np.ones(xy.shape[:-1])
  fits = {align: lgd_jax.fit_tracks(xy, confidence, keypoint_format="coco17",
                                    params=tiny_weights, warm_start="off",
                                    align=align)
          for align in (True, False)}
  aligned, learned = (np.asarray(fits[a].loss_history[..., -1])
                      for a in (True, False))
  assert np.all(aligned <= learned) and np.any(aligned < learned)
  np.testing.assert_allclose(fits[True].pose[..., 3:],
                             fits[False].pose[..., 3:], atol=1e-6)
