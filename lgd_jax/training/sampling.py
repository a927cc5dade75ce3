"""Training batches made on device from mocap poses.

A pure function of a PRNG key: sample poses from the pose set, shapes from
the shape space, a view and a camera; project the canonical keypoints; drop
and perturb them as a detector would; normalise them to the person's box.
Everything runs inside `jit`, so training never waits on Python.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax import theta as theta_lib
from lgd_jax.body import keypoint_path
from lgd_jax.body.cache import Body
from lgd_jax.body.shapes import sample_betas
from lgd_jax.body import rotations


class Batch(NamedTuple):
  """A training or evaluation batch, keypoints in person-centred units.

  Attributes:
    keypoints: (B, C, 2) canonical keypoints, normalised (`cameras.
      normalization`): visible points span [-1, 1] along the box's long side.
    confidence: (B, C) 0 for dropped points and points the format lacks.
    pose: (B, 72) ground-truth pose (global orientation in the camera view).
    betas: (B, S) ground-truth shape.
    camera: (B, 3) ground truth (log scale, tx, ty) of the weak-perspective
      camera that best explains the clean keypoints, normalised units.
  """

  keypoints: jax.Array
  confidence: jax.Array
  pose: jax.Array
  betas: jax.Array
  camera: jax.Array


def target_theta(batch: Batch) -> jax.Array:
  """(B, P) the batch's ground truth as Θ."""
  return theta_lib.join(batch.pose, batch.betas, batch.camera)


def format_masks(names) -> np.ndarray:
  """(F, C) 1 where format f provides canonical point c."""
  masks = np.zeros((len(names), kp.NUM_CANONICAL), np.float32)
  for i, name in enumerate(names):
    masks[i, kp.get_format(name).canonical_index] = 1
  return masks


def _axis_rotation(angle, axis):
  rotvec = jnp.zeros(angle.shape + (3,)).at[..., axis].set(angle)
  return rotations.axis_angle_to_matrix(rotvec)


def best_weak_camera(points: jax.Array, xy: jax.Array,
                     weight: jax.Array) -> jax.Array:
  """Least-squares (log s, tx, ty) with s·Π(X) + t ≈ xy.

  Args:
    points: (B, C, 3) SMPL-frame points; xy: (B, C, 2); weight: (B, C).
  """
  proj = cameras.to_camera_axes(points)[..., :2]
  total = jnp.maximum(weight.sum(-1), 1e-6)
  mean_p = jnp.einsum("bc,bcd->bd", weight, proj) / total[:, None]
  mean_x = jnp.einsum("bc,bcd->bd", weight, xy) / total[:, None]
  dp, dx = proj - mean_p[:, None], xy - mean_x[:, None]
  scale = (jnp.einsum("bc,bcd,bcd->b", weight, dp, dx) /
           jnp.maximum(jnp.einsum("bc,bcd,bcd->b", weight, dp, dp), 1e-9))
  scale = jnp.maximum(scale, 1e-3)
  return jnp.concatenate([jnp.log(scale)[:, None],
                          mean_x - scale[:, None] * mean_p], axis=-1)


def _occluded_limb(key: jax.Array, size: int, prob: float) -> jax.Array:
  """(size, C) 1 on the points of one random limb, for a `prob` share of
  the people, else 0."""
  chains = np.zeros((len(kp.LIMB_CHAINS), kp.NUM_CANONICAL), np.float32)
  for i, points in enumerate(kp.LIMB_CHAINS.values()):
    chains[i, list(points)] = 1
  which_key, whether_key = jax.random.split(key)
  limb = jax.random.randint(which_key, (size,), 0, len(chains))
  occluded = jax.random.bernoulli(whether_key, prob, (size,))
  return jnp.asarray(chains)[limb] * occluded[:, None]


def sample_batch(key: jax.Array, poses: jax.Array, body: Body,
                 config: ml_collections.ConfigDict) -> Batch:
  """Samples one batch.

  Args:
    key: PRNG key.
    poses: (N, 72) pose set on device (mocap global orientation, y up).
    body: the body model with its canonical keypoint regressor.
    config: `batch_size`, `formats` and `format_weights`, `keep_prob`,
      `noise` (min, max) 2D noise std as a fraction of the person's height,
      `pitch_deg`, `roll_deg` (std of the view's tilt), `perspective_prob`,
      `distance` (min, max metres), `max_betas`, and optionally
      `occlude_prob`: the chance that one limb (a random arm or leg below
      the shoulder or hip, `keypoints.LIMB_CHAINS`) is entirely missing.

  Returns:
    A `Batch`.
  """
  keys = jax.random.split(key, 10)
  size = config.batch_size
  pose = poses[jax.random.randint(keys[0], (size,), 0, poses.shape[0])]
  betas = sample_betas(keys[1], (size,), body.model.num_betas,
                       config.max_betas)

  # A random view: any heading, a slight camera tilt.
  yaw = jax.random.uniform(keys[2], (size,), minval=-jnp.pi, maxval=jnp.pi)
  pitch = jnp.deg2rad(config.pitch_deg) * jax.random.normal(keys[3], (size,))
  roll = jnp.deg2rad(config.roll_deg) * jax.random.normal(keys[4], (size,))
  view = (_axis_rotation(pitch, 0) @ _axis_rotation(roll, 2) @
          _axis_rotation(yaw, 1))
  global_rot = view @ rotations.axis_angle_to_matrix(pose[:, :3])
  pose = pose.at[:, :3].set(rotations.matrix_to_axis_angle(global_rot))

  points = keypoint_path.regress_keypoints(body.model, body.regressor, pose,
                                           betas)
  weak = cameras.to_camera_axes(points)[..., :2]
  # Perspective views: the body origin at `distance`, anywhere in a ±17°
  # field, focal length 1 (the normalisation below removes the scale).
  distance = jax.random.uniform(keys[5], (size,), minval=config.distance[0],
                                maxval=config.distance[1])
  offset = jax.random.uniform(keys[6], (size, 2), minval=-0.3, maxval=0.3)
  translation = jnp.concatenate([offset, jnp.ones((size, 1))], -1) * distance[
      :, None]
  camera = cameras.Perspective(jnp.ones((size, 2)), jnp.zeros((size, 2)),
                               translation)
  perspective = cameras.project(camera, points) * distance[:, None, None]
  use_perspective = jax.random.bernoulli(keys[7], config.perspective_prob,
                                         (size,))
  clean = jnp.where(use_perspective[:, None, None], perspective, weak)

  # Which points a detector reports: the format's, each kept with keep_prob.
  masks = jnp.asarray(format_masks(config.formats))
  fmt = jax.random.choice(keys[8], len(config.formats), (size,),
                          p=jnp.asarray(config.format_weights) /
                          np.sum(config.format_weights))
  noise_key, keep_key = jax.random.split(keys[9])
  confidence = masks[fmt] * jax.random.bernoulli(
      keep_key, config.keep_prob, masks[fmt].shape).astype(jnp.float32)
  confidence = confidence * (1.0 - _occluded_limb(
      # fold_in, not an 11th split: the other streams stay as they were.
      # .get: weight files saved before the field existed hold configs
      # without it.
      jax.random.fold_in(key, 10), size, config.get("occlude_prob", 0.0)))
  height = jnp.ptp(clean[..., 1], axis=-1)
  noise_std = height * jax.random.uniform(
      noise_key, (size,), minval=config.noise[0], maxval=config.noise[1])
  observed = clean + noise_std[:, None, None] * jax.random.normal(
      jax.random.fold_in(noise_key, 1), clean.shape)

  norm = cameras.normalization(observed, confidence)
  keypoints = norm.apply(observed)
  gt_camera = best_weak_camera(points, norm.apply(clean), confidence)
  return Batch(keypoints * confidence[..., None], confidence, pose, betas,
               gt_camera)
