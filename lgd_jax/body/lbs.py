"""SMPL forward kinematics and linear blend skinning as pure functions.

All functions take any leading batch shape `...`. Only the public entry point
`smpl_forward` is jitted (inside other jits it simply inlines).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax.body.model import BodyModel, NUM_JOINTS
from lgd_jax.body.rotations import axis_angle_to_matrix


class BodyOutput(NamedTuple):
  vertices: jax.Array  # (..., V, 3) metres
  joints: jax.Array  # (..., 24, 3) metres, posed kinematic joints


class Skeleton(NamedTuple):
  """World transforms of the posed joints."""

  rotations: jax.Array  # (..., J, 3, 3) joint-to-world rotations
  positions: jax.Array  # (..., J, 3) posed joint positions

  def skinning_translations(self, rest_joints: jax.Array) -> jax.Array:
    """(..., J, 3) t_k so that a rest point p maps to R_k p + t_k."""
    return self.positions - jnp.einsum("...kij,...kj->...ki", self.rotations,
                                       rest_joints)


def depth_levels(parents: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
  """Groups joints by depth in the tree: every joint's parent is in an
  earlier group, so one batched matmul per level replaces one per joint."""
  depth = []
  for p in parents:
    depth.append(0 if p < 0 else depth[p] + 1)
  return tuple(
      tuple(int(j) for j in np.flatnonzero(np.asarray(depth) == d))
      for d in range(max(depth) + 1))


def forward_kinematics(local_rotations: jax.Array, rest_joints: jax.Array,
                       parents: tuple[int, ...]) -> Skeleton:
  """Poses the skeleton.

  Args:
    local_rotations: (..., J, 3, 3) rotation of each joint relative to its
      parent (the root's is the global orientation about the root joint).
    rest_joints: (..., J, 3) rest-pose joint positions.
    parents: static parent indices (-1 for the root).

  Returns:
    `Skeleton` with (..., J, 3, 3) world rotations and (..., J, 3) positions.
  """
  batch = jnp.broadcast_shapes(local_rotations.shape[:-3],
                               rest_joints.shape[:-2])
  # One flat batch axis: XLA:CPU (jaxlib 0.10.2) emits a mis-shaped dot for
  # these batched matmuls with several batch axes.
  local_rotations = jnp.broadcast_to(
      local_rotations, batch + local_rotations.shape[-3:]).reshape(
          (-1,) + local_rotations.shape[-3:])
  rest_joints = jnp.broadcast_to(rest_joints,
                                 batch + rest_joints.shape[-2:]).reshape(
                                     (-1,) + rest_joints.shape[-2:])
  parent_index = np.maximum(np.asarray(parents), 0)
  bones = rest_joints - rest_joints[..., parent_index, :]
  levels = depth_levels(parents)
  order = np.concatenate([np.asarray(level) for level in levels])
  slot = np.argsort(order)  # slot[j]: where joint j sits in depth order
  # Joints are appended level by level in depth order.
  rotations = local_rotations[..., levels[0], :, :]
  positions = rest_joints[..., levels[0], :]
  for level in levels[1:]:
    idx = np.asarray(level)
    par = slot[parent_index[idx]]
    parent_rot = rotations[..., par, :, :]
    rotations = jnp.concatenate(
        [rotations, parent_rot @ local_rotations[..., idx, :, :]], axis=-3)
    positions = jnp.concatenate([
        positions,
        jnp.einsum("...kij,...kj->...ki", parent_rot, bones[..., idx, :]) +
        positions[..., par, :]
    ], axis=-2)
  if np.any(order != np.arange(len(order))):
    rotations, positions = rotations[:, slot], positions[:, slot]
  rotations = rotations.reshape(batch + rotations.shape[1:])
  positions = positions.reshape(batch + positions.shape[1:])
  return Skeleton(rotations, positions)


def pose_features(local_rotations: jax.Array) -> jax.Array:
  """(..., 24, 3, 3) -> (..., 207): SMPL's pose-corrective inputs R_k - I."""
  eye = jnp.eye(3, dtype=local_rotations.dtype)
  feats = local_rotations[..., 1:, :, :] - eye
  return feats.reshape(feats.shape[:-3] + (-1,))


def rest_joints(model: BodyModel, betas: jax.Array) -> jax.Array:
  """(..., S) -> (..., 24, 3): J_regressor applied to the shaped template."""
  return model.joint_template + jnp.einsum("jcs,...s->...jc",
                                           model.joint_shapedirs, betas)


def check_inputs(model: BodyModel, pose: jax.Array, betas: jax.Array):
  """Raises a ValueError naming the argument when shapes do not fit."""
  if pose.shape[-1:] != (3 * NUM_JOINTS,):
    raise ValueError(
        f"pose must have shape (..., {3 * NUM_JOINTS}) (axis-angle, global "
        f"orientation first), got {pose.shape}")
  if betas.shape[-1:] != (model.num_betas,):
    raise ValueError(
        f"betas must have shape (..., {model.num_betas}) for this body model "
        f"(load it with num_betas=... to change), got {betas.shape}")
  try:
    jnp.broadcast_shapes(pose.shape[:-1], betas.shape[:-1])
  except ValueError:
    raise ValueError(f"batch shapes of pose {pose.shape} and betas "
                     f"{betas.shape} do not broadcast") from None


def pose_skeleton(model: BodyModel, pose: jax.Array, betas: jax.Array):
  """Shared first half of both forward paths.

  Returns (local rotations (..., 24, 3, 3), rest joints (..., 24, 3),
  posed `Skeleton`).
  """
  check_inputs(model, pose, betas)
  local = axis_angle_to_matrix(pose.reshape(pose.shape[:-1] + (NUM_JOINTS, 3)))
  joints = rest_joints(model, betas)
  return local, joints, forward_kinematics(local, joints, model.parents)


@jax.jit  # a public entry point; nested inside other jits it inlines
def smpl_forward(model: BodyModel, pose: jax.Array,
                 betas: jax.Array) -> BodyOutput:
  """The SMPL function M(pose, betas): posed vertices and joints.

  Args:
    model: a `BodyModel`.
    pose: (..., 72) axis-angle in radians; global orientation first, then the
      23 body joints in SMPL order, each relative to its parent.
    betas: (..., S) shape coefficients; leading shape broadcasts with `pose`.

  Returns:
    `BodyOutput(vertices (..., V, 3), joints (..., 24, 3))` in metres, with the
    root joint at its rest position (no translation), as in SMPL.
  """
  local, joints, skeleton = pose_skeleton(model, pose, betas)
  v_shaped = model.v_template + jnp.einsum("vcs,...s->...vc", model.shapedirs,
                                           betas)
  if model.posedirs is not None:
    v_shaped = v_shaped + jnp.einsum("vcp,...p->...vc", model.posedirs,
                                     pose_features(local))
  return BodyOutput(skin(v_shaped, model.weights, skeleton, joints),
                    skeleton.positions)


def skin(rest_vertices: jax.Array, weights: jax.Array, skeleton: Skeleton,
         rest_joints: jax.Array) -> jax.Array:
  """Linear blend skinning.

  Args:
    rest_vertices: (..., V, 3) shaped (and pose-corrected) rest vertices.
    weights: (V, J) skinning weights.
    skeleton: the posed skeleton from `forward_kinematics`.
    rest_joints: (..., J, 3) the rest joints it was posed from.

  Returns:
    (..., V, 3) posed vertices.
  """
  translations = skeleton.skinning_translations(rest_joints)
  blended_rot = jnp.einsum("vk,...kij->...vij", weights, skeleton.rotations)
  blended_trans = jnp.einsum("vk,...ki->...vi", weights, translations)
  return jnp.einsum("...vij,...vj->...vi", blended_rot,
                    rest_vertices) + blended_trans
