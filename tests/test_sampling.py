"""On-device training batches."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax.body.cache import body_of
from lgd_jax.training import sampling
from configs import default


@pytest.fixture(scope="module")
def setup():
  poses = jnp.asarray(load_pose_set("val").poses[:500])
  return body_of(lgd_jax.load_body_model()), poses


def _config(**changes):
  config = default.get_config().data
  config.batch_size = 256
  config.update(changes)
  return config


def test_batch_shapes_and_determinism_under_jit(setup):
  body, poses = setup
  sample = jax.jit(lambda key: sampling.sample_batch(key, poses, body, _config()))
  batch = sample(jax.random.PRNGKey(0))
  chex.assert_shape(batch.keypoints, (256, kp.NUM_CANONICAL, 2))
  chex.assert_shape(batch.confidence, (256, kp.NUM_CANONICAL))
  chex.assert_shape((batch.pose, batch.betas, batch.camera),
                    [(256, 72), (256, 10), (256, 3)])
  chex.assert_tree_all_finite(batch)
  chex.assert_trees_all_equal(batch, sample(jax.random.PRNGKey(0)))
  assert not np.array_equal(batch.keypoints,
                            sample(jax.random.PRNGKey(1)).keypoints)
  # Visible points span [-1, 1] along the longer side of their box.
  visible = np.asarray(batch.confidence) > 0
  xy = np.asarray(batch.keypoints)
  extent = [np.ptp(xy[i][visible[i]], axis=0).max() for i in range(256)
            if visible[i].sum() >= 2]
  np.testing.assert_allclose(extent, 2.0, atol=1e-4)
  assert np.all(np.abs(np.asarray(batch.betas)) <= 2.5)


def test_dropout_follows_the_format_masks(setup):
  body, poses = setup
  config = _config(formats=("coco17",), format_weights=(1,), keep_prob=0.8,
                   batch_size=2048)
  batch = sampling.sample_batch(jax.random.PRNGKey(2), poses, body, config)
  visible = np.asarray(batch.confidence) > 0
  coco = kp.get_format("coco17").canonical_index
  outside = np.setdiff1d(np.arange(kp.NUM_CANONICAL), coco)
  assert not visible[:, outside].any()
  assert visible[:, coco].mean() == pytest.approx(0.8, abs=0.01)


def test_occlusion_hides_one_whole_limb(setup):
  body, poses = setup
  key = jax.random.PRNGKey(3)
  config = _config(formats=("openpose25",), format_weights=(1,),
                   keep_prob=1.0)
  full = sampling.sample_batch(key, poses, body, config)
  config.occlude_prob = 0.5
  occluded = sampling.sample_batch(key, poses, body, config)
  # Only the occlusion differs: the same people and views.
  # (The camera is fitted to the visible points, so it may differ.)
  chex.assert_trees_all_equal((occluded.pose, occluded.betas),
                              (full.pose, full.betas))
  # Configs saved before the field existed sample what occlude_prob = 0 does.
  del config.occlude_prob
  chex.assert_trees_all_equal(
      sampling.sample_batch(key, poses, body, config), full)
  hidden = (np.asarray(full.confidence) > 0) & ~(
      np.asarray(occluded.confidence) > 0)
  openpose = set(kp.get_format("openpose25").canonical_index)
  limbs = [set(points) & openpose for points in kp.LIMB_CHAINS.values()]
  assert all(limbs)
  people = np.flatnonzero(hidden.any(-1))
  assert len(people) / len(hidden) == pytest.approx(0.5, abs=0.08)
  for i in people:
    assert set(np.flatnonzero(hidden[i])) in limbs


@pytest.mark.parametrize("perspective_prob", [0.0, 1.0])
def test_ground_truth_explains_the_clean_keypoints(setup, perspective_prob):
  body, poses = setup
  config = _config(noise=(0.0, 0.0), perspective_prob=perspective_prob,
                   keep_prob=1.0)
  batch = sampling.sample_batch(jax.random.PRNGKey(3), poses, body, config)
  theta = jnp.concatenate([batch.pose, batch.betas, batch.camera], -1)
  loss = optimizer.inner_loss(theta, body, batch.keypoints,
                              batch.confidence)
  # Weak perspective reproduces itself. Perspective views (2-12 m, up to
  # 17 degrees off-axis) differ from their best weak-perspective fit: body
  # depth ±0.25 m at 2 m is ±12% of scale, ~0.1 box units per point.
  if perspective_prob == 0:
    assert float(jnp.max(loss)) < 1e-8
  else:
    assert float(jnp.median(loss)) < 1e-2 and float(jnp.max(loss)) < 5e-2
  start = optimizer.inner_loss(jnp.zeros_like(theta), body,
                               batch.keypoints, batch.confidence)
  assert float(jnp.median(start)) > 20 * float(jnp.median(loss)) + 1e-3


def test_noise_is_a_fraction_of_the_person_height(setup):
  body, poses = setup
  key = jax.random.PRNGKey(4)
  base = dict(formats=("smpl24",), format_weights=(1,), keep_prob=1.0,
              perspective_prob=0.0)
  clean = sampling.sample_batch(key, poses, body,
                                _config(noise=(0.0, 0.0), **base))
  noisy = sampling.sample_batch(key, poses, body,
                                _config(noise=(0.05, 0.05), **base))
  # In box units (height ~ 2), a 5% noise moves points by ~0.1 on average.
  shift = np.linalg.norm(np.asarray(noisy.keypoints - clean.keypoints),
                         axis=-1)[np.asarray(clean.confidence) > 0]
  assert 0.05 < shift.mean() < 0.25
