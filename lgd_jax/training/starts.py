"""Where a training unroll starts.

The paper unrolls from Θ_0 = 0 only, so the network learns a path from the
T-pose to the answer and nothing about what to do once there: run longer,
or start near the answer (a previous video frame), and it keeps moving. A
share of each batch therefore starts from the ground truth perturbed at a
random scale, from barely off (learn to stay) to far off (learn to come
back). The perturbation of a scale s, in Θ's units: the global rotation
turned about a random axis by N(0, (s·σ_rot)²) per component, the body pose
N(0, (s·σ_pose)²) per axis-angle entry, the shape N(0, (s·σ_betas)²), the
camera's log scale and translation N(0, (s·σ_camera)²).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from lgd_jax import theta as theta_lib
from lgd_jax.body import rotations

# σ at s = 1: about the spread of the pose set's body poses, two shape
# standard deviations, a camera off by a third of the person's box.
_SIGMA_ROTATION = 0.6  # rad
_SIGMA_POSE = 0.3  # rad
_SIGMA_BETAS = 1.0
_SIGMA_CAMERA = 0.3


def perturbed(key: jax.Array, target: jax.Array,
              scale: jax.Array) -> jax.Array:
  """(B, P) Θ near `target`: its perturbation at (B,) `scale`."""
  num_betas = target.shape[-1] - theta_lib.NUM_POSE - theta_lib.NUM_CAMERA
  sigma = jnp.concatenate([
      jnp.full(3, _SIGMA_ROTATION), jnp.full(theta_lib.NUM_POSE - 3,
                                             _SIGMA_POSE),
      jnp.full(num_betas, _SIGMA_BETAS),
      jnp.full(theta_lib.NUM_CAMERA, _SIGMA_CAMERA)])
  noise = scale[:, None] * sigma * jax.random.normal(key, target.shape)
  # The global rotation is composed, not added: axis-angle sums are not
  # rotations of the noise's size near the angle π.
  turned = rotations.matrix_to_axis_angle(
      rotations.axis_angle_to_matrix(noise[:, :3]) @
      rotations.axis_angle_to_matrix(target[:, :3]))
  return (target + noise).at[:, :3].set(turned)


def num_warm(config, batch_size: int) -> int:
  """How many people of a batch start from the perturbed truth: the
  config's `starts.perturbed_prob` share (0 when absent: configs saved
  before it)."""
  starts = config.get("starts", None)
  prob = 0.0 if starts is None else starts.perturbed_prob
  return int(round(prob * batch_size))


def training_starts(key: jax.Array, target: jax.Array,
                    config: ml_collections.ConfigDict) -> jax.Array:
  """(W, P) starts for the first W = `num_warm` people of a batch (their
  (W, P) `target`): the truth perturbed at a log-uniform scale in
  `starts.scale` (min, max). The people are drawn independently, so the
  first W are as random a share as any."""
  scale_key, noise_key = jax.random.split(key)
  size = target.shape[0]
  low, high = jnp.log(jnp.asarray(config.starts.scale, jnp.float32))
  scale = jnp.exp(jax.random.uniform(scale_key, (size,), minval=low,
                                     maxval=high))
  return perturbed(noise_key, target, scale)
