"""Error metrics of 3D joints: MPJPE, PA-MPJPE, their per-step curves
along a fit, means over the valid people, and jitter (the 2D keypoint error
of a fit, which `lgd-fit` reports too, is `lgd_jax.losses.keypoint_errors`).

The metrics are in the units of their inputs; the harness, training's
evaluation and the sequence evaluation report millimetres (`MM`).
"""

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import theta as theta_lib
from lgd_jax.body.cache import Body

MM = 1e3  # millimetres per metre: the body model is in metres
# A fit off by more than this PA-MPJPE (mm) is counted as catastrophic: the
# body is not the person's pose at all (issue 15's measure).
CATASTROPHIC_MM = 150.0


def root_aligned(points: jax.Array, root: jax.Array) -> jax.Array:
  """(..., J, 3) points relative to their (..., 3) root."""
  return points - root[..., None, :]


def mean_distance(pred: jax.Array, target: jax.Array) -> jax.Array:
  """(..., J, 3) -> (...) mean distance between corresponding points."""
  return jnp.mean(jnp.linalg.norm(pred - target, axis=-1), axis=-1)


def root_aligned_error(pred: jax.Array, target: jax.Array,
                       pred_root: jax.Array,
                       target_root: jax.Array) -> jax.Array:
  """(..., J, 3) -> (...) mean point error once each root, (..., 3), is
  moved to the origin."""
  return mean_distance(root_aligned(pred, pred_root),
                       root_aligned(target, target_root))


def mpjpe(pred: jax.Array, target: jax.Array, root: int = 0) -> jax.Array:
  """(..., J, 3) -> (...) mean joint error after aligning the root joints."""
  return root_aligned_error(pred, target, pred[..., root, :],
                            target[..., root, :])


def procrustes_align(pred: jax.Array, target: jax.Array) -> jax.Array:
  """(..., J, 3) `pred` moved by the similarity (scale, rotation,
  translation) that best fits it to `target` in least squares."""
  mu_p = pred.mean(-2, keepdims=True)
  mu_t = target.mean(-2, keepdims=True)
  p, t = pred - mu_p, target - mu_t
  cov = jnp.einsum("...ji,...jk->...ik", p, t)
  u, s, vt = jnp.linalg.svd(cov)
  # A reflection is not a rotation: flip the smallest axis if needed.
  sign = jnp.sign(jnp.linalg.det(u @ vt))
  d = jnp.stack([jnp.ones_like(sign), jnp.ones_like(sign), sign], -1)
  rotation = (u * d[..., None, :]) @ vt
  scale = jnp.sum(s * d, -1) / jnp.maximum(jnp.sum(p**2, axis=(-2, -1)),
                                           1e-12)
  return scale[..., None, None] * p @ rotation + mu_t


def pa_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """(..., J, 3) -> (...) mean joint error after Procrustes alignment."""
  return mean_distance(procrustes_align(pred, target), target)


def per_step_joint_errors(body: Body, thetas: jax.Array,
                          target: jax.Array) -> tuple[jax.Array, jax.Array]:
  """MPJPE and PA-MPJPE (T, B) in mm of the 24 SMPL joints of (T, B, P) Θ
  along a fit against the (B, P) true Θ."""
  pred = theta_lib.smpl_joints(thetas, body)
  true = theta_lib.smpl_joints(target, body)
  return MM * mpjpe(pred, true), MM * pa_mpjpe(pred, true)


def valid_mean(values: jax.Array, valid: jax.Array) -> jax.Array:
  """(..., B) -> (...) the mean over the valid people of (B,) `valid`
  (0 without any)."""
  return jnp.sum(values * valid, -1) / jnp.maximum(valid.sum(), 1)


def _with_neighbours(valid):
  """(T, ...) -> (T-2, ...) whether frames t-1, t, t+1 are all valid."""
  return valid[2:] & valid[1:-1] & valid[:-2]


def acceleration_frames(valid) -> int:
  """How many frames (over all tracks) of a (T, ...) `valid` mask the
  acceleration metrics count: those whose neighbours are valid too."""
  return int(_with_neighbours(np.asarray(valid, bool)).sum())


def _accelerations(joints, valid):
  """(T, ..., J, 3) -> second differences (T-2, ..., J, 3) and (T-2, ...)
  whether frames t-1, t, t+1 are all valid."""
  joints = jnp.asarray(joints)
  valid = (jnp.ones(joints.shape[:-2], bool) if valid is None
           else jnp.asarray(valid, bool))
  accel = joints[2:] - 2 * joints[1:-1] + joints[:-2]
  return accel, _with_neighbours(valid)


def _mean_over_frames(size, ok):
  """The mean of `size` where `ok` (NaN without any)."""
  return jnp.sum(jnp.where(ok, size, 0.0)) / jnp.where(ok.any(), ok.sum(),
                                                        jnp.nan)


def mean_acceleration(joints, valid=None) -> jax.Array:
  """Jitter: the mean joint acceleration of trajectories.

  |x_{t+1} - 2 x_t + x_{t-1}| averaged over joints and over the frames t
  whose neighbours t - 1 and t + 1 are valid too (an invalid frame breaks
  the trajectory instead of adding a jump).

  Args:
    joints: (T, ..., J, 3), time first (e.g. (T, P, 24, 3) for P tracks).
    valid: (T, ...) bool; default all valid.

  Returns:
    A scalar in the input's units per frame^2 (NaN without any valid
    triple of frames).
  """
  accel, ok = _accelerations(joints, valid)
  return _mean_over_frames(jnp.linalg.norm(accel, axis=-1).mean(-1), ok)


def acceleration_error(pred, target, valid=None) -> jax.Array:
  """Mean |a_pred - a_target| of the second differences of (T, ..., J, 3)
  trajectories, over the frames `mean_acceleration` counts (units per
  frame^2; NaN without any)."""
  accel_pred, ok = _accelerations(pred, valid)
  accel_target, _ = _accelerations(target, valid)
  return _mean_over_frames(mean_distance(accel_pred, accel_target), ok)
