"""Error metrics of 3D joints in the units of the inputs: MPJPE,
PA-MPJPE and jitter (the 2D keypoint error of a fit, which `lgd-fit`
reports too, is `lgd_jax.losses.keypoint_errors`)."""

import jax
import jax.numpy as jnp
import numpy as np



def mpjpe(pred: jax.Array, target: jax.Array, root: int = 0) -> jax.Array:
  """(..., J, 3) -> (...) mean joint error after aligning the root joints."""
  pred = pred - pred[..., root:root + 1, :]
  target = target - target[..., root:root + 1, :]
  return jnp.mean(jnp.linalg.norm(pred - target, axis=-1), axis=-1)


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
  aligned = procrustes_align(pred, target)
  return jnp.mean(jnp.linalg.norm(aligned - target, axis=-1), axis=-1)


def _accelerations(joints, valid):
  """(T, ..., J, 3) -> second differences (T-2, ..., J, 3) and (T-2, ...)
  whether frames t-1, t, t+1 are all valid."""
  joints = jnp.asarray(joints)
  valid = (jnp.ones(joints.shape[:-2], bool) if valid is None
           else jnp.asarray(valid, bool))
  accel = joints[2:] - 2 * joints[1:-1] + joints[:-2]
  return accel, valid[2:] & valid[1:-1] & valid[:-2]


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
  size = jnp.linalg.norm(accel, axis=-1).mean(-1)
  return jnp.sum(jnp.where(ok, size, 0.0)) / jnp.where(ok.any(), ok.sum(),
                                                        jnp.nan)


def acceleration_error(pred, target, valid=None) -> jax.Array:
  """Mean |a_pred - a_target| of the second differences of (T, ..., J, 3)
  trajectories, over the frames `mean_acceleration` counts (units per
  frame^2; NaN without any)."""
  accel_pred, ok = _accelerations(pred, valid)
  accel_target, _ = _accelerations(target, valid)
  size = jnp.linalg.norm(accel_pred - accel_target, axis=-1).mean(-1)
  return jnp.sum(jnp.where(ok, size, 0.0)) / jnp.where(ok.any(), ok.sum(),
                                                        jnp.nan)
