"""Aligning the fit in the image after the learned steps (`fit(align=)`).

With the posed body held, turning it about the camera's optical axis and
scaling and shifting its weak-perspective camera move its projection by a
similarity transform of the image (`theta.turned_in_image`). The one that
brings the projected points closest to the keypoints (weighted least
squares) has a closed form, so it costs one body evaluation and no
iterations. The learned steps leave a little of it unsolved: it lowers the
2D error, and MPJPE a little, and leaves PA-MPJPE as it is (README,
"Aligned in the image"). Turns out of the image plane are left alone: under
a perspective camera the weak-perspective optimum of those is not the
truth, and fitting them cost MPJPE there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lgd_jax import losses
from lgd_jax import theta as theta_lib
from lgd_jax import unroll
from lgd_jax.body import rotations
from lgd_jax.body.cache import Body


def aligned_in_image(theta: jax.Array, loss: jax.Array, body: Body,
                     keypoints: jax.Array, confidence: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
  """Θ turned in the image, scaled and shifted onto the keypoints.

  Args:
    theta: (..., P) Θ (`lgd_jax.theta`) in `cameras.normalization`'s units.
    loss: (...) its inner loss (`unroll.inner_loss`).
    body: the body model with the canonical points `keypoints` has.
    keypoints: (..., C, 2) normalised keypoints; confidence: (..., C).

  Returns:
    (Θ, its inner loss): per person, the Θ whose projection is the least-
    squares similarity transform of the given one's onto the keypoints,
    where that has the lower loss; else the given Θ and loss (people
    without two distinct visible points, non-finite transforms).
  """
  _, projected = theta_lib.keypoints(theta, body)
  _, weight = losses.visible_residuals(projected, keypoints, confidence)
  target = jnp.where(weight[..., None] > 0, keypoints, 0.0)
  total = jnp.maximum(weight.sum(-1), 1e-12)[..., None]
  projected_mean, target_mean = (
      jnp.einsum("...k,...kc->...c", weight, points) / total
      for points in (projected, target))
  source = projected - projected_mean[..., None, :]
  goal = target - target_mean[..., None, :]
  spread = jnp.einsum("...k,...kc,...kc->...", weight, source, source)
  # The transform's matrix is [[α, -β], [β, α]] = scale × a turn.
  alpha = jnp.einsum("...k,...kc,...kc->...", weight, source, goal)
  beta = jnp.einsum("...k,...k->...", weight,
                    source[..., 0] * goal[..., 1] -
                    source[..., 1] * goal[..., 0])
  safe_spread = jnp.where(spread > 0, spread, 1.0)
  alpha, beta = alpha / safe_spread, beta / safe_spread
  scale = jnp.hypot(alpha, beta)
  angle = jnp.arctan2(beta, alpha)
  turned = theta_lib.turned_in_image(theta, angle, body)
  # Turned, its projection is the given one turned about the origin; then
  # x -> scale x + shift.
  shift = target_mean - scale[..., None] * rotations.turned_2d(
      projected_mean, angle)
  camera = turned[..., -theta_lib.NUM_CAMERA:]
  # Joined, not `.at[...].set`: with that, `fit` in 64-bit mode compiled
  # to other bits than in 32-bit mode (tests/test_determinism.py).
  aligned = jnp.concatenate([
      turned[..., :-theta_lib.NUM_CAMERA],
      camera[..., :1] + jnp.log(jnp.where(scale > 0, scale, 1.0))[..., None],
      scale[..., None] * camera[..., 1:] + shift], -1)
  moved = (scale[..., None, None] *
           rotations.turned_2d(projected, angle[..., None]) +
           shift[..., None, :])
  aligned_loss = unroll.point_loss(moved, keypoints, confidence)
  better = ((spread > 0) & (scale > 0) & (aligned_loss < loss) &
            jnp.all(jnp.isfinite(aligned), -1))
  return (jnp.where(better[..., None], aligned, theta),
          jnp.where(better, aligned_loss, loss))

