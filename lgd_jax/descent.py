"""Gradient descent after the learned steps (`fit(descent_iterations=K)`).

The learned steps end near a body that explains the keypoints; a few Adam
iterations on SMPLify's robust reprojection term then pull the visible
points closer. What keeps the body plausible is not SMPLify's pose prior
but the learned fit itself: the body pose and shape are penalised for
leaving it (`anchor_weight`), the global rotation and camera are free.
Everything is in the person-centred units of `cameras.normalization`
(1 unit = half the long side of the keypoints' box), where `fit` works.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lgd_jax import losses
from lgd_jax import theta as theta_lib
from lgd_jax.body.cache import Body

# SMPLify's Geman–McClure scale (1 unit) and its later stages' learning
# rate; the anchor weight picked by hand (README, "Gradient descent after
# the learned steps"): weaker anchors explain the points more closely and
# lose 3D accuracy, stronger ones keep the learned error in 2D.
ROBUST_SIGMA = 1.0
LEARNING_RATE = 0.02
ANCHOR_WEIGHT = 0.3


def descend(body: Body, keypoints: jax.Array, confidence: jax.Array,
            start: jax.Array, iterations: int, *,
            learning_rate: float = LEARNING_RATE,
            anchor_weight: float = ANCHOR_WEIGHT) -> jax.Array:
  """(..., P) Θ after `iterations` Adam steps from `start`.

  Args:
    body: the body model with the canonical points `keypoints` has.
    keypoints: (..., C, 2) normalised keypoints; confidence: (..., C).
    start: (..., P) the learned fit; also the anchor.
    iterations: static.
    learning_rate: Adam's.
    anchor_weight: weight of the mean squared change of the body pose
      (axis-angle, joints 1-23) and shape from `start`, against the mean
      robust squared distance of the visible points.
  """
  num_betas = body.model.num_betas
  anchored = jnp.zeros(start.shape[-1], bool).at[
      3:theta_lib.NUM_POSE + num_betas].set(True)

  def objective(theta):  # people are independent: the sum's gradient is each's
    _, projected = theta_lib.keypoints(theta, body)
    data = losses.reprojection_loss(projected, keypoints, confidence,
                                    ROBUST_SIGMA) / jnp.maximum(
                                        confidence.sum(-1), 1.0)
    change = jnp.where(anchored, theta - start, 0.0)
    return jnp.sum(data + anchor_weight * jnp.sum(change**2, -1) /
                   anchored.sum())

  adam = optax.adam(learning_rate)

  def step(carry, _):
    theta, state = carry
    updates, state = adam.update(jax.grad(objective)(theta), state)
    return (optax.apply_updates(theta, updates), state), None

  (theta, _), _ = jax.lax.scan(step, (start, adam.init(start)), None,
                               length=iterations)
  return theta
