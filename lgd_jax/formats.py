"""Keypoint formats and the one canonical keypoint set they all map onto.

Every format's keypoint is one point of the canonical set, so one network
serves every format: a format's array is scattered into canonical order, and
canonical points the format lacks get confidence 0. Points that different
annotation conventions define differently (COCO's hips are surface points
on the side of the pelvis, SMPL's hips are joint centres; OpenPose's neck is
the midpoint of the shoulders) are different canonical points; none is
relabelled as another.

Each canonical point is a linear function of the posed mesh, W·M(θ, β): a
row of the model's `J_regressor`, of its surface `keypoint_regressor`, or a
fixed combination of those rows (see `canonical_regressor`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lgd_jax.body.model import SMPL_JOINT_NAMES, SMPL_PARENTS, BodyModel

# Points regressed from the mesh surface, as detectors see them (COCO-17 as
# annotated, plus OpenPose's foot points). The bundled model ships these
# regressors; for SMPL files they come from vertex ids (see below).
SURFACE_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "coco_left_shoulder", "coco_right_shoulder", "coco_left_elbow",
    "coco_right_elbow", "coco_left_wrist", "coco_right_wrist",
    "coco_left_hip", "coco_right_hip", "coco_left_knee", "coco_right_knee",
    "coco_left_ankle", "coco_right_ankle", "left_big_toe", "right_big_toe",
    "left_small_toe", "right_small_toe", "left_heel", "right_heel")
# Points defined as combinations of others: name -> {point: weight}.
DERIVED = {
    # OpenPose's Neck and MidHip are midpoints of COCO-style points.
    "neck_base": {"coco_left_shoulder": 0.5, "coco_right_shoulder": 0.5},
    "mid_hip": {"coco_left_hip": 0.5, "coco_right_hip": 0.5},
    # MPII's upper neck / PoseTrack's head_bottom: under the chin, between
    # SMPL's neck (C7) and head (skull base) joints, nearer the head.
    "upper_neck": {"neck": 0.3, "head": 0.7},
    # H36M's spine joint: halfway up the back.
    "mid_spine": {"spine1": 0.5, "spine2": 0.5},
}
HEAD_TOP = "head_top"  # the highest head vertex of the rest mesh
CANONICAL_NAMES = (SMPL_JOINT_NAMES + SURFACE_NAMES + tuple(DERIVED) +
                   (HEAD_TOP,))
NUM_CANONICAL = len(CANONICAL_NAMES)
# The canonical points of each limb below the shoulder or hip: what one
# occluded limb hides from a detector.
_LIMB_PARTS = {"arm": ("elbow", "wrist", "hand"),
               "leg": ("knee", "ankle", "foot", "toe", "heel")}
LIMB_CHAINS = {
    f"{side}_{limb}": tuple(
        i for i, name in enumerate(CANONICAL_NAMES)
        if f"{side}_" in name and any(part in name for part in parts))
    for side in ("left", "right") for limb, parts in _LIMB_PARTS.items()}


@dataclasses.dataclass(frozen=True)
class KeypointFormat:
  """A 2D keypoint layout.

  Attributes:
    name: registry key, e.g. "coco17".
    joint_names: the format's own names, in its order.
    canonical: for each keypoint, its canonical point's name.
    edges: (i, j) pairs to draw as the skeleton.
  """

  name: str
  joint_names: tuple[str, ...]
  canonical: tuple[str, ...]
  edges: tuple[tuple[int, int], ...]

  @property
  def num_keypoints(self) -> int:
    return len(self.joint_names)

  @property
  def canonical_index(self) -> np.ndarray:
    """(K,) index of each keypoint in the canonical set."""
    return np.array([CANONICAL_NAMES.index(c) for c in self.canonical])

  @property
  def flip_pairs(self) -> tuple[tuple[int, int], ...]:
    """Index pairs (left, right) that swap under a horizontal flip."""
    index = {n: i for i, n in enumerate(self.joint_names)}
    return tuple((i, index[mirror(n)]) for i, n in enumerate(self.joint_names)
                 if _is_left(n) and mirror(n) in index)

  @property
  def flip_permutation(self) -> np.ndarray:
    """(K,) permutation that maps keypoints to their mirror images."""
    perm = np.arange(self.num_keypoints)
    for i, j in self.flip_pairs:
      perm[i], perm[j] = j, i
    return perm


def mirror(name: str) -> str:
  """The mirrored point's name: left <-> right, also OpenPose's L/R prefix."""
  for a, b in (("left", "right"), ("right", "left")):
    if a in name:
      return name.replace(a, b)
  if len(name) > 1 and name[0] in "LR" and name[1].isupper():
    return {"L": "R", "R": "L"}[name[0]] + name[1:]
  return name


def _is_left(name: str) -> bool:
  return "left" in name or (mirror(name) != name and name[0] == "L")


def _format(name, pairs, edges):
  """pairs: (format joint name, canonical name); edges by joint name."""
  joint_names = tuple(p[0] for p in pairs)
  index = {n: i for i, n in enumerate(joint_names)}
  return KeypointFormat(name, joint_names, tuple(p[1] for p in pairs),
                        tuple((index[a], index[b]) for a, b in edges))


def _sided(*parts):
  return [f"{side}_{part}" for part in parts for side in ("left", "right")]


_LIMBS = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
          ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
          ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
          ("right_hip", "right_knee"), ("right_knee", "right_ankle")]
_COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear",
               *_sided("shoulder", "elbow", "wrist", "hip", "knee", "ankle"))


def _coco_canonical(name):
  return name if name in SURFACE_NAMES else f"coco_{name}"


COCO17 = _format(
    "coco17", [(n, _coco_canonical(n)) for n in _COCO_NAMES], _LIMBS + [
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
        ("right_eye", "right_ear")
    ])

_BODY25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
    "LWrist", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
    "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
    "RBigToe", "RSmallToe", "RHeel")
_OPENPOSE_PARTS = {"Shoulder": "shoulder", "Elbow": "elbow", "Wrist": "wrist",
                   "Hip": "hip", "Knee": "knee", "Ankle": "ankle", "Eye": "eye",
                   "Ear": "ear", "BigToe": "big_toe", "SmallToe": "small_toe",
                   "Heel": "heel"}


def _openpose_canonical(name):
  if name == "Nose":
    return "nose"
  if name == "Neck":
    return "neck_base"
  if name == "MidHip":
    return "mid_hip"
  side = "left" if name[0] == "L" else "right"
  return _coco_canonical(f"{side}_{_OPENPOSE_PARTS[name[1:]]}")


def _openpose_edges(names):
  pairs = [("Neck", "RShoulder"), ("Neck", "LShoulder"), ("Neck", "Nose"),
           ("Nose", "REye"), ("Nose", "LEye"), ("REye", "REar"),
           ("LEye", "LEar")]
  for s in "LR":
    pairs += [(f"{s}Shoulder", f"{s}Elbow"), (f"{s}Elbow", f"{s}Wrist"),
              (f"{s}Hip", f"{s}Knee"), (f"{s}Knee", f"{s}Ankle"),
              (f"{s}Ankle", f"{s}BigToe"), (f"{s}BigToe", f"{s}SmallToe"),
              (f"{s}Ankle", f"{s}Heel")]
    pairs += [("MidHip", f"{s}Hip")] if "MidHip" in names else [
        ("Neck", f"{s}Hip")]
  return [(a, b) for a, b in pairs if a in names and b in names]


OPENPOSE25 = _format("openpose25",
                     [(n, _openpose_canonical(n)) for n in _BODY25_NAMES],
                     _openpose_edges(_BODY25_NAMES))
# OpenPose's COCO-18 output: COCO-17 plus the neck, in OpenPose's order.
_COCO18_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder",
                 "LElbow", "LWrist", "RHip", "RKnee", "RAnkle", "LHip",
                 "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")
OPENPOSE18 = _format("openpose18",
                     [(n, _openpose_canonical(n)) for n in _COCO18_NAMES],
                     _openpose_edges(_COCO18_NAMES))

# Human3.6M as in VideoPose3D / MMPose: right leg first. Its joints are
# joint centres from mocap, so SMPL's joints are their counterparts.
H36M17 = _format("h36m17", [
    ("pelvis", "pelvis"), ("right_hip", "right_hip"),
    ("right_knee", "right_knee"), ("right_ankle", "right_ankle"),
    ("left_hip", "left_hip"), ("left_knee", "left_knee"),
    ("left_ankle", "left_ankle"), ("spine", "mid_spine"),
    ("thorax", "neck"), ("neck_nose", "nose"), ("head", HEAD_TOP),
    ("left_shoulder", "left_shoulder"), ("left_elbow", "left_elbow"),
    ("left_wrist", "left_wrist"), ("right_shoulder", "right_shoulder"),
    ("right_elbow", "right_elbow"), ("right_wrist", "right_wrist")
], _LIMBS + [("pelvis", "left_hip"), ("pelvis", "right_hip"),
             ("pelvis", "spine"), ("spine", "thorax"),
             ("thorax", "neck_nose"), ("neck_nose", "head"),
             ("thorax", "left_shoulder"), ("thorax", "right_shoulder")])

SMPL24 = _format(
    "smpl24", [(n, n) for n in SMPL_JOINT_NAMES],
    [(SMPL_JOINT_NAMES[p], SMPL_JOINT_NAMES[j])
     for j, p in enumerate(SMPL_PARENTS) if p >= 0])

# Dataset layouts found in real annotation files.
MPII16 = _format("mpii16", [
    ("right_ankle", "coco_right_ankle"), ("right_knee", "coco_right_knee"),
    ("right_hip", "coco_right_hip"), ("left_hip", "coco_left_hip"),
    ("left_knee", "coco_left_knee"), ("left_ankle", "coco_left_ankle"),
    ("pelvis", "mid_hip"), ("thorax", "neck_base"),
    ("upper_neck", "upper_neck"), ("head_top", HEAD_TOP),
    ("right_wrist", "coco_right_wrist"), ("right_elbow", "coco_right_elbow"),
    ("right_shoulder", "coco_right_shoulder"),
    ("left_shoulder", "coco_left_shoulder"),
    ("left_elbow", "coco_left_elbow"), ("left_wrist", "coco_left_wrist")
], _LIMBS + [("pelvis", "left_hip"), ("pelvis", "right_hip"),
             ("pelvis", "thorax"), ("thorax", "upper_neck"),
             ("upper_neck", "head_top"), ("thorax", "left_shoulder"),
             ("thorax", "right_shoulder")])
CROWDPOSE14 = _format(
    "crowdpose14",
    [(n, _coco_canonical(n)) for n in _COCO_NAMES[5:]] +
    [("head", HEAD_TOP), ("neck", "neck_base")],
    _LIMBS + [("head", "neck"), ("neck", "left_shoulder"),
              ("neck", "right_shoulder"), ("left_shoulder", "left_hip"),
              ("right_shoulder", "right_hip"), ("left_hip", "right_hip")])
POSETRACK17 = _format(
    "posetrack17",
    [("nose", "nose"), ("head_bottom", "upper_neck"), ("head_top", HEAD_TOP)]
    + [(n, _coco_canonical(n)) for n in _COCO_NAMES[3:]],
    _LIMBS + [("nose", "head_bottom"), ("head_bottom", "head_top"),
              ("head_bottom", "left_shoulder"),
              ("head_bottom", "right_shoulder"),
              ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
              ("left_hip", "right_hip")])

FORMATS = {f.name: f for f in (COCO17, OPENPOSE25, OPENPOSE18, H36M17, SMPL24,
                               MPII16, CROWDPOSE14, POSETRACK17)}


def get_format(name: str) -> KeypointFormat:
  if name not in FORMATS:
    raise ValueError(f"unknown keypoint format {name!r}; known: "
                     f"{', '.join(FORMATS)}")
  return FORMATS[name]


def to_canonical(xy, confidence, keypoint_format: str):
  """Scatters a format's keypoints into the canonical set.

  Args:
    xy: (..., K, 2) keypoints of `keypoint_format`.
    confidence: (..., K) in [0, 1].
    keypoint_format: a `FORMATS` name.

  Returns:
    xy (..., C, 2) and confidence (..., C) in canonical order; points the
    format lacks, and non-finite points, are 0 with confidence 0. Works on
    NumPy and JAX arrays.
  """
  fmt = get_format(keypoint_format)
  xy_module = _array_module(xy)
  if xy.shape[-2:] != (fmt.num_keypoints, 2):
    raise ValueError(f"{keypoint_format} keypoints must be (..., "
                     f"{fmt.num_keypoints}, 2), got {xy.shape}")
  if confidence.shape != xy.shape[:-1]:
    raise ValueError(f"confidence must be {xy.shape[:-1]}, got "
                     f"{confidence.shape}")
  # Non-finite points (some tools write NaN for missing) become missing, so
  # they cannot leak into other points through the product below.
  finite = xy_module.all(xy_module.isfinite(xy), axis=-1)
  xy = xy_module.where(finite[..., None], xy, 0)
  confidence = xy_module.where(finite & xy_module.isfinite(confidence),
                               confidence, 0)
  # A one-hot matrix instead of a scatter keeps this a plain dot for XLA.
  select = np.zeros((fmt.num_keypoints, NUM_CANONICAL), np.float32)
  select[np.arange(fmt.num_keypoints), fmt.canonical_index] = 1
  select = xy_module.asarray(select, dtype=xy.dtype)
  return (xy_module.einsum("...kd,kc->...cd", xy, select),
          xy_module.einsum("...k,kc->...c", confidence,
                           select.astype(confidence.dtype)))


def from_canonical(points, keypoint_format: str):
  """(..., C, D) canonical points -> (..., K, D) of `keypoint_format`."""
  return points[..., get_format(keypoint_format).canonical_index, :]


def _array_module(x):
  if isinstance(x, np.ndarray):
    return np
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  return jnp


# --- Regressors of the canonical points on a body model ----------------------

# Vertex ids of the surface points on the official SMPL/SMPL-H (6,890
# vertices) and SMPL-X (10,475) meshes, as published with the smplx package
# (nose, eyes, ears, toes, heels). SMPL files carry no COCO-style regressor,
# so their COCO limb points fall back to SMPL's joints (see the README).
SMPL_FAMILY_SURFACE_VERTICES = {
    6890: {"nose": 332, "left_eye": 2800, "right_eye": 6260, "left_ear": 583,
           "right_ear": 4071, "left_big_toe": 3216, "left_small_toe": 3226,
           "left_heel": 3387, "right_big_toe": 6617, "right_small_toe": 6624,
           "right_heel": 6787},
    10475: {"nose": 9120, "left_eye": 9448, "right_eye": 9929, "left_ear": 6,
            "right_ear": 616, "left_big_toe": 5770, "left_small_toe": 5780,
            "left_heel": 8846, "right_big_toe": 8463, "right_small_toe": 8474,
            "right_heel": 8635},
}


def canonical_regressor(model: BodyModel) -> np.ndarray:
  """(C, V) vertex regressor of every canonical point on `model`'s mesh.

  Surface points use the model's own `keypoint_regressor` when it has one
  (the bundled model); otherwise the published SMPL/SMPL-X vertex ids, with
  COCO limb points taken as the corresponding SMPL joints.
  """
  joint_rows = np.asarray(model.J_regressor, np.float64)
  rows = dict(zip(SMPL_JOINT_NAMES, joint_rows))
  if model.keypoint_regressor is not None:
    own = dict(zip(model.keypoint_names,
                   np.asarray(model.keypoint_regressor, np.float64)))
    for name in SURFACE_NAMES:
      key = name[len("coco_"):] if name.startswith("coco_") else name
      if key not in own:
        raise ValueError(f"{model.name}: keypoint_regressor lacks {key!r}")
      rows[name] = own[key]
  elif model.num_vertices in SMPL_FAMILY_SURFACE_VERTICES:
    for name, vertex in SMPL_FAMILY_SURFACE_VERTICES[
        model.num_vertices].items():
      rows[name] = np.eye(1, model.num_vertices, vertex)[0]
    for name in SURFACE_NAMES:
      if name.startswith("coco_"):
        rows[name] = rows[name[len("coco_"):]]
  else:
    raise ValueError(
        f"{model.name}: no surface keypoint regressor and an unknown mesh "
        f"({model.num_vertices} vertices); add keypoint_regressor/"
        "keypoint_names to the model file")
  for name, parts in DERIVED.items():
    rows[name] = sum(weight * rows[part] for part, weight in parts.items())
  rows[HEAD_TOP] = np.eye(1, model.num_vertices, head_top_vertex(model))[0]
  return np.stack([rows[name] for name in CANONICAL_NAMES])


def head_top_vertex(model: BodyModel) -> int:
  """Index of the highest rest-pose vertex skinned mostly to the head."""
  head = SMPL_JOINT_NAMES.index("head")
  weights = np.asarray(model.weights)
  candidates = np.flatnonzero(weights.argmax(axis=1) == head)
  return int(candidates[np.argmax(np.asarray(model.v_template)[candidates,
                                                                1])])
