"""AMASS sequences, for users who have AMASS and the official SMPL.

An AMASS `.npz` (SMPL+H fits) holds `poses (T, 156)`: 3 global-orientation
numbers, 63 for body joints 1-21 and 90 for the two hands (15 joints each);
`betas (16,)` SMPL+H shape coefficients, `trans (T, 3)` metres,
`mocap_framerate` and `gender`. Joints 0-21 are the same in SMPL+H and SMPL,
so the SMPL pose is the first 66 numbers followed by zeros for SMPL's two
hand joints (22, 23), which SMPL+H replaces by fingers: (T, 72). The betas
belong to SMPL+H's shape space; they are returned as stored.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lgd_jax.build import pose_set, retarget
from lgd_jax.errors import FileProblemError

SMPLH_POSE_SIZE = 156
SMPL_BODY_SIZE = 66  # global orientation + joints 1-21
AMASS_NOTICE = (
    "Poses from AMASS (https://amass.is.tue.mpg.de); use is bound by the "
    "AMASS licence and its sub-datasets' licences. Cite: Mahmood et al., "
    "\"AMASS: Archive of Motion Capture as Surface Shapes\", ICCV 2019.")


class AmassFileError(FileProblemError):
  """An AMASS file is missing a key or has a wrong shape."""


@dataclasses.dataclass(frozen=True)
class AmassSequence:
  """One AMASS sequence in the SMPL layout.

  Attributes:
    poses: (T, 72) float32 axis-angle, global orientation first; hand
      joints 22, 23 are zero.
    betas: (S,) float32 shape coefficients as stored (SMPL+H's space).
    trans: (T, 3) float32 root translation, metres, turned to y up like the
      global orientation (AMASS files are z up).
    fps: the mocap frame rate.
    gender: "male", "female" or "neutral".
  """

  poses: np.ndarray
  betas: np.ndarray
  trans: np.ndarray
  fps: float
  gender: str


def load_amass(path) -> AmassSequence:
  """Reads an AMASS `.npz` sequence.

  Raises:
    AmassFileError: for a missing key, a wrong shape or non-finite values.
  """
  try:
    data = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise AmassFileError(path, f"not a readable .npz: {e}") from None
  with data:
    # Newer AMASS releases (SMPL-X) spell the frame rate mocap_frame_rate.
    rate_key = ("mocap_frame_rate" if "mocap_frame_rate" in data else
                "mocap_framerate")
    missing = [k for k in ("poses", "betas", "trans", rate_key,
                           "gender") if k not in data]
    if missing:
      raise AmassFileError(path, f"missing {', '.join(missing)}")
    poses, trans = data["poses"], data["trans"]
    if poses.ndim != 2 or poses.shape[1] != SMPLH_POSE_SIZE:
      raise AmassFileError(path, f"poses must be (T, {SMPLH_POSE_SIZE}) "
                           f"(SMPL+H), got {poses.shape}")
    if trans.shape != (poses.shape[0], 3):
      raise AmassFileError(path, f"trans must be ({poses.shape[0]}, 3), got "
                           f"{trans.shape}")
    if not np.all(np.isfinite(poses)):
      raise AmassFileError(path, "poses has non-finite values")
    gender = data["gender"]
    gender = (gender.tobytes().decode().strip("\x00")
              if gender.dtype.kind == "S" else str(gender))
    body = poses[:, :SMPL_BODY_SIZE].astype(np.float64)
    # AMASS is z up; the pose set (and the sampler's random headings about y)
    # are y up: turn the world by -90 degrees about x.
    z_up_to_y_up = Rotation.from_rotvec([-np.pi / 2, 0.0, 0.0])
    body[:, :3] = (z_up_to_y_up * Rotation.from_rotvec(body[:, :3])).as_rotvec()
    trans = trans @ z_up_to_y_up.as_matrix().T
    body = body.astype(np.float32)
    return AmassSequence(
        poses=np.concatenate([body, np.zeros((len(body), 6), np.float32)],
                             axis=1),
        betas=np.asarray(data["betas"], np.float32),
        trans=trans.astype(np.float32),
        fps=float(data[rate_key]), gender=gender)


def build_pose_set_from_amass(folder, output, model, *,
                              dedup_threshold: float = 0.03,
                              target_fps: float = 30.0,
                              validation=("position", 10, 3)) -> dict:
  """Builds a pose-set file (the layout `lgd_jax.load_pose_set` reads) from
  every `*.npz` under `folder` (searched recursively).

  Each file is one clip, named by its path under `folder`; its dataset is
  the first folder of that path (AMASS's sub-dataset), its content the
  folder holding it. Frames are subsampled to about `target_fps` and
  deduplicated per clip as the bundled set is. Clips whose 1-based position
  in sorted path order is `remainder` mod `modulus` form "val", the others
  "train".

  Args:
    folder: an AMASS folder.
    output: the `.npz` to write.
    model: the body model used to measure joint distances.
    dedup_threshold: metres (`lgd_jax.build.pose_set.deduplicate`).
    target_fps: frames per second kept.
    validation: ("position", modulus, remainder).

  Returns:
    A report: clips and kept frames per split, seconds.
  """
  start = time.time()
  folder = Path(folder)
  _, modulus, remainder = validation
  clips = []
  # AMASS keeps each subject's betas in a shape.npz beside the sequences.
  sequences = sorted(p for p in folder.rglob("*.npz") if p.name != "shape.npz")
  for position, path in enumerate(sequences, 1):
    sequence = load_amass(path)
    step = max(1, round(sequence.fps / target_fps))
    relative = path.relative_to(folder)
    clip = pose_set.Clip(
        name=str(relative.with_suffix("")), dataset=relative.parts[0]
        if len(relative.parts) > 1 else folder.name,
        content=relative.parent.name or folder.name, style="",
        number=position, fps=sequence.fps / step,
        split="val" if position % modulus == remainder else "train",
        poses=sequence.poses[::step].astype(np.float16))
    joints = retarget.posed_joints(model, clip.poses)
    clip.kept = pose_set.deduplicate(pose_set.canonical_joints(joints),
                                     dedup_threshold)
    clips.append(clip)
  if not clips:
    raise FileNotFoundError(f"no .npz files under {folder}")
  pose_set.write_pose_set(output, clips, dedup_threshold, AMASS_NOTICE)
  report = {}
  for clip in clips:
    entry = report.setdefault(clip.split, dict(clips=0, kept_frames=0))
    entry["clips"] += 1
    entry["kept_frames"] += int(len(clip.kept))
  return dict(splits=report, seconds=round(time.time() - start, 1))
