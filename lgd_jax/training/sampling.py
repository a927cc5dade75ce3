"""Training batches made on device from mocap poses.

A pure function of a PRNG key: sample poses from the pose set, shapes from
the shape space, a view and a camera; project the canonical keypoints; drop
and perturb them as a detector would; normalise them to the person's box.
Everything runs inside `jit`, so training never waits on Python.

Options beyond the basic view, camera, dropout and noise (each off unless
its config field is set, and read with `.get` so that configs saved before
the field existed sample what they always did): elevated views, a frame
that truncates the person, a detector model (confidence-driven drops,
left/right limb swaps, noisier extremities), one occluded limb, and pose
augmentation (the body tilted off upright, mirroring, mixing the legs of
one pose with the rest of another, legs bent at random at hip and
knee, the trunk bent at random). Each option draws from its own
`fold_in` stream, so turning one on leaves every other random draw of the
batch as it was.
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
from lgd_jax import unroll as unroll_lib
from lgd_jax.body import keypoint_path
from lgd_jax.body.cache import Body
from lgd_jax.body.model import NUM_JOINTS, SMPL_JOINT_NAMES
from lgd_jax.body.shapes import sample_betas
from lgd_jax.body import rotations


# `fold_in` numbers of the optional draws: new ones, not more `split`s, so
# the basic draws stay as they were.
(_OCCLUSION, _TRUNCATION, _DETECTOR, _SWAP, _MIX, _MIRROR,
 _DETECTOR_SHARE, _TILT_SHARE, _BODY_TILT, _BODY_TILT_SHARE,
 _BENT_LEGS, _BENT_SPINE) = range(10, 22)

# The detector model: a point is reported when its score exceeds this, i.e.
# the batch shows what `fit(..., min_confidence=0.5)` would keep.
DETECTOR_MIN_CONFIDENCE = 0.5

# Truncation: which frame edge cuts the person (bottom, top, left, right as
# image directions, y down) and how often; the share of the person's box
# (along the edge's direction) that stays in the frame, uniform.
_FRAME_EDGES = np.array([(0, 1), (0, -1), (-1, 0), (1, 0)], np.float32)
_FRAME_EDGE_WEIGHTS = np.array([0.7, 0.1, 0.1, 0.1], np.float32)
_FRAME_KEEP = (0.4, 0.9)


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


def _chance(key: jax.Array, size: int, prob: float) -> jax.Array:
  """(size,) True for a `prob` share of the people."""
  return jax.random.bernoulli(key, prob, (size,))


def _occluded_limb(key: jax.Array, size: int, prob: float) -> jax.Array:
  """(size, C) 1 on the points of one random limb, for a `prob` share of
  the people, else 0."""
  chains = np.zeros((len(kp.LIMB_CHAINS), kp.NUM_CANONICAL), np.float32)
  for i, points in enumerate(kp.LIMB_CHAINS.values()):
    chains[i, list(points)] = 1
  which_key, whether_key = jax.random.split(key)
  limb = jax.random.randint(which_key, (size,), 0, len(chains))
  return jnp.asarray(chains)[limb] * _chance(whether_key, size, prob)[:, None]


def _mirror_index(names) -> np.ndarray:
  return np.array([names.index(kp.mirror(name)) for name in names])


def mirror_pose(pose: jax.Array) -> jax.Array:
  """(..., 72) -> the pose of the body mirrored across its x = 0 plane.

  SMPL's layout is left/right symmetric (its left is +x), so the mirror
  image is exact: left and right joints trade rotations, and each rotation
  R becomes M R M with M = diag(-1, 1, 1), whose axis-angle is the original
  one with y and z negated. The global orientation is mirrored likewise (a
  y-up pose stays y up).
  """
  joints = pose.reshape(pose.shape[:-1] + (NUM_JOINTS, 3))
  mirrored = joints[..., _mirror_index(SMPL_JOINT_NAMES), :] * jnp.array(
      [1.0, -1.0, -1.0], pose.dtype)
  return mirrored.reshape(pose.shape)


# The legs: hips, knees, ankles, feet (the pelvis's leg chains), as entries
# of the 72-vector.
_LEG_POSE = np.repeat([any(part in name for part in ("hip", "knee", "ankle",
                                                      "foot"))
                       for name in SMPL_JOINT_NAMES], 3)


def _mix_legs(key: jax.Array, pose: jax.Array, poses: jax.Array,
              prob: float) -> jax.Array:
  """For a `prob` share of the people, the legs of another random pose of
  the set; the rest, the global orientation included, stays."""
  legs_key, whether_key = jax.random.split(key)
  legs = poses[jax.random.randint(legs_key, pose.shape[:1], 0,
                                  poses.shape[0])]
  mixed = _chance(whether_key, pose.shape[0], prob)[:, None] & _LEG_POSE
  return jnp.where(mixed, legs, pose)


# Bent legs (`bent_legs_prob`): one hip flexion and one knee flexion drawn
# per person, uniform in these ranges (degrees), each leg then moved from
# them by its own Gaussian; from nearly straight through sitting and
# squatting to kneeling; for a `bent_legs_uneven_prob` share of them each
# leg draws its own (a knee raised, a lunge, kneeling on one knee).
# Abduction turns each thigh mostly outward, twist turns it about itself.
# Flexion is clipped to what the joint allows.
_BENT_HIP_DEG = (0.0, 120.0)
_BENT_KNEE_DEG = (0.0, 140.0)
_BENT_LEG_SPREAD_DEG = 15.0
_BENT_HIP_LIMITS_DEG = (-10.0, 130.0)
_BENT_KNEE_LIMITS_DEG = (0.0, 150.0)
_BENT_ABDUCTION_DEG = (-5.0, 30.0)
_BENT_TWIST_STD_DEG = 15.0
_BENT_ANKLE_STD_DEG = 10.0
_BENT_JOINTS = tuple(SMPL_JOINT_NAMES.index(f"{side}_{joint}")
                     for joint in ("hip", "knee", "ankle")
                     for side in ("left", "right"))


def _bent_legs(key: jax.Array, pose: jax.Array, prob: float,
               uneven_prob: float = 0.0) -> jax.Array:
  """For a `prob` share of the people, legs bent at hip and knee (sitting,
  squatting, kneeling: rare in the training mocap, the README's Coverage
  table) and the ankles' rotations drawn anew; the toes, the upper body and
  the global orientation stay. An `uneven_prob` share of those bend each
  leg by its own draw.

  SMPL faces +z with y up: a thigh turned by -x swings forward, a shin by
  +x swings back, and +z turns the left thigh outward (-z the right).
  """
  if not prob:
    return pose
  keys = jax.random.split(key, 8)
  size = pose.shape[0]
  # Folded keys: the even draws stay as they were before this option.
  uneven = (_chance(jax.random.fold_in(keys[7], 1), size, uneven_prob)
            if uneven_prob else None)

  def flexion(base_key, leg_key, span, limits):
    draw = lambda draw_key, legs: jax.random.uniform(
        draw_key, (size, legs), minval=span[0], maxval=span[1])
    base = draw(base_key, 1)
    if uneven is not None:
      base = jnp.where(uneven[:, None],
                       draw(jax.random.fold_in(base_key, 1), 2), base)
    return jnp.deg2rad(jnp.clip(
        base + _BENT_LEG_SPREAD_DEG * jax.random.normal(leg_key, (size, 2)),
        *limits))

  hip = flexion(keys[0], keys[1], _BENT_HIP_DEG, _BENT_HIP_LIMITS_DEG)
  knee = flexion(keys[2], keys[3], _BENT_KNEE_DEG, _BENT_KNEE_LIMITS_DEG)
  outward = jnp.array([1.0, -1.0])  # left, right
  abduction = outward * jnp.deg2rad(jax.random.uniform(
      keys[4], (size, 2), minval=_BENT_ABDUCTION_DEG[0],
      maxval=_BENT_ABDUCTION_DEG[1]))
  # Twisted about its own axis, then spread, then swung forward: the spread
  # keeps the knees apart however far the thigh swings.
  thigh = (_axis_rotation(-hip, 0) @ _axis_rotation(abduction, 2) @
           _axis_rotation(jnp.deg2rad(_BENT_TWIST_STD_DEG) *
                          jax.random.normal(keys[5], (size, 2)), 1))
  shin = _axis_rotation(knee, 0)
  ankle = jnp.deg2rad(_BENT_ANKLE_STD_DEG) * jax.random.normal(
      keys[6], (size, 2, 3))
  legs = jnp.concatenate([rotations.matrix_to_axis_angle(thigh),
                          rotations.matrix_to_axis_angle(shin), ankle], 1)
  bent = pose.reshape(size, NUM_JOINTS, 3).at[:, _BENT_JOINTS].set(
      legs).reshape(pose.shape)
  return jnp.where(_chance(keys[7], size, prob)[:, None], bent, pose)


# Bent spine (`bent_spine_prob`): a forward bend of the trunk, uniform in
# this range (degrees), a sideways bend and a twist, each split equally
# over the three spine joints and applied on top of each joint's mocap
# rotation (in its parent's frame).
_BENT_SPINE_FORWARD_DEG = (-10.0, 90.0)
_BENT_SPINE_SIDE_STD_DEG = 10.0
_BENT_SPINE_TWIST_STD_DEG = 10.0
_SPINE_JOINTS = tuple(SMPL_JOINT_NAMES.index(f"spine{i}") for i in (1, 2, 3))


def _bent_spine(key: jax.Array, pose: jax.Array, prob: float) -> jax.Array:
  """For a `prob` share of the people, the trunk bent forward (reaching
  down, bending over), a little sideways and twisted; the rest stays.

  SMPL faces +z with y up: the spine (+y) turned by +x leans forward.
  """
  if not prob:
    return pose
  keys = jax.random.split(key, 4)
  size = pose.shape[0]
  share = len(_SPINE_JOINTS)
  forward = jax.random.uniform(keys[0], (size,),
                               minval=_BENT_SPINE_FORWARD_DEG[0],
                               maxval=_BENT_SPINE_FORWARD_DEG[1])
  side = _BENT_SPINE_SIDE_STD_DEG * jax.random.normal(keys[1], (size,))
  twist = _BENT_SPINE_TWIST_STD_DEG * jax.random.normal(keys[2], (size,))
  bend = (_axis_rotation(jnp.deg2rad(forward / share), 0) @
          _axis_rotation(jnp.deg2rad(side / share), 2) @
          _axis_rotation(jnp.deg2rad(twist / share), 1))
  joints = pose.reshape(size, NUM_JOINTS, 3)
  spine = rotations.axis_angle_to_matrix(joints[:, _SPINE_JOINTS])
  bent = joints.at[:, _SPINE_JOINTS].set(rotations.matrix_to_axis_angle(
      bend[:, None] @ spine)).reshape(pose.shape)
  return jnp.where(_chance(keys[3], size, prob)[:, None], bent, pose)


def _tilt(key: jax.Array, size: int, std_deg: float, range_deg,
          in_range=None) -> jax.Array:
  """(size,) radians: Gaussian with `std_deg`, or uniform in `range_deg`
  (min, max) when given, for everyone or where `in_range` (size,) is True
  (the others: the Gaussian)."""
  if range_deg is None:
    return jnp.deg2rad(std_deg) * jax.random.normal(key, (size,))
  uniform = jnp.deg2rad(jax.random.uniform(key, (size,), minval=range_deg[0],
                                           maxval=range_deg[1]))
  if in_range is None:
    return uniform
  return jnp.where(in_range, uniform, _tilt(jax.random.fold_in(key, 1), size,
                                            std_deg, None))


def _body_tilt(stream, size: int, config) -> jax.Array:
  """(size, 3, 3) the body turned from upright about a horizontal axis (the
  heading drawn after it makes the axis any): by a uniform angle within
  ±`body_tilt_deg` for a `body_tilt_prob` share of the people (90°: from
  standing to lying), else the identity."""
  share = config.body_tilt_prob
  limit = jnp.deg2rad(config.body_tilt_deg)
  angle = jax.random.uniform(stream(_BODY_TILT), (size,), minval=-limit,
                             maxval=limit)
  return _axis_rotation(
      jnp.where(_chance(stream(_BODY_TILT_SHARE), size, share), angle, 0.0),
      0)


def _in_frame(key: jax.Array, clean: jax.Array, present: jax.Array,
              prob: float) -> jax.Array:
  """(B, C) 0 on the points an image edge cuts off, for a `prob` share of
  the people, else 1.

  The edge is the bottom for 70 % of them, else the top, left or right; it
  keeps a uniform 40-90 % share of the box of the person's `present` (the
  format's) clean points, measured from the opposite side. A bottom edge at
  under about half the box leaves the person seen from the waist up.
  """
  edge_key, keep_key, whether_key = jax.random.split(key, 3)
  size = clean.shape[0]
  edge = jnp.asarray(_FRAME_EDGES)[jax.random.choice(
      edge_key, len(_FRAME_EDGES), (size,), p=jnp.asarray(_FRAME_EDGE_WEIGHTS))]
  along = jnp.einsum("bcd,bd->bc", clean, edge)  # grows towards the edge
  lo = jnp.min(jnp.where(present > 0, along, jnp.inf), axis=-1)
  hi = jnp.max(jnp.where(present > 0, along, -jnp.inf), axis=-1)
  keep = jax.random.uniform(keep_key, (size,), minval=_FRAME_KEEP[0],
                            maxval=_FRAME_KEEP[1])
  cut = _chance(whether_key, size, prob)[:, None] & (
      along > (lo + keep * (hi - lo))[:, None])
  return 1.0 - cut.astype(jnp.float32)


def _names_table(value) -> np.ndarray:
  return np.array([value(name) for name in kp.CANONICAL_NAMES], np.float32)


# +1 on left points, -1 on right ones, 0 on the midline.
_SIDE = _names_table(lambda n: ("left" in n) - ("right" in n))
# 1 at the hands and feet, 0.5 at elbows and knees, 0 on the trunk and head:
# what detectors find hardest, and where they err the most.
_EXTREMITY = _names_table(
    lambda n: 1.0 if any(p in n for p in ("wrist", "hand", "ankle", "foot",
                                          "toe", "heel")) else
    0.5 if any(p in n for p in ("elbow", "knee")) else 0.0)


def left_side_away(camera_points: jax.Array) -> jax.Array:
  """(B, C, 3) canonical points in camera axes (z: depth) -> (B,) in
  [-1, 1]: how far the body's left side is turned away from the camera (the
  depth component of the unit vector from the right to the left shoulder and
  hip joints; 1: seen from its right, -1: from its left, 0: facing or
  turned away from the camera)."""
  index = kp.CANONICAL_NAMES.index
  across = sum(camera_points[:, index(f"left_{joint}")] -
               camera_points[:, index(f"right_{joint}")]
               for joint in ("shoulder", "hip"))
  return across[:, 2] / jnp.maximum(jnp.linalg.norm(across, axis=-1), 1e-9)


def detector_scores(key: jax.Array, camera_points: jax.Array) -> jax.Array:
  """(B, C, 3) canonical points in camera axes -> (B, C) confidences in
  (0, 1], as a detector's: sigmoid(3 - 1.5 extremity - 2.5 far + N(0, 1)),
  with extremity 1 at the hands and feet (0.5 at elbows and knees) and far
  the share of the point's side turned away from the camera (0 on the
  midline and the near side). Trunk points facing the camera score ~0.95,
  a far-side wrist seen side-on ~0.3."""
  away = left_side_away(camera_points)
  far = jnp.maximum(jnp.asarray(_SIDE) * away[:, None], 0.0)
  logit = (3.0 - 1.5 * jnp.asarray(_EXTREMITY) - 2.5 * far +
           jax.random.normal(key, far.shape))
  return jax.nn.sigmoid(logit)


def _limb_swap_index() -> np.ndarray:
  """(2, C) canonical index that swaps the left and right arm (row 0) or
  leg (row 1), identity elsewhere."""
  mirrored = _mirror_index(kp.CANONICAL_NAMES)
  index = np.tile(np.arange(kp.NUM_CANONICAL), (2, 1))
  for row, limb in enumerate(("arm", "leg")):
    points = list(kp.LIMB_CHAINS[f"left_{limb}"] +
                  kp.LIMB_CHAINS[f"right_{limb}"])
    index[row, points] = mirrored[points]
  return index


def _swapped_limbs(key: jax.Array, size: int, prob: float) -> jax.Array:
  """(size, C) the index of each reported point: for a `prob` share of the
  people, the arms' or the legs' left and right points trade places."""
  which_key, whether_key = jax.random.split(key)
  limb = jax.random.randint(which_key, (size,), 0, 2)
  return jnp.where(_chance(whether_key, size, prob)[:, None],
                   jnp.asarray(_limb_swap_index())[limb],
                   jnp.arange(kp.NUM_CANONICAL))


def sample_batch(key: jax.Array, poses: jax.Array, body: Body,
                 config: ml_collections.ConfigDict) -> Batch:
  """Samples one batch.

  Args:
    key: PRNG key.
    poses: (N, 72) pose set on device (mocap global orientation, y up).
    body: the body model with its canonical keypoint regressor.
    config: `batch_size`, `formats` and `format_weights`, `keep_prob`,
      `noise` (min, max) 2D noise std as a fraction of the points' vertical
      extent in the image (a standing person's height),
      `pitch_deg`, `roll_deg` (std of the view's tilt), `perspective_prob`,
      `distance` (min, max metres), `max_betas`, and optionally (off when
      absent):
      `pitch_range_deg`, `roll_range_deg`: (min, max) degrees: the tilt
        uniform in this range instead of Gaussian (positive pitch: the
        camera looks down at the person), for a `tilt_range_prob` share of
        the people (default 1: all);
      `truncate_prob`: the chance that an image edge cuts the person off
        (`_in_frame`; mostly the bottom edge, often the whole lower body);
      `detector`: True (or the share of the people, 0-1) to drop points
        by a detector's confidence
        (`detector_scores`: more at the hands and feet and on the far side
        of the body; reported: score > `DETECTOR_MIN_CONFIDENCE`) and to
        make the noise grow towards the extremities (×1.5 at elbows and
        knees, ×2 at hands and feet: single poses have no limb speed, the
        usual cause, and the extremities are where it is largest);
      `swap_prob`: the chance that the left and right arm (elbow, wrist,
        hand) or leg (knee down) trade places, positions and confidences;
      `occlude_prob`: the chance that one limb (a random arm or leg below
        the shoulder or hip, `formats.LIMB_CHAINS`) is entirely missing;
      `body_tilt_prob`, `body_tilt_deg`: for that share of the people the
        body is turned from upright about a horizontal axis by up to that
        many degrees either way (`_body_tilt`: leaning, lying);
      `mirror_prob`: the chance that the pose is mirrored (`mirror_pose`);
      `mix_prob`: the chance that the legs come from another pose;
      `bent_legs_prob`: the chance that the legs are bent at random at hip
        and knee (`_bent_legs`: sitting, squatting, kneeling);
      `bent_legs_uneven_prob`: the share of those whose two legs are bent
        by draws of their own (a knee raised, a lunge);
      `bent_spine_prob`: the chance that the trunk is bent at random,
        mostly forward (`_bent_spine`: bending over, reaching down);
      `upright_beyond_deg`: people whose body axis in the image is more
        than this off the vertical are turned upright, keypoints and truth,
        as `fit` turns them (`unroll.turned_upright`; 180: never).

  Returns:
    A `Batch`. Its `confidence` stays 0/1, the visibilities the network was
    trained on and `fit` derives from a detector's scores.
  """
  keys = jax.random.split(key, 10)
  size = config.batch_size
  stream = lambda number: jax.random.fold_in(key, number)
  pose = poses[jax.random.randint(keys[0], (size,), 0, poses.shape[0])]
  pose = _mix_legs(stream(_MIX), pose, poses, config.get("mix_prob", 0.0))
  pose = _bent_legs(stream(_BENT_LEGS), pose,
                    config.get("bent_legs_prob", 0.0),
                    config.get("bent_legs_uneven_prob", 0.0))
  pose = _bent_spine(stream(_BENT_SPINE), pose,
                     config.get("bent_spine_prob", 0.0))
  pose = jnp.where(_chance(stream(_MIRROR), size,
                           config.get("mirror_prob", 0.0))[:, None],
                   mirror_pose(pose), pose)
  betas = sample_betas(keys[1], (size,), body.model.num_betas,
                       config.max_betas)

  # A random view: any heading, a camera tilt.
  yaw = jax.random.uniform(keys[2], (size,), minval=-jnp.pi, maxval=jnp.pi)
  range_share = config.get("tilt_range_prob", 1.0)
  in_range = (None if range_share >= 1.0 else
              _chance(stream(_TILT_SHARE), size, range_share))
  pitch = _tilt(keys[3], size, config.pitch_deg,
                config.get("pitch_range_deg", None), in_range)
  roll = _tilt(keys[4], size, config.roll_deg,
               config.get("roll_range_deg", None), in_range)
  # Rotating the body by +pitch about x tilts its top towards the camera:
  # the camera looks down at it.
  view = (_axis_rotation(pitch, 0) @ _axis_rotation(roll, 2) @
          _axis_rotation(yaw, 1))
  body_rot = rotations.axis_angle_to_matrix(pose[:, :3])
  if config.get("body_tilt_prob", 0.0):
    body_rot = _body_tilt(stream, size, config) @ body_rot
  global_rot = view @ body_rot
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
      stream(_OCCLUSION), size, config.get("occlude_prob", 0.0)))
  # The frame cuts the clean positions: noise does not move points across.
  confidence = confidence * _in_frame(stream(_TRUNCATION), clean, masks[fmt],
                                      config.get("truncate_prob", 0.0))
  noise_scale = jnp.ones((size, kp.NUM_CANONICAL))
  detector_share = float(config.get("detector", 0.0))
  if detector_share:
    scored = _chance(stream(_DETECTOR_SHARE), size, detector_share)[:, None]
    scores = detector_scores(stream(_DETECTOR),
                             cameras.to_camera_axes(points))
    confidence = confidence * jnp.where(
        scored, scores > DETECTOR_MIN_CONFIDENCE, True)
    noise_scale = jnp.where(scored, 1.0 + jnp.asarray(_EXTREMITY), 1.0)
  height = jnp.ptp(clean[..., 1], axis=-1)
  noise_std = height * jax.random.uniform(
      noise_key, (size,), minval=config.noise[0], maxval=config.noise[1])
  observed = clean + noise_std[:, None, None] * noise_scale[..., None] * (
      jax.random.normal(jax.random.fold_in(noise_key, 1), clean.shape))
  # A detector's left/right mix-up: the observation, not the truth, swaps.
  swap = _swapped_limbs(stream(_SWAP), size, config.get("swap_prob", 0.0))
  observed = jnp.take_along_axis(observed, swap[..., None], axis=1)
  reported = jnp.take_along_axis(confidence, swap, axis=1)

  norm = cameras.normalization(observed, reported)
  keypoints = norm.apply(observed)
  gt_camera = best_weak_camera(points, norm.apply(clean), confidence)
  batch = Batch(keypoints * reported[..., None], reported, pose, betas,
                gt_camera)
  return _turned_upright(batch, body,
                         config.get("upright_beyond_deg", 180.0))


_compiled_sample_batch = jax.jit(sample_batch, static_argnums=3)


def compiled_sample_batch(key: jax.Array, poses: jax.Array, body: Body,
                          config: ml_collections.ConfigDict) -> Batch:
  """`sample_batch` as one compiled program, kept per config and pose
  count: called outside `jit`, each of its operations would compile on
  its own, which takes far longer."""
  return _compiled_sample_batch(key, poses, body,
                                ml_collections.FrozenConfigDict(config))


def _turned_upright(batch: Batch, body: Body, beyond_deg: float) -> Batch:
  """`batch` with the people whose body axis is more than `beyond_deg`
  off the image's vertical turned upright, the network's view of them in
  `fit` (`unroll.unroll_best_start`)."""
  if beyond_deg >= 180:
    return batch
  angle, keypoints = unroll_lib.turned_upright(batch.keypoints,
                                               batch.confidence, beyond_deg)
  truth = theta_lib.turned_in_image(target_theta(batch), -angle, body)
  return batch._replace(keypoints=keypoints,
                        pose=truth[:, :theta_lib.NUM_POSE],
                        camera=truth[:, -theta_lib.NUM_CAMERA:])
