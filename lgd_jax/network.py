"""The update network N_w(∇, Θ, x) -> ΔΘ (Flax linen; pure `apply`).

Two layouts, chosen by config:
- paper: one MLP maps the chosen inputs to the whole update ΔΘ; Θ_0 = 0.
- released code: an init MLP regresses Θ_0 from x; separate MLPs update
  pose + camera and shape; updates are scaled by `step_size` (0.1).
An update sees the chosen `inputs`: the keypoint features x, ∇L, Θ and,
optionally, each keypoint's residual (its projection minus the keypoint),
which ∇L only holds summed through the body's Jacobian.
Each MLP is the released code's block: Linear–Norm–PReLU–Dropout, then
residual blocks of two such layers, then a linear output (zero-initialised,
so an untrained network leaves Θ where it is).

Optionally (`step_codes` > 0) an update also sees which step it takes, as a
one-hot code that saturates: the first `step_codes` − 1 steps from Θ_0 each
have their own code, every later step and every step from a warm start
(near the answer) shares the last one. The path from Θ_0 can then be fast
while the shared last code, one fixed map, is trained to stay at the
answer (`lgd_jax.unroll.step_codes`). Or (`refine_after` = N) a second
set of MLPs of the same shape, the refiner, makes those updates: the
first set learns only the N-step path from Θ_0, the refiner only to
improve a body near the answer and stay there (`lgd_jax.unroll.unroll`
runs each step with one of them).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lgd_jax import theta as theta_lib

# What an update may see: the keypoints, the loss gradient, Θ, and how far
# each visible keypoint's projection lies from it (`unroll.residual_features`).
INPUTS = ("x", "grad", "theta", "residual")


class ResidualMLP(nn.Module):
  """Linear(in, F)–Norm–PReLU–Dropout, residual blocks, Linear(F, out)."""

  features: int
  out: int
  num_blocks: int = 2
  dropout: float = 0.0
  norm: str = "layer"  # "layer" or "none"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:

    def layer(h):
      h = nn.Dense(self.features)(h)
      if self.norm == "layer":
        h = nn.LayerNorm()(h)
      h = nn.PReLU()(h)
      return nn.Dropout(self.dropout, deterministic=not train)(h)

    h = layer(x)
    for _ in range(self.num_blocks):
      h = h + layer(layer(h))
    return nn.Dense(self.out, kernel_init=nn.initializers.zeros)(h)


class UpdateNetwork(nn.Module):
  """Initial estimate and per-step update of Θ = (pose, betas, camera).

  Attributes:
    num_betas: shape coefficients in Θ.
    features, num_blocks, dropout, norm: of every MLP.
    inputs: which of `INPUTS` the update sees (ablations).
    init_network: regress Θ_0 from x (released code) instead of Θ_0 = 0.
    separate_shape: one MLP for pose + camera, another for betas.
    step_size: multiplies every update.
    step_codes: 0, or the number of step codes the update sees.
    refine_after: 0, or N: a second set of MLPs (the refiner) makes every
      update after the first N from Θ_0 and every update from a warm start.
    refine_decay: γ; the refiner's k-th update (k = 0, 1, ...) is scaled by
      γ^k (`lgd_jax.unroll.unroll`), so that its updates, however long it
      runs, add up to a bounded move; 1: no decay.
    refiner_features: the refiner's width; 0: `features`. A narrower
      refiner makes each later step cheaper (its cost is its FLOPs).
  """

  num_betas: int = 10
  features: int = 1024
  num_blocks: int = 2
  dropout: float = 0.0
  norm: str = "layer"
  inputs: Sequence[str] = ("x", "grad", "theta")
  init_network: bool = False
  separate_shape: bool = False
  step_size: float = 1.0
  step_codes: int = 0
  refine_after: int = 0
  refine_decay: float = 1.0
  refiner_features: int = 0

  def setup(self):
    unknown = set(self.inputs) - set(INPUTS)
    if unknown or not self.inputs:
      raise ValueError(f"inputs must be a non-empty subset of {INPUTS}, got "
                       f"{tuple(self.inputs)}")
    if self.refine_decay != 1.0 and not self.refine_after:
      raise ValueError("refine_decay needs a refiner (refine_after > 0)")
    if self.refiner_features and not self.refine_after:
      raise ValueError("refiner_features needs a refiner (refine_after > 0)")
    mlp = lambda out, features=self.features: ResidualMLP(
        features, out, self.num_blocks, self.dropout, self.norm)
    refiner = lambda out: mlp(out, self.refiner_features or self.features)
    size = theta_lib.size(self.num_betas)
    if self.separate_shape:
      self.update_pose = mlp(theta_lib.NUM_POSE + theta_lib.NUM_CAMERA)
      self.update_shape = mlp(self.num_betas)
      if self.refine_after:
        self.refine_pose = refiner(theta_lib.NUM_POSE + theta_lib.NUM_CAMERA)
        self.refine_shape = refiner(self.num_betas)
    else:
      self.update_all = mlp(size)
      if self.refine_after:
        self.refine_all = refiner(size)
    if self.init_network:
      self.initial_mlp = mlp(size)

  def initial(self, x: jax.Array, train: bool = False) -> jax.Array:
    """Θ_0 (..., P) from the flattened keypoint features x (..., D)."""
    if self.init_network:
      return self.initial_mlp(x, train)
    return jnp.zeros(x.shape[:-1] + (theta_lib.size(self.num_betas),), x.dtype)

  def __call__(self, x: jax.Array, grad: jax.Array, theta: jax.Array,
               train: bool = False, step_code: jax.Array | None = None,
               refine=False, residual: jax.Array | None = None) -> jax.Array:
    """ΔΘ (..., P) from keypoint features x, the loss gradient and Θ (and,
    with `step_codes`, the (...) int code of the step; with "residual" in
    `inputs`, the (..., 2C) residual features). With `refine_after`,
    `refine` (a bool, or (...) bools) picks the refiner's update."""
    if "residual" in self.inputs and residual is None:
      raise ValueError("this network needs the residual of each keypoint")
    named = {"x": x, "grad": grad, "theta": theta, "residual": residual}
    parts = [named[name] for name in self.inputs]
    if self.step_codes:
      if step_code is None:
        raise ValueError("this network needs the step code of each update")
      parts.append(jax.nn.one_hot(jnp.broadcast_to(step_code, x.shape[:-1]),
                                  self.step_codes, dtype=x.dtype))
    h = jnp.concatenate(parts, axis=-1)
    if not self.refine_after or refine is False:
      return self.step_size * self._update(h, train, refine=False)
    if refine is True:
      return self.step_size * self._update(h, train, refine=True)
    return self.step_size * jnp.where(jnp.asarray(refine)[..., None],
                                      self._update(h, train, refine=True),
                                      self._update(h, train, refine=False))

  def _update(self, h: jax.Array, train: bool, refine: bool) -> jax.Array:
    if self.separate_shape:
      pose_mlp, shape_mlp = ((self.refine_pose, self.refine_shape) if refine
                             else (self.update_pose, self.update_shape))
      pose_camera = pose_mlp(h, train)
      return jnp.concatenate([
          pose_camera[..., :theta_lib.NUM_POSE],
          shape_mlp(h, train), pose_camera[..., theta_lib.NUM_POSE:]
      ], axis=-1)
    return (self.refine_all if refine else self.update_all)(h, train)


_REFINER_PREFIX = "refine_"  # the refiner's MLPs (`UpdateNetwork.setup`)


def only_refiner_trainable(params):
  """`params` with every leaf outside the refiner behind a stop_gradient:
  a loss of them then has zero gradients there, so training from a fresh
  optimizer state moves the refiner alone (Adam's moments of those leaves
  stay zero, and so do their updates)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: leaf if in_refiner(path)
      else jax.lax.stop_gradient(leaf), params)


def in_refiner(path) -> bool:
  """Whether a parameter's key path (`jax.tree_util`) is the refiner's."""
  return any(str(getattr(key, "key", "")).startswith(_REFINER_PREFIX)
             for key in path)


def parameter_layout(network_config) -> dict:
  """The settings of a config's `network` that its parameters depend on
  (weight files of one layout can be trained on from one another, and,
  their refiners left out, files whose layouts differ only in the
  refiner's width: `training.trainer`'s `init_weights`): all but
  `refine_decay`, which scales updates, and of `refine_after` only whether
  there is a refiner, not the step it takes over at; the refiner's width
  as a number (files written before it could differ have none)."""
  layout = {key: value for key, value in network_config.to_dict().items()
            if key != "refine_decay"}
  layout["refine_after"] = bool(layout.get("refine_after", 0))
  layout["refiner_features"] = (
      (layout.get("refiner_features", 0) or layout["features"])
      if layout["refine_after"] else 0)
  return layout


def from_config(config) -> UpdateNetwork:
  """The network of a training config (`configs/default.py`)."""
  net = config.network
  return UpdateNetwork(
      num_betas=config.num_betas, features=net.features,
      num_blocks=net.num_blocks, dropout=net.dropout, norm=net.norm,
      inputs=tuple(net.inputs), init_network=net.init_network,
      separate_shape=net.separate_shape, step_size=net.step_size,
      # Absent in older weight files:
      step_codes=net.get("step_codes", 0),
      refine_after=net.get("refine_after", 0),
      refine_decay=net.get("refine_decay", 1.0),
      refiner_features=net.get("refiner_features", 0))
