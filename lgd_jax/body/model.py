"""The body-model container: arrays in the SMPL layout, as a JAX pytree.

A `BodyModel` holds only arrays and static metadata; every computation on it
is a free function (`lgd_jax.body.lbs`, `lgd_jax.body.keypoint_path`), so a
model can be passed straight into `jit`, `vmap` and `grad`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import numpy as np

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16,
                17, 18, 19, 20, 21)
NUM_JOINTS = len(SMPL_JOINT_NAMES)
NUM_POSE_FEATURES = 9 * (NUM_JOINTS - 1)  # (R_k - I) flattened for k = 1..23


def _static(**kwargs):
  return dataclasses.field(metadata=dict(static=True), **kwargs)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BodyModel:
  """A skinned body model in the SMPL layout (metres, y up, facing +z).

  Attributes:
    v_template: (V, 3) rest-pose vertices of the mean shape.
    faces: (F, 3) int32 triangle vertex indices.
    shapedirs: (V, 3, S) shape blend shapes; S = number of betas.
    posedirs: (V, 3, 207) pose-corrective blend shapes, or None for a model
      without them (equivalent to zeros, but skipped in the computation).
    J_regressor: (24, V) rest-joint regressor.
    weights: (V, 24) skinning weights, rows summing to one.
    joint_template: (24, 3) = J_regressor @ v_template (precomputed).
    joint_shapedirs: (24, 3, S) = J_regressor applied to shapedirs.
    keypoint_regressor: (K, V) regressor of surface keypoints (nose, eyes,
      ears, toes, heels, ...) defined on this mesh, or None.
    parents: static tuple of 24 parent indices, -1 for the root.
    joint_names: static tuple of the 24 joint names.
    keypoint_names: static tuple of the K keypoint names (empty if none).
    name: static description of where the model came from.
  """

  v_template: jax.Array
  faces: jax.Array
  shapedirs: jax.Array
  posedirs: Optional[jax.Array]
  J_regressor: jax.Array
  weights: jax.Array
  joint_template: jax.Array
  joint_shapedirs: jax.Array
  keypoint_regressor: Optional[jax.Array]
  parents: tuple[int, ...] = _static(default=SMPL_PARENTS)
  joint_names: tuple[str, ...] = _static(default=SMPL_JOINT_NAMES)
  keypoint_names: tuple[str, ...] = _static(default=())
  name: str = _static(default="")

  @property
  def num_vertices(self) -> int:
    return self.v_template.shape[0]

  @property
  def num_betas(self) -> int:
    return self.shapedirs.shape[-1]


def make_body_model(
    *,
    v_template,
    faces,
    shapedirs,
    J_regressor,
    weights,
    posedirs=None,
    keypoint_regressor=None,
    keypoint_names=(),
    parents=SMPL_PARENTS,
    name="",
) -> BodyModel:
  """Builds a `BodyModel` from NumPy-compatible arrays (validated elsewhere).

  Precomputes the rest-joint terms, which are linear in the vertices, so the
  forward pass never regresses joints from all V vertices.
  """
  v_template = np.asarray(v_template, np.float32)
  shapedirs = np.asarray(shapedirs, np.float32)
  J_regressor = np.asarray(J_regressor, np.float32)
  # float64 for the precomputed products: they feed comparisons at 1e-5 m.
  joint_template = J_regressor.astype(np.float64) @ v_template
  joint_shapedirs = np.einsum("jv,vcs->jcs", J_regressor.astype(np.float64),
                              shapedirs)
  if posedirs is not None and not np.any(posedirs):
    posedirs = None  # all-zero correctives cost time and change nothing
  as_f32 = lambda x: None if x is None else jax.numpy.asarray(x, np.float32)
  return BodyModel(
      v_template=as_f32(v_template),
      faces=jax.numpy.asarray(faces, np.int32),
      shapedirs=as_f32(shapedirs),
      posedirs=as_f32(posedirs),
      J_regressor=as_f32(J_regressor),
      weights=as_f32(weights),
      joint_template=as_f32(joint_template),
      joint_shapedirs=as_f32(joint_shapedirs),
      keypoint_regressor=as_f32(keypoint_regressor),
      parents=tuple(int(p) for p in parents),
      joint_names=SMPL_JOINT_NAMES,
      keypoint_names=tuple(str(n) for n in keypoint_names),
      name=name,
  )
