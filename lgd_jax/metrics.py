"""3D error metrics (METHOD.md §5), in the units of the inputs."""

import jax
import jax.numpy as jnp


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
