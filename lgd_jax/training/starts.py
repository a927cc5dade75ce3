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

Another share (`starts.drifted_prob`) starts where the network itself has
got to after K steps from Θ_0 on the same keypoints, K drawn per person
from `starts.drifted_steps`: the states a long fit, or a chain of warm
starts, runs through, which the training unroll from Θ_0 never reaches.
Like every warm start, the unroll from there counts the refiner's update
decay (`network.refine_decay`) from its first step.

A third share (`starts.chained_prob`) are chains, like a video fitted with
warm starts from the previous frame's fit: the training state keeps these
people (`Chains`) from one optimizer step to the next. Each step every
chained person moves a little (a perturbation of its truth at the scale
`starts.chain_move`, its shape kept; its keypoints shift by the move's
projection, so their noise and drops stay), the unroll starts from where
the last step's unroll was after `num_steps` steps (a warm fit's length),
and that state is kept for the next. The moved keypoints are put back in
their person-centred frame, Θ's camera with them, as `fit` does each
frame. A chain restarts, as a perturbed start of a fresh person, with
probability `starts.chain_restart_prob` a step: chains then run for tens
of steps, the hundreds of refiner updates of a video, which an unroll
from a fresh start never reaches.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import ml_collections

from lgd_jax import cameras
from lgd_jax import theta as theta_lib
from lgd_jax.body import rotations
from lgd_jax.body.cache import Body
from lgd_jax.training import sampling

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


def _prob(config, name: str) -> float:
  # 0 when absent: configs saved before the field existed.
  return config.get("starts", {}).get(name, 0.0)


def num_perturbed(config, batch_size: int) -> int:
  """How many people of a batch start from the perturbed truth: the
  config's `starts.perturbed_prob` share."""
  return int(round(_prob(config, "perturbed_prob") * batch_size))


def num_drifted(config, batch_size: int) -> int:
  """How many people of a batch, after the `num_perturbed` first, start
  from the network's own K-step fit: the `starts.drifted_prob` share (of
  the people left, where rounding would leave too few)."""
  share = int(round(_prob(config, "drifted_prob") * batch_size))
  return min(share, batch_size - num_perturbed(config, batch_size))


def num_chained(config, batch_size: int) -> int:
  """How many people of a batch, after the perturbed and drifted ones, are
  chains: the `starts.chained_prob` share (of the people left)."""
  share = int(round(_prob(config, "chained_prob") * batch_size))
  return min(share, batch_size - num_perturbed(config, batch_size) -
             num_drifted(config, batch_size))


def drifted_steps(config) -> tuple[int, int]:
  """(fewest, most) steps K of a drifted start."""
  low, high = config.starts.drifted_steps
  if not 1 <= low <= high:
    raise ValueError(f"starts.drifted_steps must be 1 <= low <= high, got "
                     f"{(low, high)}")
  return int(low), int(high)


def check(config, refine_after: int, unroll_steps: int) -> None:
  """ValueError for start settings a training run cannot use: shares over
  1, drifted starts inside the path (before step `refine_after`, where
  the state is not a fit near the answer that the refiner should take),
  chains with training unrolls shorter than a fit (`num_steps`, where a
  chain goes on from), a restart probability outside [0, 1] or a negative
  move."""
  if sum(_prob(config, name) for name in
         ("perturbed_prob", "drifted_prob", "chained_prob")) > 1:
    raise ValueError("starts.perturbed_prob + starts.drifted_prob + "
                     "starts.chained_prob must be at most 1")
  if num_drifted(config, config.data.batch_size):
    low, _ = drifted_steps(config)
    if low < refine_after:
      raise ValueError(f"starts.drifted_steps must start at step "
                       f"{refine_after} or later (the refiner's first), got "
                       f"{low}")
  if num_chained(config, config.data.batch_size):
    if unroll_steps < config.num_steps:
      raise ValueError(f"chained starts need training unrolls of at least "
                       f"num_steps = {config.num_steps} steps, got "
                       f"{unroll_steps}")
    if not 0 <= config.starts.chain_restart_prob <= 1:
      raise ValueError(f"starts.chain_restart_prob must be in [0, 1], got "
                       f"{config.starts.chain_restart_prob}")
    if config.starts.chain_move < 0:
      raise ValueError(f"starts.chain_move must be at least 0, got "
                       f"{config.starts.chain_move}")


def pick_steps(key: jax.Array, thetas: jax.Array,
               config: ml_collections.ConfigDict) -> jax.Array:
  """(D, P) drifted starts from the (K_max + 1, D, P) iterates Θ_0..Θ_K_max
  of an unroll: each person's Θ_K, K uniform in `drifted_steps`."""
  low, high = drifted_steps(config)
  steps = jax.random.randint(key, thetas.shape[1:2], low, high + 1)
  return jnp.take_along_axis(thetas, steps[None, :, None], axis=0)[0]


def training_starts(key: jax.Array, target: jax.Array,
                    config: ml_collections.ConfigDict) -> jax.Array:
  """(W, P) starts for the first W = `num_perturbed` people of a batch
  (their (W, P) `target`): the truth perturbed at a log-uniform scale in
  `starts.scale` (min, max). The people are drawn independently, so the
  first W are as random a share as any."""
  scale_key, noise_key = jax.random.split(key)
  size = target.shape[0]
  low, high = jnp.log(jnp.asarray(config.starts.scale, jnp.float32))
  scale = jnp.exp(jax.random.uniform(scale_key, (size,), minval=low,
                                     maxval=high))
  return perturbed(noise_key, target, scale)


class Chains(NamedTuple):
  """The chained people a training state keeps from step to step."""

  batch: sampling.Batch  # (C, ...) each person as last seen
  theta: jax.Array  # (C, P) where the last unroll was after `num_steps`


def empty_chains(config, num_canonical: int) -> Optional[Chains]:
  """Chains of a fresh training state (zeros: every chain restarts at the
  first step); None without chained starts."""
  size = num_chained(config, config.data.batch_size)
  if not size:
    return None
  num_params = theta_lib.NUM_POSE + config.num_betas + theta_lib.NUM_CAMERA
  zeros = lambda *shape: jnp.zeros((size,) + shape, jnp.float32)
  return Chains(sampling.Batch(zeros(num_canonical, 2), zeros(num_canonical),
                               zeros(theta_lib.NUM_POSE),
                               zeros(config.num_betas),
                               zeros(theta_lib.NUM_CAMERA)),
                zeros(num_params))


def moved(key: jax.Array, batch: sampling.Batch, scale: float,
          body: Body) -> sampling.Batch:
  """The people of `batch` a frame later: their truth perturbed at `scale`
  (`perturbed`), the shape kept; the keypoints shifted by the projected
  move, so that their noise and dropped points stay."""
  before = sampling.target_theta(batch)
  after = perturbed(key, before, jnp.full(before.shape[:1], scale))
  after = theta_lib.join(after[:, :theta_lib.NUM_POSE], batch.betas,
                         after[:, -theta_lib.NUM_CAMERA:])
  shift = (theta_lib.keypoints(after, body)[1] -
           theta_lib.keypoints(before, body)[1])
  return batch._replace(keypoints=batch.keypoints + shift,
                        pose=after[:, :theta_lib.NUM_POSE],
                        camera=after[:, -theta_lib.NUM_CAMERA:])


def renormalized(batch: sampling.Batch, theta: jax.Array
                 ) -> tuple[sampling.Batch, jax.Array]:
  """`batch` and (B, P) Θ in the person-centred frame of the batch's
  visible keypoints (`cameras.normalization`), as `fit` puts every frame:
  the keypoints, and the truth's camera and Θ's as `fit` maps a previous
  frame's (`theta.from_fit`)."""
  norm = cameras.normalization(batch.keypoints, batch.confidence)
  num_betas = batch.betas.shape[-1]

  def in_frame(old):
    params = theta_lib.split(old, num_betas)
    return theta_lib.from_fit(params.pose, params.betas, params.camera, norm)

  keypoints = (batch.keypoints - norm.center[:, None]) / norm.scale[
      :, None, None]
  camera = in_frame(sampling.target_theta(batch))[:, -theta_lib.NUM_CAMERA:]
  return (batch._replace(keypoints=keypoints, camera=camera),
          in_frame(theta))


def chain_starts(key: jax.Array, chains: Chains, fresh: sampling.Batch,
                 restart: jax.Array, config,
                 body: Body) -> tuple[sampling.Batch, jax.Array]:
  """(C people, their (C, P) starts) of this step's chains: where
  `restart` (C,), the `fresh` people from their perturbed truth
  (`training_starts`); elsewhere the chains moved a frame on (`moved`),
  from where they were, in the moved keypoints' frame (`renormalized`)."""
  move_key, start_key = jax.random.split(key)
  later, theta = renormalized(
      moved(move_key, chains.batch, config.starts.chain_move, body),
      chains.theta)
  batch = jax.tree.map(
      lambda new, old: jnp.where(
          restart.reshape(restart.shape + (1,) * (new.ndim - 1)), new, old),
      fresh, later)
  theta = jnp.where(restart[:, None],
                    training_starts(start_key, sampling.target_theta(fresh),
                                    config), theta)
  return batch, theta
