"""Random models in the SMPL layout, for tests and benchmarks."""

import numpy as np

from lgd_jax.body.model import SMPL_PARENTS


def random_smpl_arrays(num_vertices=300, num_betas=10, num_joints=24,
                       parents=SMPL_PARENTS, seed=0, posedirs_scale=0.01):
  """Arrays of a random model in the official SMPL layout (float64)."""
  rng = np.random.default_rng(seed)
  joints = rng.normal(size=(num_joints, 3)) * 0.3
  # Vertices scattered around joints, skinned mostly to the nearest joints.
  owner = rng.integers(0, num_joints, num_vertices)
  v_template = joints[owner] + rng.normal(size=(num_vertices, 3)) * 0.05
  dist = np.linalg.norm(v_template[:, None] - joints[None], axis=-1)
  weights = np.exp(-dist / 0.05)
  weights[dist > np.sort(dist, axis=1)[:, 3:4]] = 0  # four bones per vertex
  weights /= weights.sum(axis=1, keepdims=True)
  regressor = np.zeros((num_joints, num_vertices))
  for j in range(num_joints):
    near = np.argsort(np.linalg.norm(v_template - joints[j], axis=1))[:8]
    regressor[j, near] = rng.random(8) + 0.1
  regressor /= regressor.sum(axis=1, keepdims=True)
  kintree = np.stack([np.array(parents, np.int64), np.arange(num_joints)])
  kintree[0, 0] = 2**32 - 1  # as stored in the official files
  return dict(
      v_template=v_template,
      f=rng.integers(0, num_vertices, (2 * num_vertices, 3)).astype(np.uint32),
      shapedirs=rng.normal(size=(num_vertices, 3, num_betas)) * 0.02,
      posedirs=rng.normal(size=(num_vertices, 3, 9 * (num_joints - 1))) *
      posedirs_scale,
      J_regressor=regressor,
      weights=weights,
      kintree_table=kintree,
  )
