"""Optimisation baselines: the priors (EM, GMM, bend, shape) and SMPLify /
gradient descent on the learned optimizer's terms."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lgd_jax.evaluation import baselines
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax.evaluation import priors
from lgd_jax.training import trainer as training
from lgd_jax.training import pose_set
from lgd_jax.training import sampling
from configs import default
from configs import gradient_descent as gd_config
from configs import smplify as smplify_config

COCO = kp.FORMATS["coco17"].canonical_index
NUM_PEOPLE = 8


@pytest.fixture(scope="module")
def setup():
  return training.make_setup(default.get_config())


@pytest.fixture(scope="module")
def small_prior():
  """A 4-component prior fitted on every 4th train pose (quick)."""
  poses = pose_set.load_pose_set("train").poses[::4]
  return priors.fit_pose_prior(poses, num_components=4, iterations=30)


@pytest.fixture(scope="module")
def batch(setup):
  """Clean COCO-17 people from the train split, weak perspective; person 0
  has no visible point."""
  config = ml_collections.ConfigDict(default.get_config().data.to_dict())
  config.update(batch_size=NUM_PEOPLE, formats=("coco17",),
                format_weights=(1,), keep_prob=1.0, noise=(0.0, 0.0),
                perspective_prob=0.0)
  poses = jnp.asarray(pose_set.load_pose_set("train").poses)
  data = sampling.compiled_sample_batch(jax.random.PRNGKey(3), poses,
                                       setup.body, config)
  return data._replace(confidence=data.confidence.at[0].set(0.0),
                       keypoints=data.keypoints.at[0].set(0.0))


def _smplify_config(**overrides):
  config = smplify_config.get_config()
  stage = smplify_config.stage
  config.stages = (
      stage(10, 0.05, torso_only=True),
      stage(30, 0.03, pose_prior=1.0, bend_prior=10.0, shape_prior=1.0),
      stage(30, 0.03, pose_prior=0.003, bend_prior=0.03,
            shape_prior=0.003))
  config.update(overrides)
  return config


def _inner_loss(setup, theta, batch):
  return optimizer.inner_loss(theta, setup.body, batch.keypoints, batch.confidence)


# --- Priors -------------------------------------------------------------


def test_em_recovers_two_separated_gaussians():
  rng = np.random.default_rng(0)
  means = np.zeros((2, priors.NUM_BODY_POSE))
  means[0, :10] = 3.0
  means[1, 10:20] = -3.0
  scales = rng.uniform(0.05, 0.3, (2, priors.NUM_BODY_POSE))
  x = np.concatenate([means[0] + scales[0] * rng.normal(size=(1500, 69)),
                      means[1] + scales[1] * rng.normal(size=(500, 69))])
  prior = priors.fit_pose_prior(x, num_components=2, seed=1)
  fitted = np.asarray(prior.means)
  order = np.argsort(fitted[:, 0])[::-1]  # component 0 has x[0] = 3
  np.testing.assert_allclose(fitted[order], means, atol=0.05)
  chex.assert_shape((prior.means, prior.precision_chol, prior.constants),
                    [(2, 69), (2, 69, 69), (2,)])
  # Its precision: the fitted variances match the generating ones.
  precision = np.einsum("kij,klj->kil", np.asarray(prior.precision_chol),
                        np.asarray(prior.precision_chol))
  variances = np.diagonal(np.linalg.inv(precision), axis1=1, axis2=2)
  np.testing.assert_allclose(variances[order],
                             scales**2 + priors.COVARIANCE_REGULARIZER,
                             rtol=0.2)
  # Deterministic for a seed.
  again = priors.fit_pose_prior(x, num_components=2, seed=1)
  chex.assert_trees_all_equal(again, prior)


def test_pose_prior_prefers_mocap_poses(small_prior):
  held_out = pose_set.load_pose_set("val").poses[::10]
  uniform = np.random.default_rng(0).uniform(-np.pi, np.pi,
                                             (len(held_out), 72))
  mocap_loss = np.asarray(priors.pose_prior_loss(small_prior, held_out))
  uniform_loss = np.asarray(priors.pose_prior_loss(
      small_prior, jnp.asarray(uniform, jnp.float32)))
  assert np.all(mocap_loss >= 0) and np.all(uniform_loss >= 0)
  assert np.median(mocap_loss) * 10 < np.percentile(uniform_loss, 1)
  # The global orientation is not the prior's business.
  turned = held_out.copy()
  turned[:, :3] = 1.0
  np.testing.assert_allclose(priors.pose_prior_loss(small_prior, turned),
                             mocap_loss, rtol=1e-5)


def test_pose_prior_gradient_finite_at_zero(small_prior):
  grad = jax.grad(lambda p: priors.pose_prior_loss(small_prior, p))(
      jnp.zeros(72))
  chex.assert_tree_all_finite(grad)
  assert float(jnp.abs(grad[3:]).sum()) > 0
  assert not np.any(grad[:3])


def test_bend_prior_penalises_the_direction_mocap_never_bends():
  poses = pose_set.load_pose_set("train").poses
  for index in priors.BEND_INDICES:
    usual = np.median(poses[:, index])
    assert abs(usual) > 0.3  # elbows and knees do bend in the data
    pose = np.zeros((3, 72), np.float32)
    pose[1, index] = usual
    pose[2, index] = -usual  # as far the other way
    straight, usual_way, wrong_way = np.asarray(
        priors.bend_prior_loss(jnp.asarray(pose)))
    assert wrong_way > straight + 1 > usual_way + 1, index
  # Bending any other joint costs nothing more.
  other = np.zeros(72, np.float32)
  other[[16, 40, 52]] = 1.0
  assert float(priors.bend_prior_loss(other)) == pytest.approx(4.0)


def test_shape_prior():
  betas = jnp.array([[0.0, 0.0], [1.0, -2.0]])
  np.testing.assert_allclose(priors.shape_prior_loss(betas), [0.0, 5.0])


# --- Baselines ----------------------------------------------------------


def _run_smplify(setup, prior, config, keypoints, confidence):
  return baselines.smplify(setup.body, keypoints,
                           confidence, prior, config, loss_points=COCO,
                           record_every=10)


@pytest.fixture(scope="module")
def smplify_history(setup, small_prior, batch):
  # SPIN's camera stage (orientation too), one start: what the test checks.
  config = _smplify_config(camera_stage_orientation=True, try_flipped=False)
  return jax.jit(lambda k, c: _run_smplify(setup, small_prior, config, k, c))(
      batch.keypoints, batch.confidence)


def test_smplify_fits_and_records(setup, batch, smplify_history):
  history = smplify_history
  size = 72 + setup.body.model.num_betas + 3
  chex.assert_shape(history.thetas, (8, NUM_PEOPLE, size))
  np.testing.assert_array_equal(history.iterations, np.arange(8) * 10)
  chex.assert_tree_all_finite(history.thetas)  # person 0 sees nothing
  np.testing.assert_array_equal(history.thetas[0], 0.0)
  # After the camera stage (10 iterations): body pose and betas untouched,
  # camera and orientation moved.
  after_camera = history.thetas[1][1:]
  np.testing.assert_array_equal(after_camera[:, 3:72 + 10], 0.0)
  assert np.all(np.abs(after_camera[:, -3:]).sum(-1) > 0)
  assert np.all(np.abs(after_camera[:, :3]).sum(-1) > 0)
  start = _inner_loss(setup, history.thetas[0], batch)[1:]
  final = _inner_loss(setup, history.thetas[-1], batch)[1:]
  assert np.all(final < 0.2 * start), (start, final)


def test_smplify_under_vmap(setup, small_prior, batch, smplify_history):
  """One person at a time gives what the batch gives (the batched run is
  jitted too: the fixture)."""
  config = _smplify_config(camera_stage_orientation=True, try_flipped=False)
  mapped = jax.jit(jax.vmap(
      lambda k, c: _run_smplify(setup, small_prior, config, k, c).thetas))(
          batch.keypoints, batch.confidence)
  chex.assert_shape(mapped, (NUM_PEOPLE,) + smplify_history.thetas.shape[:1]
                    + smplify_history.thetas.shape[2:])
  chex.assert_trees_all_close(jnp.moveaxis(mapped, 0, 1),
                              smplify_history.thetas, atol=2e-3)


def test_smplify_tries_the_flipped_start(setup, small_prior, batch):
  """With try_flipped each person gets one of the two single runs."""
  config = _smplify_config(camera_stage_orientation=False, try_flipped=False)
  single = jax.jit(lambda init: baselines.smplify(
      setup.body, batch.keypoints, batch.confidence,
      small_prior, config, loss_points=COCO, init=init).thetas[-1])
  zero = jnp.zeros((NUM_PEOPLE, 72 + setup.body.model.num_betas + 3))
  turned = zero.at[:, 1].set(jnp.pi)
  runs = np.stack([single(zero), single(turned)])
  config.try_flipped = True
  history = jax.jit(lambda k, c: baselines.smplify(
      setup.body, k, c, small_prior, config,
      loss_points=COCO, record_every=10))(batch.keypoints, batch.confidence)
  final = np.asarray(history.thetas[-1])
  distance = np.abs(final[None] - runs).max(-1)  # (2, people)
  assert np.all(distance.min(0) < 1e-3), distance
  # A camera-only first stage leaves the orientation where it started.
  angle = np.linalg.norm(history.thetas[1][:, :3], axis=-1)
  assert np.all(np.isclose(angle, 0) | np.isclose(angle, np.pi, atol=1e-5))


def test_gradient_descent(setup, batch):
  config = gd_config.get_config()
  config.iterations = 25
  config.learning_rate = 0.03
  history = jax.jit(lambda k, c: baselines.gradient_descent(
      setup.body, k, c, None, config, loss_points=COCO,
      record_every=10))(batch.keypoints, batch.confidence)
  chex.assert_shape(history.thetas, (4, NUM_PEOPLE,
                                     72 + setup.body.model.num_betas + 3))
  np.testing.assert_array_equal(history.iterations, [0, 10, 20, 25])
  chex.assert_tree_all_finite(history.thetas)
  losses = np.stack([_inner_loss(setup, t, batch)[1:]
                     for t in history.thetas])
  assert np.all(losses[-1] < 0.5 * losses[0]), losses
  # Θ moves until the last iteration (the padding to 30 does not count).
  assert np.all(np.abs(history.thetas[-1] - history.thetas[-2]).sum(-1)[1:]
                > 0)


def test_gradient_descent_needs_a_prior_to_weight_it(setup, batch):
  config = gd_config.get_config()
  config.pose_prior = 1.0
  with pytest.raises(ValueError, match="prior is None"):
    baselines.gradient_descent(setup.body, batch.keypoints, batch.confidence, None,
                               config)
