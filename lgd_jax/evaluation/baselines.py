"""Optimisation baselines: SMPLify and plain gradient descent.

Both work exactly where the learned optimizer does (`lgd_jax.unroll`): the
same body model and canonical keypoint regressor, keypoints normalised to
the person's box (1 unit = half its long side), Θ = (pose 72, betas S,
camera 3 = log scale, tx, ty) starting from Θ = 0 (the mean body facing the
camera), and only a format's points evaluated (`loss_points`), so an
evaluation can treat every method alike.

The objective of a person is SMPLify's:

  Σ_k c_k ρ(|x̂_k − x_k|²) + λ_θ GMM(θ) + λ_bend Σ exp(±θ_bend)² + λ_β |β|²,

a confidence-weighted SUM over points of the (optionally Geman–McClure)
squared reprojection error in normalised units (so prior weights are in
normalised units², not SMPLify's pixels²), plus the priors of
`lgd_jax.evaluation.priors`. One routine, `_optimize`, runs Adam through a
schedule of stages: `smplify` is SMPLify's staged schedule (camera and
global orientation on the torso first, then everything with decreasing
prior weights), `gradient_descent` a single stage. Adam, not SMPLify's L-BFGS /
dogleg: L-BFGS under vmap is ~40x slower per iteration here.

Both are registered as evaluation methods (`lgd_jax.evaluation.methods`):
kinds "smplify" and "gradient_descent".
"""

from __future__ import annotations

import functools
from typing import Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lgd_jax import formats as kp
from lgd_jax import losses
from lgd_jax import theta as theta_lib
from lgd_jax.body.cache import Body
from lgd_jax.evaluation import methods
from lgd_jax.evaluation import priors

# The points SMPLify's camera stage fits: shoulders and hips, as detectors
# annotate them (COCO-style surface points) or as joint centres (SMPL's);
# a format provides one kind or the other.
TORSO_NAMES = ("coco_left_shoulder", "coco_right_shoulder", "coco_left_hip",
               "coco_right_hip", "left_shoulder", "right_shoulder",
               "left_hip", "right_hip")
STAGE_FIELDS = ("iterations", "learning_rate", "torso_only", "pose_prior",
                "bend_prior", "shape_prior")


class History(NamedTuple):
  """Θ along an optimisation.

  Attributes:
    thetas: (R, ..., P) Θ after each of `iterations`; thetas[-1] is the
      result.
    iterations: (R,) ints: 0, record_every, 2·record_every, ..., the last
      (NumPy eagerly; a JAX array when returned from a jitted function).
  """

  thetas: jax.Array
  iterations: np.ndarray


class _Hyper(NamedTuple):
  """Per-iteration hyperparameters, scanned over: (blocks, record_every)
  each."""

  learning_rate: jax.Array
  torso_only: jax.Array  # bool: the camera stage
  pose_prior: jax.Array
  bend_prior: jax.Array
  shape_prior: jax.Array
  reset: jax.Array  # bool: a stage's first iteration starts Adam afresh


def _schedule(stages: Sequence[Mapping], record_every: Optional[int]):
  """(hyperparameters (blocks, record_every) each, recorded iterations).

  The last block is padded with learning rate 0 (Θ stays put) to a whole
  number of blocks.
  """
  for stage in stages:
    missing = [f for f in STAGE_FIELDS if f not in stage]
    if missing:
      raise ValueError(f"stage {dict(stage)} lacks {missing}")
    if int(stage["iterations"]) < 0:
      raise ValueError(f"stage {dict(stage)}: negative iterations")
  stages = [stage for stage in stages if int(stage["iterations"]) > 0]
  if not stages:
    raise ValueError("the stages have no iterations")
  counts = [int(stage["iterations"]) for stage in stages]
  total = sum(counts)
  every = total if record_every is None else int(record_every)
  if every < 1:
    raise ValueError(f"record_every must be >= 1, got {record_every}")
  blocks = -(-total // every)
  padded = blocks * every

  def per_iteration(field, dtype):
    values = np.concatenate([np.full(n, stage[field], dtype)
                             for n, stage in zip(counts, stages)])
    pad = 0 if field == "learning_rate" else values[-1]
    values = np.concatenate([values, np.full(padded - total, pad, dtype)])
    return jnp.asarray(values.reshape(blocks, every))

  starts = np.zeros(padded, bool)
  starts[np.cumsum([0] + counts[:-1])] = True
  hyper = _Hyper(
      learning_rate=per_iteration("learning_rate", np.float32),
      torso_only=per_iteration("torso_only", bool),
      pose_prior=per_iteration("pose_prior", np.float32),
      bend_prior=per_iteration("bend_prior", np.float32),
      shape_prior=per_iteration("shape_prior", np.float32),
      reset=jnp.asarray(starts.reshape(blocks, every)))
  iterations = np.minimum(np.arange(blocks + 1) * every, total)
  return hyper, iterations


class _Problem(NamedTuple):
  """What the objective needs besides Θ and the hyperparameters."""

  body: Body  # regressing the loss points only
  keypoints: jax.Array  # (..., K, 2)
  confidence: jax.Array  # (..., K)
  torso: jax.Array  # (K,) 1 on the torso points
  prior: Optional[priors.PosePrior]
  robust_sigma: Optional[float]
  use: Mapping[str, bool]  # which priors some stage weights


def _objective(problem: _Problem, theta: jax.Array,
               h: _Hyper) -> jax.Array:
  """(..., P) -> (...) each person's objective under hyperparameters h."""
  params = theta_lib.split(theta, problem.body.model.num_betas)
  _, projected = theta_lib.keypoints(theta, problem.body)
  weight = jnp.where(h.torso_only, problem.confidence * problem.torso,
                     problem.confidence)
  loss = losses.reprojection_loss(projected, problem.keypoints, weight,
                                  problem.robust_sigma)
  if problem.use["pose_prior"]:
    loss += h.pose_prior * priors.pose_prior_loss(problem.prior,
                                                  params.pose)
  if problem.use["bend_prior"]:
    loss += h.bend_prior * priors.bend_prior_loss(params.pose)
  if problem.use["shape_prior"]:
    loss += h.shape_prior * priors.shape_prior_loss(params.betas)
  return loss


def _optimize(body: Body, keypoints: jax.Array, confidence: jax.Array,
              prior: Optional[priors.PosePrior], stages: Sequence[Mapping],
              robust_sigma: Optional[float], loss_points, record_every,
              init: Optional[jax.Array],
              camera_stage_orientation: bool = True):
  """Adam on the objective through `stages`; see `smplify` for the args.

  Returns:
    (`History`, (...) each person's final objective under the last stage's
    weights).
  """
  if loss_points is None:
    loss_points = np.arange(kp.NUM_CANONICAL)
  loss_points = np.asarray(loss_points)
  # Priors weighted 0 throughout are left out of the program (with them an
  # iteration costs ~60% more at batch 1024).
  use = {name: any(float(stage[name]) > 0 for stage in stages)
         for name in ("pose_prior", "bend_prior", "shape_prior")}
  if use["pose_prior"] and prior is None:
    raise ValueError("a stage weights the pose prior but prior is None")
  problem = _Problem(
      body.select(loss_points), keypoints[..., loss_points, :],
      confidence[..., loss_points],
      jnp.asarray([kp.CANONICAL_NAMES[i] in TORSO_NAMES
                   for i in loss_points], confidence.dtype),
      prior, robust_sigma, use)
  size = theta_lib.size(body.model.num_betas)
  # The camera stage moves the camera (and the global orientation) only.
  camera_mask = np.zeros(size, np.float32)
  camera_mask[:3] = float(camera_stage_orientation)
  camera_mask[-theta_lib.NUM_CAMERA:] = 1
  camera_mask = jnp.asarray(camera_mask)
  hyper, iterations = _schedule(stages, record_every)

  adam = optax.scale_by_adam()
  theta0 = (jnp.zeros(keypoints.shape[:-2] + (size,), keypoints.dtype)
            if init is None else jnp.asarray(init, keypoints.dtype))
  fresh = adam.init(theta0)
  # People are independent: the gradient of the sum is each one's.
  grad_fn = jax.grad(lambda theta, h: _objective(problem, theta, h).sum())

  def step(carry, h: _Hyper):
    theta, state = carry
    state = jax.tree.map(lambda new, old: jnp.where(h.reset, new, old),
                         fresh, state)
    mask = jnp.where(h.torso_only, camera_mask, 1.0)
    # Masking the gradient keeps Adam's moments of frozen values at 0, so
    # their updates are exactly 0; the mask on the update makes sure.
    updates, state = adam.update(grad_fn(theta, h) * mask, state)
    return (theta - h.learning_rate * mask * updates, state), None

  def block(carry, h_block):  # record_every iterations, then record Θ
    carry, _ = jax.lax.scan(step, carry, h_block)
    return carry, carry[0]

  (final, _), recorded = jax.lax.scan(block, (theta0, fresh), hyper)
  last = jax.tree.map(lambda x: x[-1, -1], hyper)._replace(
      torso_only=jnp.asarray(False))
  return (History(jnp.concatenate([theta0[None], recorded]), iterations),
          _objective(problem, final, last))


def smplify(body: Body, keypoints: jax.Array, confidence: jax.Array,
            prior: Optional[priors.PosePrior],
            config: ml_collections.ConfigDict, *,
            loss_points: Optional[Sequence[int]] = None,
            record_every: Optional[int] = None,
            init: Optional[jax.Array] = None) -> History:
  """SMPLify (Bogo et al. 2016) on the learned optimizer's terms.

  Stages run in order, each with a fresh Adam: a `torso_only` stage fits the
  camera (and, with `camera_stage_orientation`, the global orientation) to
  the torso points (`TORSO_NAMES`) with body pose and betas frozen; the
  others fit all of Θ to all points with their prior weights (SMPLify
  lowers them stage by stage). With `try_flipped`, SMPLify's remedy for
  front/back ambiguity: a second run starts turned half a turn about the
  vertical axis, and each person keeps the run with the lower final
  objective (twice the cost).

  Args:
    body: the body model with its canonical keypoint regressor.
    keypoints: (..., C, 2) normalised canonical keypoints.
    confidence: (..., C); 0 where missing.
    prior: the pose prior (`priors.default_pose_prior()`); may be None when
      no stage weights it.
    config: `configs/smplify.py`: `robust_sigma` (Geman–McClure scale in
      normalised units, None: squared error), `camera_stage_orientation`,
      `try_flipped` and `stages`, a sequence of mappings with
      `STAGE_FIELDS`.
    loss_points: static canonical indices that can be visible (a format's);
      the others are skipped (as in `lgd_jax.unroll.unroll`). Default: all.
    record_every: static; record Θ every this many iterations (and at the
      last). Default: only the start and the end.
    init: (..., P) Θ to start from; default 0.

  Returns:
    `History`; people without visible points get a finite Θ (the priors').
  """
  run = functools.partial(
      _optimize, body, prior=prior, stages=tuple(config.stages),
      robust_sigma=config.robust_sigma, loss_points=loss_points,
      record_every=record_every,
      camera_stage_orientation=config.camera_stage_orientation)
  if not config.try_flipped:
    return run(keypoints, confidence, init=init)[0]
  if init is None:
    init = jnp.zeros(keypoints.shape[:-2] +
                     (theta_lib.size(body.model.num_betas),),
                     keypoints.dtype)
  both = lambda x: jnp.broadcast_to(x, (2,) + x.shape)
  history, objective = run(
      both(keypoints), both(confidence),
      init=jnp.stack([init, theta_lib.turned_half_round(init)]))
  flipped = (objective[1] < objective[0])[..., None]
  return History(jnp.where(flipped, history.thetas[:, 1],
                           history.thetas[:, 0]), history.iterations)


def gradient_descent(body: Body, keypoints: jax.Array, confidence: jax.Array,
                     prior: Optional[priors.PosePrior],
                     config: ml_collections.ConfigDict, *,
                     loss_points: Optional[Sequence[int]] = None,
                     record_every: Optional[int] = None,
                     init: Optional[jax.Array] = None) -> History:
  """Adam on all of Θ from Θ = 0: one stage, all points.

  `config` (`configs/gradient_descent.py`): `iterations`, `learning_rate`,
  `robust_sigma` and the prior weights `pose_prior`, `bend_prior`,
  `shape_prior` (0 by default: plain gradient descent on the reprojection
  error; > 0: "gradient descent with priors"). Other arguments and the
  result as in `smplify`.
  """
  return _optimize(body, keypoints, confidence, prior,
                   _gradient_descent_stages(config), config.robust_sigma,
                   loss_points, record_every, init)[0]


def _gradient_descent_stages(config: ml_collections.ConfigDict) -> tuple:
  """`gradient_descent`'s schedule: one stage of all points."""
  stage = {field: config[field] for field in STAGE_FIELDS
           if field != "torso_only"}
  stage["torso_only"] = False
  return (stage,)


def recording_method(body: Body, fit, stages: Sequence[Mapping],
                     config: ml_collections.ConfigDict, keypoint_format: str,
                     record_every: int,
                     pose_set_path: Optional[str] = None) -> methods.Method:
  """`smplify` or `gradient_descent` (`fit`) as an evaluation method,
  recording Θ every `record_every` iterations; `stages` is `fit`'s schedule
  of `config`. The pose prior is fitted on the train split of
  `pose_set_path` (None: the bundled pose set)."""
  points = kp.get_format(keypoint_format).canonical_index
  # Fitting the prior takes seconds: only when a stage weights it.
  prior = (priors.default_pose_prior(pose_set_path)
           if any(stage["pose_prior"] > 0 for stage in stages) else None)

  @jax.jit
  def run(keypoints, confidence):
    return tuple(fit(body, keypoints, confidence, prior, config,
                     loss_points=points, record_every=record_every))

  return run


def _method_kind(fit, schedule) -> methods.MethodKind:
  """The `methods.register` function of `fit`, whose schedule of a config
  is `schedule(config)`."""

  def make(settings: ml_collections.ConfigDict,
           pose_set_path: Optional[str]) -> methods.MethodMaker:
    return lambda body, keypoint_format: recording_method(
        body, fit, schedule(settings.config), settings.config,
        keypoint_format, settings.record_every, pose_set_path)

  return make


methods.register("smplify")(
    _method_kind(smplify, lambda config: tuple(config.stages)))
methods.register("gradient_descent")(
    _method_kind(gradient_descent, _gradient_descent_stages))
