"""The unrolled learned optimizer (pure; used by `fit` and by training).

Θ (layout in `lgd_jax.theta`) lives in the person-centred frame of
`cameras.normalization`. Each step computes the inner loss's
gradient with `jax.grad` through the fast keypoint path and adds the
network's update: Θ_{n+1} = Θ_n + N_w(∇L(Θ_n), Θ_n, x). The N steps are a
`jax.lax.scan`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from lgd_jax import losses
from lgd_jax import network as network_lib
from lgd_jax import theta as theta_lib
from lgd_jax.body.cache import Body


def keypoint_features(keypoints: jax.Array, confidence: jax.Array):
  """(..., C, 2), (..., C) -> (..., 3C): the network's view of x."""
  masked = keypoints * confidence[..., None]
  return jnp.concatenate(
      [masked.reshape(masked.shape[:-2] + (-1,)), confidence], axis=-1)


def inner_loss(theta: jax.Array, body: Body, keypoints: jax.Array,
               confidence: jax.Array) -> jax.Array:
  """(...) mean squared reprojection error per visible keypoint of Θ."""
  _, projected = theta_lib.keypoints(theta, body)
  error = losses.reprojection_loss(projected, keypoints, confidence)
  return error / jnp.maximum(confidence.sum(-1), 1.0)


class Unroll(NamedTuple):
  thetas: jax.Array  # (N + 1, ..., P): Θ_0 .. Θ_N
  losses: jax.Array  # (N + 1, ...): inner loss of each


def unroll(network: network_lib.UpdateNetwork, params: Any, body: Body,
           keypoints: jax.Array, confidence: jax.Array, num_steps: int, *,
           init: Optional[jax.Array] = None,
           init_valid: Optional[jax.Array] = None, grad_scale: float = 1.0,
           stop_inner_gradient: bool = True, train: bool = False,
           rng: Optional[jax.Array] = None,
           loss_points: Optional[Sequence[int]] = None) -> Unroll:
  """Runs the learned optimizer for `num_steps` steps.

  Args:
    network: the Flax module; params: its variables.
    body: the body model with its canonical keypoint regressor.
    keypoints: (..., C, 2) normalised canonical keypoints.
    confidence: (..., C).
    num_steps: N (static).
    init: (..., P) Θ to start from (warm start); default: the network's
      initial estimate (0 in the paper's layout).
    init_valid: (...) bool; where False, start from the initial estimate
      instead of `init` (e.g. a track without a previous fit).
    grad_scale: multiplies ∇L before the network sees it.
    stop_inner_gradient: treat ∇L and Θ_n as inputs when training (no
      second derivatives through the body model; much cheaper).
    train: enables dropout (needs `rng`).
    loss_points: static canonical indices that can be visible (e.g. a
      keypoint format's); the inner loss skips the others, which have zero
      confidence and so no effect on it. Default: all.

  Returns:
    `Unroll` with Θ_0..Θ_N and their inner losses.
  """
  x = keypoint_features(keypoints, confidence)
  if loss_points is not None:
    body = body.select(loss_points)
    keypoints = keypoints[..., loss_points, :]
    confidence = confidence[..., loss_points]
  if rng is not None:
    init_rng, rng = jax.random.split(rng)
  if init is None or init_valid is not None:
    initial = network.apply(params, x, train, method=network.initial,
                            rngs={} if rng is None else {"dropout": init_rng})
    init = initial if init is None else jnp.where(
        jnp.asarray(init_valid)[..., None], init, initial)

  def summed_loss(theta):  # samples are independent: grad of the sum = each's
    loss = inner_loss(theta, body, keypoints, confidence)
    return loss.sum(), loss

  def step(theta, step_rng):
    (_, loss), grad = jax.value_and_grad(summed_loss, has_aux=True)(theta)
    grad = grad * grad_scale
    theta_in = theta
    if stop_inner_gradient:
      grad, theta_in = jax.lax.stop_gradient((grad, theta))
    step_rngs = {} if rng is None else {"dropout": step_rng}
    delta = network.apply(params, x, grad, theta_in, train, rngs=step_rngs)
    return theta + delta, (theta, loss)

  step_rngs = (jax.random.split(rng, num_steps) if rng is not None else
               jnp.zeros((num_steps, 2), jnp.uint32))
  final, (thetas, step_losses) = jax.lax.scan(step, init, step_rngs)
  final_loss = inner_loss(final, body, keypoints, confidence)
  return Unroll(jnp.concatenate([thetas, final[None]]),
                jnp.concatenate([step_losses, final_loss[None]]))


def unroll_best_start(network: network_lib.UpdateNetwork, params: Any,
                      body: Body, keypoints: jax.Array,
                      confidence: jax.Array, num_steps: int, *,
                      num_starts: int = 1,
                      init: Optional[jax.Array] = None,
                      init_valid: Optional[jax.Array] = None,
                      **kwargs) -> Unroll:
  """`unroll` from several starts, keeping each person's best run.

  With `num_starts` = 2 the second start is the first (`init`, or the
  network's initial estimate) turned half round (`theta.turned_half_round`);
  each person keeps the run with the lower final inner loss. It costs
  `num_starts` times one run. With 1 it is `unroll`.
  """
  run = lambda *args, **more: unroll(network, params, body, *args,
                                     **kwargs, **more)
  if num_starts == 1:
    return run(keypoints, confidence, num_steps, init=init,
               init_valid=init_valid)
  if num_starts != 2:
    raise ValueError(f"num_starts must be 1 or 2, got {num_starts}")
  first = run(keypoints, confidence, 0, init=init,
              init_valid=init_valid).thetas[0]
  starts = jnp.stack([first, theta_lib.turned_half_round(first)])
  both = run(jnp.broadcast_to(keypoints, (2,) + keypoints.shape),
             jnp.broadcast_to(confidence, (2,) + confidence.shape),
             num_steps, init=starts)
  best = jnp.argmin(both.losses[-1], axis=0)  # (...)
  pick = lambda a: jnp.take_along_axis(
      a, best[None, None, ..., None] if a.ndim == best.ndim + 3 else
      best[None, None], axis=1)[:, 0]
  return Unroll(pick(both.thetas), pick(both.losses))


def init_params(network: network_lib.UpdateNetwork, rng: jax.Array,
                num_canonical: int):
  """Variables of `network` for C = num_canonical keypoints."""
  x = jnp.zeros((1, 3 * num_canonical))

  def both(module, x):
    theta = module.initial(x)
    return module(x, jnp.zeros_like(theta), theta)

  return network.init(rng, x, method=both)
