"""Body shapes: sampling the shape space."""

import jax
import jax.numpy as jnp


def sample_betas(key: jax.Array, shape=(), num_betas: int = 10,
                 clip: float = 2.5) -> jax.Array:
  """Body shapes drawn from the body model's shape space.

  The bundled model's (and SMPL's) shape components are whitened, so betas
  ~ N(0, I) is the population the model was built from; clipping each
  coefficient to [-clip, clip] standard deviations keeps rare extremes out
  (at 2.5, 1.2 % of single coefficients are clipped).

  Args:
    key: a JAX PRNG key.
    shape: leading batch shape.
    num_betas: number of shape coefficients.
    clip: bound in standard deviations.

  Returns:
    (*shape, num_betas) float32 betas.
  """
  return jnp.clip(jax.random.normal(key, tuple(shape) + (num_betas,)), -clip,
                  clip)
