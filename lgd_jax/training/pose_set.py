"""The mocap pose set: SMPL-layout poses retargeted from real motion capture.

`lgd_jax/assets/pose_set.npz` holds deduplicated per-frame poses (72
axis-angle numbers, global orientation first, float16) of every clip, with
per-clip names, dataset, content, style and split. It is built by
`lgd_jax.build.pose_set.build_pose_set` (launcher:
`experiments/build_pose_set.py`) from the Bandai-Namco BVH and CMU ASF/AMC
files, and loaded by `load_pose_set`.
Bandai-Namco data and everything derived from it are CC BY-NC 4.0.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "cmu")
BUNDLED_POSE_SET = "pose_set.npz"
NOTICE = (
    "Poses retargeted to the SMPL layout from two motion-capture sources. "
    "Bandai-Namco-Research-Motiondataset (clips of datasets bandai-namco-1 "
    "and bandai-namco-2): CC BY-NC 4.0 "
    "(https://creativecommons.org/licenses/by-nc/4.0/); these poses are a "
    "derived work under the same licence. Cite: Kobayashi et al., \"Motion "
    "Capture Dataset for Practical Use of AI-based Motion Editing and "
    "Stylization\", arXiv 2306.08861. CMU clips (split cmu): The data used "
    "in this project was obtained from mocap.cs.cmu.edu. The database was "
    "created with funding from NSF EIA-0196217.")


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


def load_pose_set(split: str = "train", path=None) -> PoseSet:
  """Loads one split of the pose set.

  Args:
    split: "train" or "val" (Bandai-Namco, split by clip) or "cmu" (the CMU
      out-of-domain set).
    path: a pose-set `.npz`; None for the bundled one.

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
    return PoseSet(
        poses=f["poses"][in_split].astype(np.float32),
        clip_ids=f["clip_ids"][in_split].astype(np.int32),
        clip_names=tuple(f["clip_names"].tolist()),
        clip_datasets=tuple(f["clip_datasets"].tolist()),
        clip_contents=tuple(f["clip_contents"].tolist()),
        clip_styles=tuple(f["clip_styles"].tolist()),
        split=split, notice=str(f["notice"]))
