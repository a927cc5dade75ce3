"""Rotations: axis-angle, matrices and quaternions (w, x, y, z), and 2D
turns in the image plane, as pure JAX functions of any leading shape; exact
values and gradients at 0."""

import jax
import jax.numpy as jnp


def turned_2d(xy: jax.Array, angle: jax.Array) -> jax.Array:
  """(..., 2) vectors turned by `angle` (...) radians from the x axis
  towards the y axis."""
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  x, y = xy[..., 0], xy[..., 1]
  return jnp.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def axis_angle_to_matrix(rotvec: jax.Array) -> jax.Array:
  """Rodrigues' formula, (..., 3) axis-angle (radians) -> (..., 3, 3).

  R = I + a K + b K^2 with K the cross-product matrix of `rotvec`,
  a = sin(t)/t and b = (1 - cos t)/t^2. A Taylor branch near t = 0 keeps the
  value and the gradient exact there (the learned optimizer starts at 0).
  """
  sq = jnp.sum(rotvec**2, axis=-1)
  small = sq < 1e-6
  safe_sq = jnp.where(small, 1.0, sq)
  angle = jnp.sqrt(safe_sq)
  a = jnp.where(small, 1.0 - sq / 6.0, jnp.sin(angle) / angle)
  # 2 sin^2(t/2) avoids the cancellation in 1 - cos(t) for small t.
  b = jnp.where(small, 0.5 - sq / 24.0,
                2.0 * jnp.sin(0.5 * angle)**2 / safe_sq)
  x, y, z = rotvec[..., 0], rotvec[..., 1], rotvec[..., 2]
  zero = jnp.zeros_like(x)
  k = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1)
  k = k.reshape(rotvec.shape[:-1] + (3, 3))
  eye = jnp.eye(3, dtype=rotvec.dtype)
  return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_quaternion(matrix: jax.Array) -> jax.Array:
  """(..., 3, 3) rotation matrices -> (..., 4) quaternions (w, x, y, z), not
  normalised: the largest of four candidate components is used, so no
  branch divides by ~0."""
  m = matrix
  trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
  # Four candidates (w, x, y, z) scaled by 4 times their largest component.
  candidates = jnp.stack([
      jnp.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2],
                 m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]],
                -1),
      jnp.stack([m[..., 2, 1] - m[..., 1, 2],
                 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                 m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]],
                -1),
      jnp.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                 1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                 m[..., 1, 2] + m[..., 2, 1]], -1),
      jnp.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                 m[..., 1, 2] + m[..., 2, 1],
                 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
  ], axis=-2)  # (..., 4, 4)
  diagonal = jnp.stack([1 + trace, 1 + m[..., 0, 0] - m[..., 1, 1] -
                        m[..., 2, 2], 1 - m[..., 0, 0] + m[..., 1, 1] -
                        m[..., 2, 2], 1 - m[..., 0, 0] - m[..., 1, 1] +
                        m[..., 2, 2]], -1)
  best = jnp.argmax(diagonal, axis=-1)
  quat = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[...,
                                                                         0, :]
  return quat


def matrix_to_axis_angle(matrix: jax.Array) -> jax.Array:
  """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angle in [0, pi]
  (through a quaternion, then atan2: accurate at 0 and at pi)."""
  return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(rotvec: jax.Array) -> jax.Array:
  """(..., 3) axis-angle -> (..., 4) unit quaternion (w, x, y, z)."""
  sq = jnp.sum(rotvec**2, -1, keepdims=True)
  small = sq < 1e-12
  angle = jnp.sqrt(jnp.where(small, 1.0, sq))
  # sin(t/2)/t -> 1/2 as t -> 0.
  factor = jnp.where(small, 0.5 - sq / 48.0, jnp.sin(angle / 2) / angle)
  return jnp.concatenate([jnp.where(small, 1.0 - sq / 8.0,
                                    jnp.cos(angle / 2)), factor * rotvec], -1)


def quaternion_to_axis_angle(quat: jax.Array) -> jax.Array:
  """(..., 4) quaternion (w, x, y, z), any norm > 0 -> (..., 3) axis-angle
  with the angle in [0, pi]."""
  quat = quat * jnp.where(quat[..., :1] < 0, -1.0, 1.0)  # w >= 0: angle <= pi
  quat = quat / jnp.linalg.norm(quat, axis=-1, keepdims=True)
  sin_half_sq = jnp.sum(quat[..., 1:]**2, axis=-1)
  small = sin_half_sq < 1e-12
  # A norm with a finite gradient at the identity (where it is 0).
  sin_half = jnp.where(small, 0.0, jnp.sqrt(jnp.where(small, 1.0,
                                                      sin_half_sq)))
  angle = 2 * jnp.arctan2(sin_half, quat[..., 0])
  # angle / sin(angle / 2) -> 2 as the angle -> 0.
  factor = jnp.where(small, 2.0, angle / jnp.where(small, 1.0, sin_half))
  return quat[..., 1:] * factor[..., None]
