"""Fitting methods by kind, as the harness runs them.

A `configs/evaluate.py` method entry names its `kind`; `make_method` turns
the entry into a `MethodMaker` through the function registered for that
kind with `register`. The learned optimizer (kind "learned", which with
num_steps = 0 is direct lifting) is registered here; SMPLify and gradient
descent by `lgd_jax.evaluation.baselines`.
"""

from __future__ import annotations

import importlib
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections

from lgd_jax import alignment
from lgd_jax import descent
from lgd_jax import formats as kp
from lgd_jax import unroll as unroll_lib
from lgd_jax import weights as weights_lib
from lgd_jax.body.cache import Body

# A fitting method as the harness runs it: jitted (keypoints (B, C, 2),
# confidence (B, C)) -> (Θ (T, B, P) after each recorded step or iteration,
# the last being the result; (T,) the step or iteration number of each).
Method = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
# (body, keypoint_format) -> `Method`: a method is compiled per format.
MethodMaker = Callable[[Body, str], Method]
# (method entry, pose set path or None) -> `MethodMaker`.
MethodKind = Callable[[ml_collections.ConfigDict, Optional[str]],
                      MethodMaker]

_KINDS: dict[str, MethodKind] = {}
# Modules that register kinds: imported by `make_method`, so that every
# kind is known whichever module was imported first.
_REGISTERING_MODULES = ("lgd_jax.evaluation.baselines",)


def register(kind: str) -> Callable[[MethodKind], MethodKind]:
  """Decorator: `make_method` builds entries of `kind` with the function."""

  def add(make: MethodKind) -> MethodKind:
    if kind in _KINDS:
      raise ValueError(f"method kind {kind!r} is registered twice")
    _KINDS[kind] = make
    return make

  return add


def make_method(settings: ml_collections.ConfigDict,
                pose_set_path: Optional[str] = None) -> MethodMaker:
  """The `MethodMaker` of one `configs/evaluate.py` method entry.

  Args:
    settings: the entry: `kind` and that kind's fields ("learned": weights,
      a file or "" for the bundled one, optionally num_steps, num_starts,
      descent_iterations, upright_beyond_deg and align (None or absent:
      `fit`'s); "smplify", "gradient_descent": config,
      record_every).
    pose_set_path: the pose set whose train split fits the baselines' pose
      prior (None: the bundled one).
  """
  for module in _REGISTERING_MODULES:
    importlib.import_module(module)
  if settings.kind not in _KINDS:
    raise ValueError(f"unknown method kind {settings.kind!r}: one of "
                     f"{sorted(_KINDS)}")
  return _KINDS[settings.kind](settings, pose_set_path)


def learned_method(body: Body, weights: weights_lib.Pretrained,
                   keypoint_format: str,
                   num_steps: Optional[int] = None,
                   num_starts: int = 1, descent_iterations: int = 0,
                   upright_beyond_deg: float = unroll_lib.UPRIGHT_BEYOND_DEG,
                   align: bool = True) -> Method:
  """The learned optimizer (or, with num_steps = 0 and an initial network,
  direct lifting) of a `lgd_jax.weights.Pretrained`, run for `num_steps`
  (default: the steps it was trained for) from `num_starts` starts, people
  lying across the image turned upright as `fit` does
  (`unroll.unroll_best_start`), every recorded Θ aligned in the image as
  `fit` aligns its last (`align`, `lgd_jax.alignment`), then
  `descent_iterations` of `lgd_jax.descent` (recorded as one more Θ, at
  N + that many)."""
  config = weights.config
  points = kp.get_format(keypoint_format).canonical_index
  steps = config.num_steps if num_steps is None else num_steps

  @jax.jit
  def run(keypoints, confidence):
    unrolled = unroll_lib.unroll_best_start(
        weights.network, weights.params, body, keypoints, confidence,
        steps, num_starts=num_starts, upright_beyond_deg=upright_beyond_deg,
        grad_scale=config.grad_scale,
        loss_points=points)
    thetas = unrolled.thetas
    if align:
      thetas, _ = alignment.aligned_in_image(
          thetas, unrolled.losses, body.select(points),
          keypoints[..., points, :], confidence[..., points])
    recorded = jnp.arange(steps + 1)
    if descent_iterations:
      final = descent.descend(body.select(points), keypoints[..., points, :],
                              confidence[..., points], thetas[-1],
                              descent_iterations)
      thetas = jnp.concatenate([thetas, final[None]])
      recorded = jnp.append(recorded, steps + descent_iterations)
    return thetas, recorded

  return run


@register("learned")
def _learned(settings: ml_collections.ConfigDict,
             pose_set_path: Optional[str]) -> MethodMaker:
  del pose_set_path  # the network was trained on its own pose set
  weights = weights_lib.load_pretrained(settings.weights or None)
  num_steps = settings.get("num_steps", None)
  num_starts = settings.get("num_starts", 1)
  descent_iterations = settings.get("descent_iterations", 0)
  upright = settings.get("upright_beyond_deg", None)
  upright = unroll_lib.UPRIGHT_BEYOND_DEG if upright is None else upright
  align = settings.get("align", None)
  align = True if align is None else align
  return lambda body, keypoint_format: learned_method(
      body, weights, keypoint_format, num_steps, num_starts,
      descent_iterations, upright, align)
