"""The exact fast joint path: regressed keypoints W·M(pose, betas) without
forming the posed mesh.

LBS is linear in the rest-pose vertices, so for a keypoint j with vertex
regressor row W[j]:

  X_j = sum_k R_k A_jk + t_k s_jk,   A_jk = sum_v W[j,v] w[v,k] v_posed[v],
                                     s_jk = sum_v W[j,v] w[v,k],

where (R_k, t_k) is bone k's skinning transform. A_jk is affine in betas and
in the 207 pose features, so its coefficients are precomputed once per
regressor. Only bones that touch a keypoint's vertices are kept (M per
keypoint, padded with zero weight), which makes a forward pass
O(K·M·(S + 207)) instead of O(V·24).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax.body import lbs
from lgd_jax.body.model import BodyModel


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class KeypointRegressor:
  """Precomputed coefficients of W·M for K keypoints.

  Attributes:
    bones: (K, M) int32 bone indices that influence each keypoint.
    template: (K, M, 3) A_jk of the mean shape in the rest pose.
    shapedirs: (K, M, 3, S) derivative of A_jk with respect to betas.
    posedirs: (K, M, 3, 207) derivative with respect to the pose features,
      or None when the model has no pose correctives.
    weight_sum: (K, M) s_jk, the weight of bone k's translation.
    one_hot: (static) pick each keypoint's bones by a one-hot contraction
      instead of a gather; the same keypoints. The gather's gradient is a
      scatter-add, slow on XLA:CPU when many bodies' keypoints are
      differentiated at once, so training takes this form
      (benchmarks/bench_body.py times both).
  """

  bones: jax.Array
  template: jax.Array
  shapedirs: jax.Array
  posedirs: Optional[jax.Array]
  weight_sum: jax.Array
  one_hot: bool = dataclasses.field(default=False,
                                    metadata=dict(static=True))

  @property
  def num_keypoints(self) -> int:
    return self.bones.shape[0]

  def select(self, index) -> "KeypointRegressor":
    """The regressor of keypoints `index` (static (K',) ints) only: the
    path's cost is proportional to the number of keypoints."""
    index = np.asarray(index)
    return jax.tree.map(lambda field: field[index], self)


def make_keypoint_regressor(model: BodyModel, regressor) -> KeypointRegressor:
  """Precomputes the fast path for a (K, V) vertex regressor (NumPy, once).

  Args:
    model: the body model whose mesh the regressor is defined on.
    regressor: (K, V) array; row j gives keypoint j as a weighted sum of
      the posed vertices (e.g. `model.J_regressor` or
      `model.keypoint_regressor`).
  """
  regressor = np.asarray(regressor, np.float64)
  num_vertices = model.num_vertices
  if regressor.ndim != 2 or regressor.shape[1] != num_vertices:
    raise ValueError(f"regressor must have shape (K, {num_vertices}) for "
                     f"this body model, got {regressor.shape}")
  weights = np.asarray(model.weights, np.float64)
  # mixing[j, v, k] = W[j, v] w[v, k]; float64 keeps the sums exact enough
  # for the 1e-5 m agreement with the vertex path.
  mixing = regressor[:, :, None] * weights[None]
  weight_sum_full = mixing.sum(axis=1)  # (K, 24)
  touched = np.abs(mixing).sum(axis=1) > 0
  width = max(int(touched.sum(axis=1).max()), 1)
  bones = np.zeros((regressor.shape[0], width), np.int32)
  valid = np.zeros((regressor.shape[0], width), bool)
  for j, row in enumerate(touched):
    idx = np.flatnonzero(row)
    bones[j, :len(idx)] = idx
    valid[j, :len(idx)] = True
  # Padded slots point at bone 0 with all-zero coefficients.
  selected = np.take_along_axis(mixing, bones[:, None, :], axis=2)
  selected *= valid[:, None, :]  # (K, V, M)

  def project(vertex_field):  # (V, 3, ...) -> (K, M, 3, ...)
    field = np.asarray(vertex_field, np.float64)
    flat = selected.transpose(0, 2, 1) @ field.reshape(num_vertices, -1)
    return flat.reshape(selected.shape[0], width,
                        *field.shape[1:]).astype(np.float32)

  return KeypointRegressor(
      bones=jnp.asarray(bones),
      template=jnp.asarray(project(model.v_template)),
      shapedirs=jnp.asarray(project(model.shapedirs)),
      posedirs=(None if model.posedirs is None else jnp.asarray(
          project(model.posedirs))),
      weight_sum=jnp.asarray(
          (np.take_along_axis(weight_sum_full, bones, axis=1) *
           valid).astype(np.float32)),
  )


@jax.jit  # a public entry point; nested inside other jits it inlines
def regress_keypoints(model: BodyModel, regressor: KeypointRegressor,
                      pose: jax.Array, betas: jax.Array) -> jax.Array:
  """Keypoints W·M(pose, betas) of the posed mesh, without the mesh.

  Args:
    model: the body model `regressor` was made from.
    regressor: from `make_keypoint_regressor`.
    pose: (..., 72) axis-angle, global orientation first (SMPL order).
    betas: (..., S) shape coefficients.

  Returns:
    (..., K, 3) keypoints in metres, equal to `regressor @ vertices` of
    `smpl_forward` up to float32 rounding.
  """
  local, joints, skeleton = lbs.pose_skeleton(model, pose, betas)
  coeff = regressor.template + jnp.einsum("kmcs,...s->...kmc",
                                          regressor.shapedirs, betas)
  if regressor.posedirs is not None:
    coeff = coeff + jnp.einsum("kmcp,...p->...kmc", regressor.posedirs,
                               lbs.pose_features(local))
  translations = skeleton.skinning_translations(joints)
  if regressor.one_hot:
    picks = (regressor.bones[..., None] ==
             jnp.arange(joints.shape[-2])).astype(coeff.dtype)  # (K, M, J)
    by_bone = jnp.einsum("kmb,...kmj->...kbj", picks, coeff)
    return (jnp.einsum("...bij,...kbj->...ki", skeleton.rotations, by_bone) +
            jnp.einsum("kmb,km,...bi->...ki", picks, regressor.weight_sum,
                       translations))
  rotations = skeleton.rotations[..., regressor.bones, :, :]  # (...,K,M,3,3)
  return (jnp.einsum("...kmij,...kmj->...ki", rotations, coeff) +
          jnp.einsum("...kmi,km->...ki", translations[..., regressor.bones, :],
                     regressor.weight_sum))
