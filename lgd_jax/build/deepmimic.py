"""A reader for DeepMimic motion clips (JSON keyframes of its humanoid).

A clip (`humanoid3d_walk.txt`...) is JSON with `Frames`: one row per
keyframe holding the keyframe's duration in seconds, then each joint's
values in the character file's joint order: the root's position (3) and
world quaternion (w, x, y, z), a quaternion per spherical joint, one angle
(radians) per revolute joint and nothing for fixed joints. The character
file (`humanoid3d.txt`) gives the joints, their parents and their
`Attach` offsets (metres, y up). DeepMimic turns a revolute joint about the
z axis of its joint frame (`cKinTree`); the joint frame is the parent's
turned by `AttachTheta*`, which the humanoid leaves at zero, so frames with
a nonzero one are refused rather than guessed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lgd_jax.build.skeleton import MocapFileError, Motion

# Values per joint in a frame row, by the character file's joint type.
_VALUES = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
_REVOLUTE_AXIS = np.array([0.0, 0.0, 1.0])
TARGET_FPS = 30.0


def _json(path: Path, what: str):
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise MocapFileError(path, f"cannot read as a {what} ({e})") from None


def _field(path, record: dict, key: str, what: str):
  if not isinstance(record, dict) or key not in record:
    raise MocapFileError(path, f"{what} has no {key!r}")
  return record[key]


def read_character(path) -> list[dict]:
  """The joints of a DeepMimic character file.

  Returns:
    A list of dicts in file order: `name`, `type` (a `_VALUES` key),
    `parent` (index, -1 for the root) and `offset` (3,) metres in the
    parent's frame.

  Raises:
    MocapFileError: for unreadable JSON, missing keys, unknown joint types,
      parents that do not come first or a nonzero `AttachTheta*`.
  """
  path = Path(path)
  skeleton = _field(path, _json(path, "DeepMimic character file"),
                    "Skeleton", "the character file")
  joints = []
  for number, joint in enumerate(_field(path, skeleton, "Joints",
                                        "Skeleton")):
    what = f"joint {number}"
    name, kind, parent = (_field(path, joint, key, what)
                          for key in ("Name", "Type", "Parent"))
    if kind not in _VALUES:
      raise MocapFileError(path, f"{what} ({name}) has unknown type {kind!r}")
    if not -1 <= parent < number or (parent == -1) != (kind == "none"):
      raise MocapFileError(path, f"{what} ({name}) has parent {parent}: "
                           "parents must come first, only the root has none")
    if any(float(joint.get(f"AttachTheta{a}", 0.0)) for a in "XYZ"):
      raise MocapFileError(path, f"{what} ({name}) has a nonzero "
                           "AttachTheta (rotated joint frames are not "
                           "supported)")
    joints.append(dict(name=name, type=kind, parent=parent,
                       offset=np.array([float(_field(path, joint, f"Attach{a}",
                                                     what)) for a in "XYZ"])))
  return joints


def resample_indices(durations, fps: float = TARGET_FPS) -> np.ndarray:
  """Keyframe indices nearest to the times 0, 1/fps, 2/fps, ... of a clip,
  each at most once: every k-th keyframe of a uniform clip at k times
  `fps` (the thinning the other sources had), and every keyframe of a
  slower one. Kept poses are the source's own, never interpolated.

  Args:
    durations: (T,) seconds from each keyframe to the next (the last is the
      clip's end and may be 0).
  """
  times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
  targets = np.arange(0.0, times[-1] + 0.5 / fps, 1.0 / fps)
  nearest = np.abs(times[None] - targets[:, None]).argmin(-1)
  return np.unique(nearest)


def _local_rotations(joints, rows) -> np.ndarray:
  """(T, J, 3, 3) from the frame rows, minus their duration and root
  position columns."""
  local = np.tile(np.eye(3), (rows.shape[0], len(joints), 1, 1))
  column = 0
  for j, joint in enumerate(joints):
    count = _VALUES[joint["type"]] - (3 if joint["type"] == "none" else 0)
    values = rows[:, column:column + count]
    if count == 4:
      local[:, j] = Rotation.from_quat(values, scalar_first=True).as_matrix()
    elif count == 1:
      local[:, j] = Rotation.from_rotvec(values * _REVOLUTE_AXIS).as_matrix()
    column += count
  return local


def read_deepmimic(path, character) -> Motion:
  """Reads a DeepMimic motion clip, resampled to about 30 fps.

  Args:
    path: the clip (`humanoid3d_*.txt`).
    character: joints from `read_character`.

  Returns:
    A `Motion` in metres, y up, joints named as in the character file. Its
    frames are the keyframes `resample_indices` picks; its `fps` is their
    mean rate.

  Raises:
    MocapFileError: for unreadable JSON, a missing `Frames`, a row whose
      length differs from the character's, non-numeric values or durations
      that are negative or all zero.
  """
  path = Path(path)
  frames = _field(path, _json(path, "DeepMimic motion"), "Frames",
                  "the motion file")
  width = 1 + sum(_VALUES[j["type"]] for j in character)
  if not isinstance(frames, list) or not frames:
    raise MocapFileError(path, "Frames must be a non-empty list of rows")
  for number, row in enumerate(frames):
    if not isinstance(row, list) or len(row) != width:
      raise MocapFileError(path, f"frame {number} has "
                           f"{len(row) if isinstance(row, list) else 'no'} "
                           f"values, the character needs {width}")
  try:
    rows = np.array(frames, np.float64)
  except (TypeError, ValueError):
    raise MocapFileError(path, "a frame has a value that is not a number"
                         ) from None
  durations = rows[:, 0]
  if np.any(durations < 0) or not durations[:-1].sum() > 0:
    raise MocapFileError(path, "frame durations must be positive")
  keep = resample_indices(durations)
  rows = rows[keep]
  try:
    local_rotations = _local_rotations(character, rows[:, 4:])
  except ValueError as e:  # scipy: a quaternion of zero norm
    raise MocapFileError(path, f"bad rotation values ({e})") from None
  translations = np.tile(np.stack([j["offset"] for j in character]),
                         (len(keep), 1, 1))
  translations[:, 0] = rows[:, 1:4]  # the root's world position
  span = durations[:keep[-1]].sum()
  return Motion(names=tuple(j["name"] for j in character),
                parents=tuple(j["parent"] for j in character),
                local_rotations=local_rotations,
                local_translations=translations,
                fps=(len(keep) - 1) / span if span > 0 else TARGET_FPS,
                source=str(path))
