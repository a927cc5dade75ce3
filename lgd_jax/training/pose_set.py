"""The mocap pose set: SMPL-layout poses retargeted from real motion capture.

`lgd_jax/assets/pose_set.npz` holds deduplicated per-frame poses (72
axis-angle numbers, global orientation first, float16) of every clip, with
per-clip names, dataset, content, style and split. It is built by
`lgd_jax.build.pose_set.build_pose_set` (launcher:
`experiments/build_pose_set.py`) from Bandai-Namco, CMU, CMU-daz, DeepMimic,
AMP and HDM05 mocap, and loaded by `load_pose_set`.
Bandai-Namco data and everything derived from it (this file, and anything
trained on it) are CC BY-NC 4.0; the hdm05 split is CC BY-SA 3.0 and for
evaluation only.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "cmu", "hdm05")
# The datasets the bundled network (lgd_default.npz) was trained on: their
# val clips are the held-out poses its figures were measured on.
BANDAI_NAMCO = ("bandai-namco-1", "bandai-namco-2")
BUNDLED_POSE_SET = "pose_set.npz"
NOTICE = (
    "Poses retargeted to the SMPL layout from six motion-capture sources. "
    "The file as a whole, and anything trained on it, is CC BY-NC 4.0 "
    "because of its Bandai-Namco poses; split hdm05 is also CC BY-SA 3.0 "
    "(evaluation only). "
    "Bandai-Namco-Research-Motiondataset (datasets bandai-namco-1 and "
    "bandai-namco-2, splits train and val): CC BY-NC 4.0 "
    "(https://creativecommons.org/licenses/by-nc/4.0/); these poses are a "
    "derived work under the same licence. Cite: Kobayashi et al., \"Motion "
    "Capture Dataset for Practical Use of AI-based Motion Editing and "
    "Stylization\", arXiv 2306.08861. "
    "CMU Graphics Lab Motion Capture Database (dataset cmu, split cmu: "
    "subjects 01 and 02; dataset cmu-daz, splits train and val: CMU clips "
    "in BVH from github.com/Przestr/motion-capture and "
    "github.com/papagina/Auto_Conditioned_RNN_motion): The data used in this "
    "project was obtained from mocap.cs.cmu.edu. The database was created "
    "with funding from NSF EIA-0196217. "
    "DeepMimic (dataset deepmimic, splits train and val): motion clips of "
    "github.com/xbpeng/DeepMimic, MIT License, Copyright (c) 2018 Xue Bin "
    "Peng. "
    "AMP (dataset amp-cmu, splits train and val): motion clips of "
    "github.com/NVIDIA-Omniverse/IsaacGymEnvs (assets/amp/motions), BSD "
    "3-Clause License, Copyright (c) 2018-2023, NVIDIA Corporation; made "
    "from CMU trials: The data used in this project was obtained from "
    "mocap.cs.cmu.edu. The database was created with funding from NSF "
    "EIA-0196217. "
    "HDM05 (dataset hdm05, split hdm05 only, never trained on): M. Mueller, "
    "T. Roeder, M. Clausen, B. Eberhardt, B. Krueger, A. Weber, "
    "\"Documentation Mocap Database HDM05\", Technical Report CG-2007-2, "
    "Universitaet Bonn, 2007; CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/); these poses are a "
    "derived work under the same licence. Changes to every source: "
    "retargeted to the SMPL layout, deduplicated, stored as float16.")


@dataclasses.dataclass(frozen=True)
class PoseSet:
  """One split of the pose set.

  Attributes:
    poses: (N, 72) float32 axis-angle poses in radians, global orientation
      first (the mocap's own facing; y up).
    clip_ids: (N,) int32 index of each pose's clip in `clip_names`.
    clip_names: names of all clips of the file (all splits).
    clip_datasets, clip_contents, clip_styles: per clip, as `clip_names`.
    split: the split loaded.
    notice: licence and credits, to be kept with anything derived.
  """

  poses: np.ndarray
  clip_ids: np.ndarray
  clip_names: tuple[str, ...]
  clip_datasets: tuple[str, ...]
  clip_contents: tuple[str, ...]
  clip_styles: tuple[str, ...]
  split: str
  notice: str


def bundled_pose_set_path() -> Path:
  return Path(str(importlib.resources.files("lgd_jax") / "assets" /
                  BUNDLED_POSE_SET))


def load_pose_set(split: str = "train", path=None,
                  datasets=None) -> PoseSet:
  """Loads one split of the pose set.

  Args:
    split: "train" or "val" (Bandai-Namco, CMU-daz, DeepMimic and AMP, split
      by clip), "cmu" (CMU subjects 01-02) or "hdm05" (HDM05), the
      out-of-domain sets no network is trained on.
    path: a pose-set `.npz`; None for the bundled one.
    datasets: only the poses of these datasets (e.g. `BANDAI_NAMCO`, the
      val clips the bundled network was measured on); None for all.

  Returns:
    A `PoseSet`.

  Raises:
    ValueError: for an unknown split.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown pose-set split {split!r}; choose one of "
                     f"{', '.join(SPLITS)}")
  with np.load(path or bundled_pose_set_path(), allow_pickle=False) as f:
    in_split = f["clip_splits"][f["clip_ids"]] == split
    if datasets is not None:
      in_split &= np.isin(f["clip_datasets"][f["clip_ids"]], list(datasets))
    return PoseSet(
        poses=f["poses"][in_split].astype(np.float32),
        clip_ids=f["clip_ids"][in_split].astype(np.int32),
        clip_names=tuple(f["clip_names"].tolist()),
        clip_datasets=tuple(f["clip_datasets"].tolist()),
        clip_contents=tuple(f["clip_contents"].tolist()),
        clip_styles=tuple(f["clip_styles"].tolist()),
        split=split, notice=str(f["notice"]))


# A body counts as tilted when its up axis is this far from the vertical:
# bent over, kneeling, sitting or lying on the floor, upside down.
TILTED_DEG = 30.0


def _up_axis_tilt_deg(axis_angle) -> np.ndarray:
  """(N, 3) axis-angle rotations -> (N,) degrees between +y and the rotation
  applied to +y.

  For an axis-angle (k, theta), the y component of R @ y is
  cos(theta) + (1 - cos(theta)) * k_y**2: no matrix needed.
  """
  axis_angle = np.asarray(axis_angle, np.float64)
  theta = np.linalg.norm(axis_angle, axis=-1)
  k_y = np.divide(axis_angle[:, 1], theta, out=np.zeros_like(theta),
                  where=theta > 0)
  cos_tilt = np.cos(theta) + (1.0 - np.cos(theta)) * k_y**2
  return np.degrees(np.arccos(np.clip(cos_tilt, -1.0, 1.0)))


def pelvis_tilt_deg(poses) -> np.ndarray:
  """(N, 72) -> (N,) degrees between the pelvis's up axis (the global
  orientation applied to +y, the body's up in the rest pose) and world up
  (the mocap's y)."""
  return _up_axis_tilt_deg(np.asarray(poses)[:, :3])


# A hip counts as bent when its thigh is this far off its rest direction in
# the pelvis's frame: sitting, squatting, kneeling, a knee raised high.
BENT_HIP_DEG = 60.0


def hip_bend_deg(poses) -> np.ndarray:
  """(N, 72) -> (N,) the larger of the two hips' angles between the thigh's
  rest axis (the pelvis's -y) and that axis turned by the hip's own
  rotation: flexion or abduction, whatever the pelvis's orientation."""
  poses = np.asarray(poses)
  return np.maximum(_up_axis_tilt_deg(poses[:, 3:6]),
                    _up_axis_tilt_deg(poses[:, 6:9]))


def oversample(poses: np.ndarray, groups) -> np.ndarray:
  """`poses` with each group's poses repeated a whole number of times so
  that each group makes up about its share of the result: the mocap is
  mostly upright and straight-legged (the README's Coverage table), and a
  network that rarely sees a body on the floor or sitting fits it
  standing.

  Args:
    poses: (N, 72).
    groups: (selected, share) pairs, `selected` an (N,) bool mask; the
      masks must not overlap. A group with share 0 is left as it is.

  Returns:
    The poses of no group, then each group's repeated; `poses` itself
    when no group needs a repeat (its share held already, or empty).
  """
  for _, share in groups:
    if not 0.0 <= share < 1.0:
      raise ValueError(f"an oversampled share must be in [0, 1), got {share}")
  groups = [(np.asarray(selected, bool), share) for selected, share in groups
            if share and np.any(selected)]
  total_share = sum(share for _, share in groups)
  if total_share >= 1.0:
    raise ValueError(f"the oversampled shares add up to {total_share}, not "
                     "under 1")
  in_any = np.zeros(len(poses), bool)
  for selected, _ in groups:
    if np.any(in_any & selected):
      raise ValueError("oversampled groups overlap")
    in_any |= selected
  rest = len(poses) - int(in_any.sum())
  repeats = [max(1, int(round(share * rest / ((1.0 - total_share) *
                                              int(selected.sum())))))
             for selected, share in groups]
  if all(r == 1 for r in repeats):
    return poses
  return np.concatenate([poses[~in_any]] + [
      np.repeat(poses[selected], r, axis=0)
      for (selected, _), r in zip(groups, repeats)])
