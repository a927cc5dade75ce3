"""Retargeting mocap skeletons to SMPL-layout pose vectors.

The source skeletons' rest poses and bone axes differ from SMPL's (the
Bandai-Namco BVH bones have bone-local axes; CMU's rest pose is world-aligned
but proportioned differently), so local Euler angles cannot be copied.
Instead each SMPL joint j that a source bone b drives gets the world rotation

  G_j(t) = Q_b(t) A_b,

with Q_b(t) the source bone's world rotation (forward kinematics) and A_b a
constant per-bone rest alignment: the rotation taking SMPL's rest bone
direction onto b's bone direction in b's own frame, and a secondary SMPL rest
direction (the hip line, the side an elbow or knee bends to, the foot's
forward direction...) onto the mean of the same cue seen in b's frame over
all frames of that skeleton. Bone directions then match exactly in every
frame (G_j d_j = Q_b u_b) and the twist about each bone is the source's own,
offset by one constant per bone.

"Relative" rows instead copy the source bone's rotation relative to the bone
driving their SMPL parent, measured from its mean over all frames: the head,
wrists and toes (SMPL has no bone direction for them) and the collars, whose
source bones start much higher on the chest than SMPL's (CMU's clavicle rises
from the neck base while SMPL's collar bone falls 30 degrees to the
shoulder): matching their directions would shrug every shoulder. Spine3
(Bandai-Namco only: one chest bone drives spine2, aimed at the neck) and the
hands (joints 22, 23; no finger data) stay at identity. The local rotations
are then G_parent^T G_j; the global orientation is the pelvis' rotation in
the mocap world (its facing direction kept).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
import numpy as np

from lgd_jax.body.lbs import smpl_forward
from lgd_jax.body.rotations import matrix_to_axis_angle
from lgd_jax.body.model import BodyModel, SMPL_JOINT_NAMES, SMPL_PARENTS
from lgd_jax.build.skeleton import WorldPose, map_frames


# The limb bones whose direction cosines judge a retargeting.
LIMBS = tuple(f"{side}_{a}->{side}_{b}" for side in ("left", "right")
              for a, b in (("shoulder", "elbow"), ("elbow", "wrist"),
                           ("hip", "knee"), ("knee", "ankle")))


class Bone(NamedTuple):
  """How one SMPL joint is driven by a source bone.

  Attributes:
    smpl: the SMPL joint name.
    source: the source joint whose world rotation drives it.
    direction: (from, to) source joints of the bone direction, or None for a
      relative row (below).
    smpl_direction: (from, to) SMPL joints of the matching rest direction.
    cue: (from, to) source joints of the secondary (twist) direction.
    smpl_cue: (from, to) SMPL joints or an (x, y, z) rest direction.
    relative: align by the mean rotation instead (see `calibrate`); the
      direction is then only checked, not matched. Rows without a direction
      are always relative.
  """

  smpl: str
  source: str
  direction: Optional[tuple[str, str]] = None
  smpl_direction: Optional[tuple[str, str]] = None
  cue: Optional[tuple[str, str]] = None
  smpl_cue: Optional[tuple] = None
  relative: bool = False

  @property
  def is_relative(self) -> bool:
    return self.relative or self.direction is None


# Rest directions an elbow bends towards (forward) and a knee (backward) in
# SMPL's T-pose, as seen from both the upper and the lower limb.
_FORWARD, _BACKWARD = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)


def _limbs(side, collar, upper_arm, forearm, wrist, hand, thigh,
           shin, foot, toes):
  """The limb rows of a table; `wrist` ends the forearm, `hand` turns the
  SMPL wrist. A skeleton without collar bones passes collar=None (the SMPL
  collar then follows the chest); one without a toe joint or foot end
  passes toes=None: its ankle copies the foot's rotation relative to the
  mean pose (no foot direction to match) and the knee's twist cue is the
  thigh seen from the shin."""
  s = f"{side}_"
  arm = (
      Bone(s + "shoulder", upper_arm, (upper_arm, forearm),
           (s + "shoulder", s + "elbow"), (forearm, wrist), _FORWARD),
      Bone(s + "elbow", forearm, (forearm, wrist), (s + "elbow", s + "wrist"),
           (forearm, upper_arm), _FORWARD),
      Bone(s + "wrist", hand),
      Bone(s + "hip", thigh, (thigh, shin), (s + "hip", s + "knee"),
           (shin, foot), _BACKWARD),
  )
  if collar is not None:
    arm = (Bone(s + "collar", collar, (collar, upper_arm),
                (s + "collar", s + "shoulder"), relative=True),) + arm
  if toes is None:
    return arm + (
        Bone(s + "knee", shin, (shin, foot), (s + "knee", s + "ankle"),
             (shin, thigh), _BACKWARD),
        Bone(s + "ankle", foot))
  return arm + (
      Bone(s + "knee", shin, (shin, foot), (s + "knee", s + "ankle"),
           (foot, toes), (s + "ankle", s + "foot")),
      Bone(s + "ankle", foot, (foot, toes), (s + "ankle", s + "foot"),
           (foot, shin), (s + "ankle", s + "knee")),
      Bone(s + "foot", toes),
  )


# Bandai-Namco BVH: spine3 stays at identity (the source has one chest bone,
# mapped to spine2 with the direction spine2 -> neck).
BANDAI_NAMCO = (
    Bone("pelvis", "Hips", ("UpperLeg_R", "UpperLeg_L"),
         ("right_hip", "left_hip"), ("Hips", "Spine"), ("pelvis", "spine1")),
    Bone("spine1", "Spine", ("Spine", "Chest"), ("spine1", "spine2"),
         ("UpperLeg_R", "UpperLeg_L"), ("right_hip", "left_hip")),
    Bone("spine2", "Chest", ("Chest", "Neck"), ("spine2", "neck"),
         ("Shoulder_R", "Shoulder_L"), ("right_collar", "left_collar")),
    Bone("neck", "Neck", ("Neck", "Head"), ("neck", "head"),
         ("Shoulder_R", "Shoulder_L"), ("right_collar", "left_collar")),
    Bone("head", "Head"),
) + tuple(row for side in "LR" for row in _limbs(
    {"L": "left", "R": "right"}[side], f"Shoulder_{side}",
    f"UpperArm_{side}", f"LowerArm_{side}", f"Hand_{side}", f"Hand_{side}",
    f"UpperLeg_{side}", f"LowerLeg_{side}", f"Foot_{side}", f"Toes_{side}"))


def _cmu(root, thorax_bone=True):
  """CMU's Acclaim skeleton. The SMPL wrist turns with lhand (lwrist's
  twist included), the head with the head bone (upperneck's bend
  included). `root` names the root joint. CMU's own BVH conversion calls
  it "hip" and gives the thorax bone zero length (lowerneck and the
  clavicles sit on the thorax joint): with thorax_bone=False spine3 copies
  the thorax' rotation relative to the mean pose instead of aiming it."""
  spine3 = (Bone("spine3", "thorax", ("thorax", "lowerneck"),
                 ("spine3", "neck"), ("rhumerus", "lhumerus"),
                 ("right_shoulder", "left_shoulder")) if thorax_bone
            else Bone("spine3", "thorax"))
  return (
      Bone("pelvis", root, ("rfemur", "lfemur"), ("right_hip", "left_hip"),
           (root, "upperback"), ("pelvis", "spine1")),
      Bone("spine1", "lowerback", ("lowerback", "upperback"),
           ("spine1", "spine2"), ("rfemur", "lfemur"),
           ("right_hip", "left_hip")),
      Bone("spine2", "upperback", ("upperback", "thorax"),
           ("spine2", "spine3"), ("rhumerus", "lhumerus"),
           ("right_shoulder", "left_shoulder")),
      spine3,
      Bone("neck", "lowerneck", ("lowerneck", "upperneck"), ("neck", "head"),
           ("rhumerus", "lhumerus"), ("right_shoulder", "left_shoulder")),
      Bone("head", "head"),
  ) + tuple(row for side in "lr" for row in _limbs(
      {"l": "left", "r": "right"}[side], f"{side}clavicle", f"{side}humerus",
      f"{side}radius", f"{side}wrist", f"{side}hand", f"{side}femur",
      f"{side}tibia", f"{side}foot", f"{side}toes"))


# CMU ASF/AMC (also HDM05, whose ASF files use CMU's bone names).
CMU = _cmu("root")
# CMU's own BVH conversion (two of the cmu-daz clips, 16_01 and 16_02).
CMU_BVH = _cmu("hip", thorax_bone=False)

# CMU data in the "Daz-friendly" BVH conversion (mocap/cmu-daz). Its
# abdomen joint sits about 20 cm above the hip joint, at SMPL's spine2
# height: the hip bone drives the SMPL pelvis and spine1 (spine1 keeps an
# identity local rotation; the hip -> abdomen bone is the twist cue of
# pelvis -> spine2), abdomen, chest and neck the joints above. Its
# feet have no toe joint; the foot's end site gives the foot direction.
CMU_DAZ = (
    Bone("pelvis", "hip", ("rThigh", "lThigh"), ("right_hip", "left_hip"),
         ("hip", "abdomen"), ("pelvis", "spine2")),
    Bone("spine2", "abdomen", ("abdomen", "chest"), ("spine2", "spine3"),
         ("rShldr", "lShldr"), ("right_shoulder", "left_shoulder")),
    Bone("spine3", "chest", ("chest", "neck"), ("spine3", "neck"),
         ("rShldr", "lShldr"), ("right_shoulder", "left_shoulder")),
    Bone("neck", "neck", ("neck", "head"), ("neck", "head"),
         ("rShldr", "lShldr"), ("right_shoulder", "left_shoulder")),
    Bone("head", "head"),
) + tuple(row for side in "lr" for row in _limbs(
    {"l": "left", "r": "right"}[side], f"{side}Collar", f"{side}Shldr",
    f"{side}ForeArm", f"{side}Hand", f"{side}Hand", f"{side}Thigh",
    f"{side}Shin", f"{side}Foot", f"{side}Foot_end"))


def _humanoid(root, chest, neck, limb_names):
  """DeepMimic's humanoid (also AMP's, under other names): a root at the
  hips, one chest joint about 24 cm up (SMPL's spine2 height), a neck
  joint at the base of the skull, no collars, no toes, 1-DoF knees and
  elbows, fixed wrists. `limb_names(side)` gives (upper_arm, forearm,
  wrist, thigh, shin, foot) for "left"/"right". The root drives the SMPL
  pelvis and spine1, the chest spine2 (aimed at the neck joint, spine3
  identity) and the neck joint the SMPL neck, relative (there is no head
  end to aim it at); the SMPL head keeps an identity local rotation."""
  def side_rows(side):
    upper_arm, forearm, wrist, thigh, shin, foot = limb_names(side)
    return _limbs(side, None, upper_arm, forearm, wrist, wrist, thigh, shin,
                  foot, None)
  hips = tuple(limb_names(side)[3] for side in ("right", "left"))
  shoulders = tuple(limb_names(side)[0] for side in ("right", "left"))
  return (
      Bone("pelvis", root, hips, ("right_hip", "left_hip"), (root, chest),
           ("pelvis", "spine2")),
      Bone("spine2", chest, (chest, neck), ("spine2", "neck"), shoulders,
           ("right_shoulder", "left_shoulder")),
      Bone("neck", neck),
  ) + side_rows("left") + side_rows("right")


DEEPMIMIC = _humanoid("root", "chest", "neck", lambda side: tuple(
    f"{side}_{n}" for n in ("shoulder", "elbow", "wrist", "hip", "knee",
                            "ankle")))
AMP = _humanoid("pelvis", "torso", "head", lambda side: tuple(
    f"{side}_{n}" for n in ("upper_arm", "lower_arm", "hand", "thigh",
                            "shin", "foot")))

# Our own layout (SMPL joint names), for round trips through a source
# skeleton with arbitrary bone axes.
_HIPS, _COLLARS = ("right_hip", "left_hip"), ("right_collar", "left_collar")
SMPL_LAYOUT = (
    Bone("pelvis", "pelvis", _HIPS, _HIPS, ("pelvis", "spine1"),
         ("pelvis", "spine1")),
) + tuple(
    Bone(joint, joint, (joint, child), (joint, child), line, line)
    for joint, child, line in (("spine1", "spine2", _HIPS),
                               ("spine2", "spine3", _COLLARS),
                               ("spine3", "neck", _COLLARS),
                               ("neck", "head", _COLLARS))
) + (Bone("head", "head"),) + tuple(
    row for side in ("left", "right") for row in _limbs(
        side, *(f"{side}_{n}" for n in (
            "collar", "shoulder", "elbow", "wrist", "wrist", "hip", "knee",
            "ankle", "foot"))))

SKELETONS = {"bandai-namco": BANDAI_NAMCO, "cmu": CMU, "cmu-bvh": CMU_BVH,
             "cmu-daz": CMU_DAZ, "deepmimic": DEEPMIMIC, "amp": AMP,
             "smpl": SMPL_LAYOUT}


def skeleton_of(names) -> str:
  """The `SKELETONS` key whose source joints are all among `names` (a
  skeleton's joint names), the first such in `SKELETONS` order."""
  names = set(names)
  for key, table in SKELETONS.items():
    used = {n for row in table for pair in (row.direction, row.cue)
            if pair and isinstance(pair[0], str) for n in pair}
    if used | {row.source for row in table} <= names:
      return key
  raise ValueError(f"no retargeting table fits joints {sorted(names)}")


def _unit(v):
  return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _frame(primary, secondary):
  """(3, 3) rotation with columns primary, secondary's normal part, and
  their cross product."""
  x = _unit(primary)
  y = _unit(secondary - (secondary @ x) * x)
  return np.stack([x, y, np.cross(x, y)], axis=-1)


def _vector(world: WorldPose, pair):
  return (world.positions[:, world.index(pair[1])] -
          world.positions[:, world.index(pair[0])])


def _rest_vector(rest_joints, spec):
  if isinstance(spec[0], str):
    return (rest_joints[SMPL_JOINT_NAMES.index(spec[1])] -
            rest_joints[SMPL_JOINT_NAMES.index(spec[0])])
  return np.asarray(spec, np.float64)


def _aligned_row(table, index):
  """The row a relative row is measured against: its nearest SMPL
  ancestor's, among the direction-aligned rows."""
  aligned = {row.smpl: i for i, row in enumerate(table)
             if not row.is_relative}
  joint = SMPL_PARENTS[SMPL_JOINT_NAMES.index(table[index].smpl)]
  while SMPL_JOINT_NAMES[joint] not in aligned:
    joint = SMPL_PARENTS[joint]
  return aligned[SMPL_JOINT_NAMES[joint]]


def _mean_rotation(rotations) -> np.ndarray:
  """(N, 3, 3) -> (3, 3): the rotation nearest their average (chordal
  mean)."""
  u, _, vt = np.linalg.svd(rotations.sum(0))
  return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def calibrate(table, worlds, rest_joints) -> np.ndarray:
  """The rest alignments A_b of one source skeleton.

  Args:
    table: a tuple of `Bone` rows (e.g. `BANDAI_NAMCO`).
    worlds: `WorldPose`s of clips of one skeleton (same bone axes); cues and
      mean rotations are taken over all their frames.
    rest_joints: (24, 3) the body model's rest joints (`joint_template`).

  Returns:
    (len(table), 3, 3) alignments: G_j = Q_b A_b.
  """
  rest_joints = np.asarray(rest_joints, np.float64)
  alignments = np.zeros((len(table), 3, 3))
  stack = lambda fn: np.concatenate([fn(w) for w in worlds])
  rotations = lambda name: stack(lambda w: w.rotations[:, w.index(name)])
  for i, row in enumerate(table):
    if row.is_relative:
      continue
    q = rotations(row.source)
    to_local = lambda pair: np.einsum(
        "tji,tj->ti", q, stack(lambda w: _vector(w, pair)))
    direction = to_local(row.direction)
    if np.linalg.norm(direction, axis=-1).max() < 1e-9:
      raise ValueError(f"{row.smpl}: source bone {row.direction} has zero "
                       "length; make the row relative")
    u = _unit(_unit(direction).sum(0))
    cue = to_local(row.cue)
    # Summing the cue's normal parts weights each frame by how clearly it
    # shows the cue (a straight knee shows no bend direction).
    cue = (cue - (cue @ u)[:, None] * u).sum(0)
    alignments[i] = _frame(u, cue) @ _frame(
        _rest_vector(rest_joints, row.smpl_direction),
        _rest_vector(rest_joints, row.smpl_cue)).T
  for i, row in enumerate(table):
    if row.is_relative:
      k = _aligned_row(table, i)
      # A_b = M^T A_k makes the mean source rotation relative to the bone
      # that drives the SMPL ancestor the SMPL rest (identity) rotation.
      mean = _mean_rotation(np.swapaxes(rotations(table[k].source), -1, -2)
                            @ rotations(row.source))
      alignments[i] = mean.T @ alignments[k]
  return alignments


def world_rotations(table, alignments, world: WorldPose) -> np.ndarray:
  """(T, 24, 3, 3) SMPL joint world rotations G_j = Q_b A_b; joints not in
  the table keep their parent's rotation (identity local)."""
  by_joint = {row.smpl: i for i, row in enumerate(table)}
  out = np.empty((world.rotations.shape[0], len(SMPL_JOINT_NAMES), 3, 3))
  for j, name in enumerate(SMPL_JOINT_NAMES):
    if name in by_joint:
      row = table[by_joint[name]]
      out[:, j] = world.rotations[:, world.index(row.source)] @ alignments[
          by_joint[name]]
    else:
      out[:, j] = out[:, SMPL_PARENTS[j]] if j else np.eye(3)
  return out


def to_pose(rotations) -> np.ndarray:
  """(T, 24, 3, 3) world rotations -> (T, 72) SMPL axis-angle pose (local
  rotations G_parent^T G_j, global orientation first)."""
  parents = np.maximum(np.asarray(SMPL_PARENTS), 0)
  local = np.swapaxes(rotations[:, parents], -1, -2) @ rotations
  local[:, 0] = rotations[:, 0]
  return map_frames(matrix_to_axis_angle, local)[0].reshape(
      rotations.shape[0], -1)


def retarget(table, alignments, world: WorldPose) -> np.ndarray:
  """(T, 72) SMPL-layout poses (radians) for a posed source skeleton."""
  return to_pose(world_rotations(table, alignments, world))


def _joints(model, pose):
  betas = jnp.zeros(pose.shape[:-1] + (model.num_betas,), pose.dtype)
  return smpl_forward(model, pose, betas).joints


def posed_joints(model: BodyModel, poses) -> np.ndarray:
  """(T, 72) poses -> (T, 24, 3) joints of `model` (mean shape) from
  `lgd_jax.smpl_forward` (its unused vertices are compiled away)."""
  return map_frames(_joints, np.asarray(poses, np.float32),
                    constants=(model,))[0]


def bone_cosines(table, world: WorldPose, joints) -> dict[str, np.ndarray]:
  """Per-frame cosines between each retargeted SMPL bone and its source.

  Args:
    table: the `Bone` rows used.
    world: the posed source skeleton.
    joints: (T, 24, 3) SMPL joints of the retargeted poses.

  Returns:
    "from->to" SMPL bone name -> (T,) cosines.
  """
  out = {}
  for row in table:
    if row.direction is None:
      continue
    a, b = (SMPL_JOINT_NAMES.index(n) for n in row.smpl_direction)
    out[f"{row.smpl_direction[0]}->{row.smpl_direction[1]}"] = np.sum(
        _unit(joints[:, b] - joints[:, a]) *
        _unit(_vector(world, row.direction)), axis=-1)
  return out
