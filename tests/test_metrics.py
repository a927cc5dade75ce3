"""MPJPE and PA-MPJPE."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lgd_jax.evaluation import metrics


def _joints(seed=0, n=24):
  return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)


def test_mpjpe_aligns_roots_only():
  target = _joints()
  assert float(metrics.mpjpe(target + 5.0, target)) == pytest.approx(0, abs=1e-5)
  moved = target.copy()
  moved[3] += [0.3, 0.4, 0.0]  # one joint off by 0.5
  assert float(metrics.mpjpe(moved, target)) == pytest.approx(0.5 / 24, rel=1e-5)
  rotated = target @ Rotation.from_rotvec([0, 0.5, 0]).as_matrix().T
  assert float(metrics.mpjpe(rotated, target)) > 0.1


def test_pa_mpjpe_removes_similarity_but_not_reflection():
  target = _joints(1)
  rotation = Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix()
  similar = 2.5 * target @ rotation.T + np.array([1.0, -2.0, 3.0])
  assert float(metrics.pa_mpjpe(jnp.asarray(similar, jnp.float32),
                                target)) == pytest.approx(0, abs=1e-4)
  mirrored = target * np.array([-1.0, 1.0, 1.0])
  assert float(metrics.pa_mpjpe(mirrored, target)) > 0.1


def test_pa_mpjpe_batched_matches_single():
  pred = np.stack([_joints(2), _joints(3)])
  target = np.stack([_joints(4), _joints(5)])
  batched = metrics.pa_mpjpe(pred, target)
  for i in range(2):
    assert float(batched[i]) == pytest.approx(
        float(metrics.pa_mpjpe(pred[i], target[i])), rel=1e-5)
