"""The unrolled learned optimizer (pure; used by `fit` and by training).

Θ (layout in `lgd_jax.theta`) lives in the person-centred frame of
`cameras.normalization`. Each step computes the inner loss's
gradient with `jax.grad` through the fast keypoint path and adds the
network's update: Θ_{n+1} = Θ_n + N_w(∇L(Θ_n), Θ_n, x) (the network may
also see each keypoint's residual, `residual_features`). The steps are a
`jax.lax.scan`, two with a refiner (the path's steps, then the refiner's,
whose k-th update is scaled by the network's `refine_decay` γ^k).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import formats as kp
from lgd_jax import losses
from lgd_jax import network as network_lib
from lgd_jax import theta as theta_lib
from lgd_jax.body import rotations
from lgd_jax.body.cache import Body


def keypoint_features(keypoints: jax.Array, confidence: jax.Array):
  """(..., C, 2), (..., C) -> (..., 3C): the network's view of x."""
  masked = keypoints * confidence[..., None]
  return jnp.concatenate(
      [masked.reshape(masked.shape[:-2] + (-1,)), confidence], axis=-1)


def residual_features(projected: jax.Array, keypoints: jax.Array,
                      confidence: jax.Array) -> jax.Array:
  """(..., C, 2) ×2, (..., C) -> (..., 2C): each visible keypoint's
  projection minus the keypoint, weighted by its confidence (0 for the
  unseen), the network's view of the residual."""
  residual, weight = losses.visible_residuals(projected, keypoints,
                                              confidence)
  weighted = weight[..., None] * residual
  return weighted.reshape(weighted.shape[:-2] + (-1,))


def point_loss(projected: jax.Array, keypoints: jax.Array,
               confidence: jax.Array) -> jax.Array:
  """(...) mean squared reprojection error per visible keypoint of
  projected points (..., C, 2): what the inner loss measures."""
  error = losses.reprojection_loss(projected, keypoints, confidence)
  return error / jnp.maximum(confidence.sum(-1), 1.0)


def inner_loss_and_points(theta: jax.Array, body: Body,
                          keypoints: jax.Array, confidence: jax.Array):
  """`inner_loss` and the body's keypoints it compares
  (`theta.keypoints`: 3D, projected)."""
  points = theta_lib.keypoints(theta, body)
  return point_loss(points[1], keypoints, confidence), points


def inner_loss(theta: jax.Array, body: Body, keypoints: jax.Array,
               confidence: jax.Array) -> jax.Array:
  """(...) mean squared reprojection error per visible keypoint of Θ."""
  return inner_loss_and_points(theta, body, keypoints, confidence)[0]


def step_codes(num_steps: int, num_codes: int, warm: jax.Array) -> jax.Array:
  """(num_steps, ...) int: the code each step's update sees
  (`network.UpdateNetwork.step_codes`). From Θ_0 step n has code n until
  the last code, which every later step shares; from a warm start (`warm`
  True: near the answer) every step has the last code."""
  last = num_codes - 1
  start = jnp.where(jnp.asarray(warm), last, 0)
  return jnp.minimum(jnp.arange(num_steps).reshape(
      (num_steps,) + (1,) * start.ndim) + start, last)


def path_steps(network: network_lib.UpdateNetwork, num_steps: int) -> int:
  """How many of `num_steps` steps from Θ_0 the first network takes; the
  refiner (`network.refine_after`), where there is one, takes the rest."""
  return (min(num_steps, network.refine_after) if network.refine_after
          else num_steps)


class Unroll(NamedTuple):
  thetas: jax.Array  # (N + 1, ..., P): Θ_0 .. Θ_N
  losses: jax.Array  # (N + 1, ...): inner loss of each
  # With `unroll(with_points=True)`: each Θ's `theta.keypoints`, the 3D
  # (N + 1, ..., C, 3) and projected (N + 1, ..., C, 2) points.
  points: Optional[tuple[jax.Array, jax.Array]] = None


def unroll(network: network_lib.UpdateNetwork, params: Any, body: Body,
           keypoints: jax.Array, confidence: jax.Array, num_steps: int, *,
           init: Optional[jax.Array] = None,
           init_valid: Optional[jax.Array] = None, grad_scale: float = 1.0,
           stop_inner_gradient: bool = True, train: bool = False,
           rng: Optional[jax.Array] = None,
           loss_points: Optional[Sequence[int]] = None,
           warm: Optional[jax.Array] = None,
           with_points: bool = False, scan_unroll: bool = False) -> Unroll:
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
    stop_inner_gradient: treat ∇L, Θ_n (and residuals) as inputs when
      training (no second derivatives through the body model; cheaper).
    train: enables dropout (needs `rng`).
    loss_points: static canonical indices that can be visible (e.g. a
      keypoint format's); the inner loss skips the others, which have zero
      confidence and so no effect on it. Default: all.
    warm: (...) bool (or one for all), where the start is near the answer:
      a network with a refiner (`UpdateNetwork.refine_after`) then takes
      every step with it (its updates' decay, `refine_decay`, counted from
      the first), one with step codes (`step_codes`) the last code;
      default: where `init` is used.
    with_points: also return each Θ's body keypoints, the ones its inner
      loss computed (training's reprojection terms reuse them instead of
      running the body model again); needs all keypoints (no
      `loss_points`).
    scan_unroll: compile the steps inline instead of as a loop. Training's
      backward pass then reads no stacked per-step residuals and its step
      is faster (benchmarks/bench_train.py); a fit's latency is not.

  Returns:
    `Unroll` with Θ_0..Θ_N, their inner losses (and keypoints).
  """
  if with_points and loss_points is not None:
    raise ValueError("with_points needs every keypoint: no loss_points")
  x = keypoint_features(keypoints, confidence)
  num_points = keypoints.shape[-2]
  if loss_points is not None:
    body = body.select(loss_points)
    keypoints = keypoints[..., loss_points, :]
    confidence = confidence[..., loss_points]
  if rng is not None:
    init_rng, rng = jax.random.split(rng)
  if warm is None:
    warm = (False if init is None else
            True if init_valid is None else init_valid)
  if init is None or init_valid is not None:
    initial = network.apply(params, x, train, method=network.initial,
                            rngs={} if rng is None else {"dropout": init_rng})
    init = initial if init is None else jnp.where(
        jnp.asarray(init_valid)[..., None], init, initial)

  def summed_loss(theta):  # samples are independent: grad of the sum = each's
    loss, points = inner_loss_and_points(theta, body, keypoints, confidence)
    return loss.sum(), (loss, points)

  def residual_of(projected):
    """The network's residual input (..., 2C): the residuals of the inner
    loss's points at their canonical places, zero at the others."""
    residual = residual_features(projected, keypoints, confidence)
    if loss_points is None:
      return residual
    by_point = residual.reshape(residual.shape[:-1] + (-1, 2))
    full = jnp.zeros(by_point.shape[:-2] + (num_points, 2), residual.dtype)
    full = full.at[..., np.asarray(loss_points), :].set(by_point)
    return full.reshape(residual.shape[:-1] + (-1,))

  def decay_factor(index):
    """γ^k (`network.refine_decay`) for the refiner's k-th update, counted
    from a warm start's first step or a cold start's step `refine_after`;
    1 for the path's updates."""
    refines = jnp.logical_or(warm, index >= network.refine_after)
    k = index - jnp.where(warm, 0, network.refine_after)
    return jnp.where(refines, network.refine_decay ** jnp.maximum(k, 0), 1.0)

  def step(refine, theta, inputs):
    step_rng, code, index = inputs
    (_, (loss, points)), grad = jax.value_and_grad(
        summed_loss, has_aux=True)(theta)
    grad = grad * grad_scale
    theta_in = theta
    residual = (residual_of(points[1]) if "residual" in network.inputs
                else None)
    if stop_inner_gradient:
      grad, theta_in, residual = jax.lax.stop_gradient(
          (grad, theta, residual))
    step_rngs = {} if rng is None else {"dropout": step_rng}
    delta = network.apply(params, x, grad, theta_in, train,
                          step_code=code, refine=refine, rngs=step_rngs,
                          residual=residual)
    if network.refine_decay != 1.0 and refine is not False:  # not the path's
      # In Θ's dtype: in 64-bit mode γ^k would be float64 and change the
      # scan's carry.
      delta = delta * decay_factor(index).astype(delta.dtype)[..., None]
    return theta + delta, (theta, loss, points if with_points else None)

  step_rngs = (jax.random.split(rng, num_steps) if rng is not None else
               jnp.zeros((num_steps, 2), jnp.uint32))
  codes = (step_codes(num_steps, network.step_codes, warm)
           if network.step_codes else jnp.zeros((num_steps,), jnp.int32))
  # With a refiner: the first `refine_after` steps refine where the start
  # is warm, the later ones everywhere; one scan each, so a static `warm`
  # runs one MLP.
  path = path_steps(network, num_steps)
  final, phases = init, []
  for first, last, refine in ((0, path, warm), (path, num_steps, True)):
    if last > first:
      final, phase = jax.lax.scan(
          functools.partial(step, refine), final,
          (step_rngs[first:last], codes[first:last],
           jnp.arange(first, last)), unroll=scan_unroll)
      phases.append(phase)
  final_loss, final_points = inner_loss_and_points(final, body, keypoints,
                                                   confidence)
  phases.append(jax.tree.map(lambda leaf: leaf[None], (
      final, final_loss, final_points if with_points else None)))
  return Unroll(*jax.tree.map(lambda *parts: jnp.concatenate(parts),
                              *phases))


# `fit` turns a person whose body axis (`body_axis_angle`) is more than
# this many degrees off the image's vertical upright before the learned
# steps, and the result back: the networks learned on few bodies lying
# across the image (README, "Upright in the image"). 180: never.
UPRIGHT_BEYOND_DEG = 30.0


def _side_masks(part: str) -> np.ndarray:
  """(2, C) which canonical points are the left and the right `part` (both
  conventions: SMPL's joints and COCO's surface points)."""
  return np.array([[f"{side}_{part}" in name for name in kp.CANONICAL_NAMES]
                   for side in ("left", "right")], np.float32)


def body_axis_angle(keypoints: jax.Array, confidence: jax.Array) -> jax.Array:
  """(...) radians by which the body's axis, from between its ankles (or,
  unseen, its knees) to between its shoulders, is turned from the image's
  up direction, in the sense of `theta.turned_in_image`; 0 where the left
  or the right point of either end is unseen.

  Args:
    keypoints: (..., C, 2) canonical keypoints (image axes: y down).
    confidence: (..., C); points above 0 count as seen.
  """
  seen = confidence > 0
  points = jnp.where(seen[..., None], keypoints, 0.0)  # unseen may be NaN

  def middle(part):
    weights = _side_masks(part) * seen[..., None, :]
    count = weights.sum(-1)  # (..., 2)
    sides = (jnp.einsum("...sc,...cd->...sd", weights, points) /
             jnp.maximum(count, 1.0)[..., None])
    return sides.mean(-2), jnp.all(count > 0, axis=-1)

  shoulders, shoulders_seen = middle("shoulder")
  ankles, ankles_seen = middle("ankle")
  knees, knees_seen = middle("knee")
  axis = shoulders - jnp.where(ankles_seen[..., None], ankles, knees)
  return jnp.where(shoulders_seen & (ankles_seen | knees_seen),
                   jnp.arctan2(axis[..., 0], -axis[..., 1]), 0.0)


def turned_upright(keypoints: jax.Array, confidence: jax.Array,
                   beyond_deg: float) -> tuple[jax.Array, jax.Array]:
  """(angle (...), keypoints (..., C, 2)): the people whose
  `body_axis_angle` is more than `beyond_deg` off the vertical turned
  upright, and the angle that turns them back (0 for the others, whose
  points are kept as given)."""
  angle = body_axis_angle(keypoints, confidence)
  angle = jnp.where(jnp.abs(angle) > np.deg2rad(beyond_deg), angle, 0.0)
  return angle, jnp.where((angle == 0)[..., None, None], keypoints,
                          rotations.turned_2d(keypoints, -angle[..., None]))


def unroll_best_start(network: network_lib.UpdateNetwork, params: Any,
                      body: Body, keypoints: jax.Array,
                      confidence: jax.Array, num_steps: int, *,
                      num_starts: int = 1,
                      init: Optional[jax.Array] = None,
                      init_valid: Optional[jax.Array] = None,
                      upright_beyond_deg: float = 180.0,
                      **kwargs) -> Unroll:
  """`unroll` from several starts, keeping each person's best run, with
  people lying across the image turned upright first.

  With `num_starts` = 2 the second start is the first (`init`, or the
  network's initial estimate) turned half round (`theta.turned_half_round`);
  each person keeps the run with the lower final inner loss. It costs
  `num_starts` times one run. With 1 it is `unroll`.

  Where a person's `body_axis_angle` is more than `upright_beyond_deg` off
  the vertical, the keypoints (and `init`) are turned by it to upright, and
  every Θ of the run turned back (`theta.turned_in_image`); the inner
  losses do not change under the turn. 180 (the default here; `fit`'s is
  `UPRIGHT_BEYOND_DEG`): never.
  """
  if not 0 <= upright_beyond_deg <= 180:
    raise ValueError("upright_beyond_deg must be within 0..180 degrees, got "
                     f"{upright_beyond_deg!r}")
  if upright_beyond_deg == 180:
    return _best_start(network, params, body, keypoints, confidence,
                       num_steps, num_starts, init, init_valid, kwargs)
  angle, upright = turned_upright(keypoints, confidence, upright_beyond_deg)
  if init is not None:
    init = theta_lib.turned_in_image(init, -angle, body)
  run = _best_start(network, params, body, upright, confidence, num_steps,
                    num_starts, init, init_valid, kwargs)
  return run._replace(
      thetas=theta_lib.turned_in_image(run.thetas, angle, body))


def _best_start(network, params, body, keypoints, confidence, num_steps,
                num_starts, init, init_valid, kwargs) -> Unroll:
  """`unroll_best_start` without the upright turn."""
  if kwargs.get("with_points"):
    raise ValueError("unroll_best_start keeps no keypoints (with_points)")
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
  # Both starts are as warm as the first (static where it is).
  warm = (False if init is None else True if init_valid is None else
          jnp.broadcast_to(jnp.asarray(init_valid), (2,) + first.shape[:-1]))
  both = run(jnp.broadcast_to(keypoints, (2,) + keypoints.shape),
             jnp.broadcast_to(confidence, (2,) + confidence.shape),
             num_steps, init=starts, warm=warm)
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
    return module(x, jnp.zeros_like(theta), theta,
                  step_code=jnp.zeros(x.shape[:-1], jnp.int32),
                  refine=jnp.zeros(x.shape[:-1], bool),  # both MLP sets
                  residual=jnp.zeros(x.shape[:-1] + (2 * num_canonical,)))

  return network.init(rng, x, method=both)
