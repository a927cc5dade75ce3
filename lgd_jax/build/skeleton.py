"""A source (mocap) skeleton with its motion, and its forward kinematics.

Both mocap readers (`lgd_jax.build.bvh`, `lgd_jax.build.asf_amc`) produce a
`Motion`: per-frame local rotations and translations of a joint tree, in
metres with y up. Forward kinematics reuses the body model's own
`lgd_jax.body.lbs.forward_kinematics`, vectorised over frames.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from lgd_jax import batching
from lgd_jax.body import lbs
from lgd_jax.errors import FileProblemError
from lgd_jax.body import rotations

AXES = "xyz"
CHUNK = 4096  # frames per jitted call: one compilation serves every clip


def map_frames(fn, *arrays, constants=(), **static):
  """Applies a jitted `fn(*constants, *arrays, **static)` to (T, ...) arrays
  in fixed-size chunks of frames.

  Clips differ in length; padding them to `CHUNK` frames
  (`lgd_jax.batching`) compiles `fn` once instead of once per clip length.
  `constants` (e.g. a body model) are passed whole. Returns the outputs'
  leaves as float64 NumPy arrays.
  """
  jitted = _jitted(fn, tuple(sorted(static.items())))
  outs = batching.in_chunks(
      lambda *chunk: jax.tree.leaves(jitted(*constants, *chunk)),
      tuple(np.asarray(a, np.float32) for a in arrays), CHUNK,
      full_chunks=True)
  return [np.asarray(o, np.float64) for o in outs]


@functools.cache
def _jitted(fn, static):
  return jax.jit(functools.partial(fn, **dict(static)))


class MocapFileError(FileProblemError):
  """A mocap file is unreadable; the message names the file and line."""

  def __init__(self, path, problem: str, line: int | None = None):
    super().__init__(path if line is None else f"{path}, line {line}",
                     problem)
    self.path = path
    self.line = line


@dataclasses.dataclass(frozen=True)
class WorldPose:
  """Posed source skeleton, from `Motion.forward_kinematics`.

  Attributes:
    names: J joint names.
    parents: J parent indices, -1 for the root.
    rotations: (T, J, 3, 3) joint-to-world rotations.
    positions: (T, J, 3) joint positions, metres.
  """

  names: tuple[str, ...]
  parents: tuple[int, ...]
  rotations: np.ndarray
  positions: np.ndarray

  def index(self, name: str) -> int:
    return self.names.index(name)

  def bone_lengths(self) -> np.ndarray:
    """(T, J) metres from each joint's parent (0 for the root)."""
    parents = np.maximum(np.asarray(self.parents), 0)
    return np.linalg.norm(self.positions - self.positions[:, parents],
                          axis=-1)


@dataclasses.dataclass(frozen=True)
class Motion:
  """A joint tree and its motion.

  Each joint's transform relative to its parent is a translation followed by
  a rotation: x_parent = translation + rotation @ x_joint. Joints without a
  rotation (end sites) have identity rotations.

  Attributes:
    names: J joint names; end sites are named "<parent>_end".
    parents: J parent indices, -1 for the root; parents come first.
    local_rotations: (T, J, 3, 3) rotation of each joint in its parent's
      frame (the root's: in the world).
    local_translations: (T, J, 3) metres, each joint's origin in its parent's
      frame (the root's: its world position).
    fps: frames per second.
    source: the file it was read from (for messages).
  """

  names: tuple[str, ...]
  parents: tuple[int, ...]
  local_rotations: np.ndarray
  local_translations: np.ndarray
  fps: float
  source: str = ""

  @property
  def num_frames(self) -> int:
    return self.local_rotations.shape[0]

  def index(self, name: str) -> int:
    return self.names.index(name)

  def subsample(self, step: int) -> "Motion":
    """Every `step`-th frame (e.g. 120 fps -> 30 fps with step 4)."""
    return dataclasses.replace(
        self, local_rotations=self.local_rotations[::step],
        local_translations=self.local_translations[::step],
        fps=self.fps / step)

  def forward_kinematics(self) -> WorldPose:
    """World rotations and positions of every joint in every frame."""
    # lbs.forward_kinematics takes absolute rest positions and uses their
    # differences as bones: accumulate the per-frame translations into them.
    absolute = np.array(self.local_translations, np.float64)
    for j, p in enumerate(self.parents):
      if p >= 0:
        absolute[:, j] += absolute[:, p]
    rotations, positions = map_frames(lbs.forward_kinematics,
                                      self.local_rotations, absolute,
                                      parents=self.parents)
    return WorldPose(self.names, self.parents, rotations, positions)


def euler_to_matrix(angles, axes) -> np.ndarray:
  """Rotation matrices from Euler angles, composed in the listed order.

  R = R_{axes[0]}(angles[..., 0]) @ R_{axes[1]}(angles[..., 1]) @ ..., the
  BVH convention (the last listed rotation acts on a vector first).

  Args:
    angles: (..., K) radians.
    axes: (..., K) int axis indices (0 = x, 1 = y, 2 = z), broadcasting with
      `angles`; a slot with angle 0 contributes the identity.

  Returns:
    (..., 3, 3) float64 rotations.
  """
  angles = np.asarray(angles, np.float64)
  axes = np.broadcast_to(np.asarray(axes), angles.shape)
  out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
  if not angles.size:
    return out
  rotvecs = np.zeros(angles.shape + (3,))
  np.put_along_axis(rotvecs, axes[..., None], angles[..., None], axis=-1)
  mats = map_frames(rotations.axis_angle_to_matrix, rotvecs.reshape(-1, 3))[0]
  mats = mats.reshape(angles.shape + (3, 3))
  for k in range(angles.shape[-1]):
    out = out @ mats[..., k, :, :]
  return out
