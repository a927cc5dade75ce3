"""The update network N_w(∇, Θ, x) -> ΔΘ (Flax linen; pure `apply`).

Two layouts, chosen by config:
- paper: one MLP maps the chosen inputs to the whole update ΔΘ; Θ_0 = 0.
- released code: an init MLP regresses Θ_0 from x; separate MLPs update
  pose + camera and shape; updates are scaled by `step_size` (0.1).
Each MLP is the released code's block: Linear–Norm–PReLU–Dropout, then
residual blocks of two such layers, then a linear output (zero-initialised,
so an untrained network leaves Θ where it is).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lgd_jax import theta as theta_lib

INPUTS = ("x", "grad", "theta")  # what an update may see


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
    inputs: which of "x", "grad", "theta" the update sees (ablations).
    init_network: regress Θ_0 from x (released code) instead of Θ_0 = 0.
    separate_shape: one MLP for pose + camera, another for betas.
    step_size: multiplies every update.
  """

  num_betas: int = 10
  features: int = 1024
  num_blocks: int = 2
  dropout: float = 0.0
  norm: str = "layer"
  inputs: Sequence[str] = INPUTS
  init_network: bool = False
  separate_shape: bool = False
  step_size: float = 1.0

  def setup(self):
    unknown = set(self.inputs) - set(INPUTS)
    if unknown or not self.inputs:
      raise ValueError(f"inputs must be a non-empty subset of {INPUTS}, got "
                       f"{tuple(self.inputs)}")
    mlp = lambda out: ResidualMLP(self.features, out, self.num_blocks,
                                  self.dropout, self.norm)
    size = theta_lib.size(self.num_betas)
    if self.separate_shape:
      self.update_pose = mlp(theta_lib.NUM_POSE + theta_lib.NUM_CAMERA)
      self.update_shape = mlp(self.num_betas)
    else:
      self.update_all = mlp(size)
    if self.init_network:
      self.initial_mlp = mlp(size)

  def initial(self, x: jax.Array, train: bool = False) -> jax.Array:
    """Θ_0 (..., P) from the flattened keypoint features x (..., D)."""
    if self.init_network:
      return self.initial_mlp(x, train)
    return jnp.zeros(x.shape[:-1] + (theta_lib.size(self.num_betas),), x.dtype)

  def __call__(self, x: jax.Array, grad: jax.Array, theta: jax.Array,
               train: bool = False) -> jax.Array:
    """ΔΘ (..., P) from keypoint features x, the loss gradient and Θ."""
    named = {"x": x, "grad": grad, "theta": theta}
    h = jnp.concatenate([named[name] for name in self.inputs], axis=-1)
    if self.separate_shape:
      pose_camera = self.update_pose(h, train)
      delta = jnp.concatenate([
          pose_camera[..., :theta_lib.NUM_POSE],
          self.update_shape(h, train), pose_camera[..., theta_lib.NUM_POSE:]
      ], axis=-1)
    else:
      delta = self.update_all(h, train)
    return self.step_size * delta


def from_config(config) -> UpdateNetwork:
  """The network of a training config (`configs/default.py`)."""
  net = config.network
  return UpdateNetwork(
      num_betas=config.num_betas, features=net.features,
      num_blocks=net.num_blocks, dropout=net.dropout, norm=net.norm,
      inputs=tuple(net.inputs), init_network=net.init_network,
      separate_shape=net.separate_shape, step_size=net.step_size)
