"""A reader for AMP motion files (IsaacGymEnvs' pickled `SkeletonMotion`).

Each `.npy` holds one pickled dict (what `numpy.load(path,
allow_pickle=True).item()` returns): `rotation['arr']` (T, J, 4) local
quaternions (x, y, z, w), `root_translation['arr']` (T, 3), `skeleton_tree`
(`node_names`, `parent_indices['arr']`, `local_translation['arr']` (J, 3)
metres, z up), `is_local` and `fps`.

Pickles can run code when loaded, so the file is never given to
`numpy.load(allow_pickle=True)`: `_MotionUnpickler` resolves only the
classes these files reference (numpy arrays and dtypes, OrderedDict) and
refuses everything else.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
from numpy._core import multiarray
from scipy.spatial.transform import Rotation

from lgd_jax.build.skeleton import MocapFileError, Motion

_ALLOWED_CLASSES = {
    ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
# AMP's world is z up (x forward, y left); ours is y up: -90 degrees about x
# takes z to y and y to -z, as for AMASS.
Z_UP_TO_Y_UP = Rotation.from_rotvec([-np.pi / 2, 0.0, 0.0]).as_matrix()


class _MotionUnpickler(pickle.Unpickler):
  """Resolves only `_ALLOWED_CLASSES`, so a pickle cannot run code."""

  def find_class(self, module, name):
    if (module, name) in _ALLOWED_CLASSES:
      return _ALLOWED_CLASSES[(module, name)]
    raise pickle.UnpicklingError(
        f"refusing to load {module}.{name}: not part of an AMP motion file")


def load_motion_dict(path) -> dict:
  """The dict pickled in an AMP `.npy`, unpickled with `_MotionUnpickler`.

  Raises:
    MocapFileError: for a file that is not a `.npy` of one pickled object,
      a damaged pickle, or one that references any other class.
  """
  path = Path(path)
  try:
    with open(path, "rb") as f:
      version = np.lib.format.read_magic(f)
      shape, _, dtype = (np.lib.format.read_array_header_1_0(f)
                         if version == (1, 0) else
                         np.lib.format.read_array_header_2_0(f))
      if shape != () or dtype != object:
        raise MocapFileError(path, f"expected one pickled object, found an "
                             f"array {shape} of {dtype}")
      data = _MotionUnpickler(f).load()
  except MocapFileError:
    raise
  except Exception as e:  # pickle and numpy raise many types for bad files
    raise MocapFileError(path, f"cannot read as an AMP motion ({e})"
                         ) from None
  data = data.item() if isinstance(data, np.ndarray) else data
  if not isinstance(data, dict):
    raise MocapFileError(path, f"expected a dict, found {type(data).__name__}")
  return data


def _array(path, data, keys, ndim, last):
  """data[keys[0]][keys[1]]... as float64, checked to have `ndim` axes and
  `last` numbers on the last one."""
  value = data
  for key in keys:
    if not isinstance(value, dict) or key not in value:
      raise MocapFileError(path, f"missing {'/'.join(keys)}")
    value = value[key]
  try:
    value = np.asarray(value, np.float64)
  except (TypeError, ValueError):
    raise MocapFileError(path, f"{'/'.join(keys)} is not numeric") from None
  if value.ndim != ndim or (last and value.shape[-1] != last):
    raise MocapFileError(path, f"{'/'.join(keys)} has shape {value.shape}")
  return value


def read_amp(path) -> Motion:
  """Reads an AMP motion file.

  Returns:
    A `Motion` in metres, turned to y up, joints named as in the file's
    `skeleton_tree`, at the file's `fps`.

  Raises:
    MocapFileError: for any problem `load_motion_dict` finds, missing keys,
      global rotations (`is_local` false), or shapes that disagree.
  """
  path = Path(path)
  data = load_motion_dict(path)
  rotations = _array(path, data, ("rotation", "arr"), 3, 4)
  root = _array(path, data, ("root_translation", "arr"), 2, 3)
  offsets = _array(path, data, ("skeleton_tree", "local_translation", "arr"),
                   2, 3)
  parents = _array(path, data, ("skeleton_tree", "parent_indices", "arr"),
                   1, 0).astype(int)
  fps = float(_array(path, data, ("fps",), 0, 0))
  names = data["skeleton_tree"].get("node_names")
  if data.get("is_local") is not True:
    raise MocapFileError(path, "rotations must be local (is_local True)")
  num_frames, num_joints = rotations.shape[:2]
  if not (isinstance(names, list) and len(names) == num_joints ==
          len(parents) == len(offsets) and len(root) == num_frames):
    raise MocapFileError(path, "node_names, parent_indices, "
                         "local_translation, rotation and root_translation "
                         "disagree in size")
  later = np.arange(1, num_joints)
  if parents[0] != -1 or np.any((parents[1:] < 0) | (parents[1:] >= later)):
    raise MocapFileError(path, "parents must come first")
  try:
    local = Rotation.from_quat(rotations.reshape(-1, 4)).as_matrix().reshape(
        num_frames, num_joints, 3, 3)
  except ValueError as e:  # scipy: a quaternion of zero norm
    raise MocapFileError(path, f"bad rotation values ({e})") from None
  # Only the root sees the world: turning it turns the whole skeleton.
  local[:, 0] = Z_UP_TO_Y_UP @ local[:, 0]
  translations = np.tile(offsets, (num_frames, 1, 1))
  translations[:, 0] = root @ Z_UP_TO_Y_UP.T
  return Motion(names=tuple(str(n) for n in names),
                parents=tuple(int(p) for p in parents),
                local_rotations=local, local_translations=translations,
                fps=fps, source=str(path))
