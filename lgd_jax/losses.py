"""How well a body reprojects onto 2D keypoints: the confidence-weighted
reprojection loss that fitting minimises, and the 2D error that fits
report (`keypoint_errors`; `normalized_keypoint_error` for keypoints
normalised to the person's box, as the evaluation harness has them).

The loss is finite in value and gradient for every input: missing points
(confidence 0), NaN or infinite targets, all-zero confidences and absurdly
far outliers.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import cameras

# Residual components beyond this are clipped (their gradient is zero): no
# real keypoint is 1e15 units away, and squaring more could overflow float32.
_MAX_RESIDUAL = 1e15


def visible_residuals(projected: jax.Array, target: jax.Array,
                      confidence: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(..., K, 2) residuals x̂_k − x_k, clipped, and (..., K) weights c_k:
  0 for a missing point (confidence 0 or NaN, or a non-finite target),
  whose residual is then finite."""
  valid = (confidence > 0) & jnp.all(jnp.isfinite(target), axis=-1)
  weight = jnp.where(valid, confidence, 0.0)
  safe_target = jnp.where(valid[..., None], target, 0.0)
  return (jnp.clip(projected - safe_target, -_MAX_RESIDUAL, _MAX_RESIDUAL),
          weight)


def reprojection_loss(projected: jax.Array, target: jax.Array,
                      confidence: jax.Array,
                      robust_sigma: Optional[float] = None) -> jax.Array:
  """sum_k c_k rho(|x̂_k - x_k|^2).

  Args:
    projected: (..., K, 2) projected model keypoints.
    target: (..., K, 2) observed keypoints, same units.
    confidence: (..., K) weights; 0 (or NaN, or a non-finite target) means
      missing. Values are used as given (clip them to [0, 1] upstream).
    robust_sigma: None for the squared error rho(d2) = d2; else the
      Geman-McClure penalty rho(d2) = sigma^2 d2 / (sigma^2 + d2) (SMPLify's
      robust term), which saturates at sigma^2 for outliers; in the units of
      the keypoints.

  Returns:
    (...) loss per person.
  """
  residual, weight = visible_residuals(projected, target, confidence)
  sq_dist = jnp.sum(residual**2, axis=-1)
  if robust_sigma is not None:
    sigma2 = robust_sigma**2
    # The ratio first: no overflow (d2 <= 2e30 after the clip), and no
    # cancellation for small residuals.
    sq_dist = sigma2 * (sq_dist / (sigma2 + sq_dist))
  return jnp.sum(weight * sq_dist, axis=-1)


def _mean_visible_distance(xp, fitted, xy, confidence):
  """(..., K, 2) fitted and annotated points, (..., K) confidence -> (...)
  the mean distance over the points with confidence > 0 (NaN without any),
  with `xp` NumPy (in the inputs' precision) or jax.numpy (traceable)."""
  visible = confidence > 0
  distance = xp.where(visible, xp.linalg.norm(fitted - xy, axis=-1), 0.0)
  return distance.sum(-1) / xp.where(visible.any(-1), visible.sum(-1),
                                     xp.nan)


def keypoint_errors(fitted, xy, confidence):
  """Per person, the mean distance of fitted to annotated visible points.

  Args:
    fitted: (N, K, 2) fitted keypoints, pixels.
    xy: (N, K, 2) annotated keypoints, pixels.
    confidence: (N, K); points with confidence > 0 count.

  Returns:
    (N,) pixels (NaN without visible points), and (N,) the same in percent
    of the person's size: the longer side of the visible points' box.
  """
  pixels = _mean_visible_distance(np, fitted, xy, confidence)
  size = 2 * np.asarray(cameras.normalization(
      jnp.asarray(xy, jnp.float32), jnp.asarray(confidence, jnp.float32)).scale)
  return pixels, 100 * pixels / size


def normalized_keypoint_error(fitted: jax.Array, keypoints: jax.Array,
                              confidence: jax.Array) -> jax.Array:
  """`keypoint_errors`' percent of keypoints normalised to the person's box
  (`cameras.normalization`), traceable: (..., K, 2), (..., K) -> (...).

  The box's longer side is 2 units there, so the percent is 50 × the mean
  distance.
  """
  return 50.0 * _mean_visible_distance(jnp, fitted, keypoints, confidence)
