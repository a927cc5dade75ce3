"""Synthetic multi-person videos from held-out mocap clips.

Experiment inputs, not a runtime need: the clips are read from the mocap
folders (`held_out_clips`, optionally cached in one .npz), then
`make_video` turns them into what a 2D detector would report on a video:
per person a segment of a clip at its full frame rate (30 fps), random
betas and heading, people side by side in front of one camera, each frame's
keypoints projected in a given format, with per-frame detector noise and
dropped points, and the ground truth that produced them.

Per frame the cost is one batched keypoint regression (the fast keypoint
path) and a few NumPy draws, so tens of thousands of frames take seconds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import jax
import numpy as np
import tqdm

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import formats as kp
from lgd_jax.build import pose_set
from lgd_jax.files import atomic_path
from lgd_jax.readers import write_openpose
from lgd_jax.body import rotations
from lgd_jax.weights import Pretrained, load_pretrained


class MotionClip(NamedTuple):
  """A retargeted clip at its full frame rate.

  Attributes:
    name: the source clip's name.
    poses: (T, 72) float32 SMPL-layout axis-angle, global orientation first
      (mocap world: y up).
    root: (T, 3) metres, the source skeleton's root position (y up).
  """

  name: str
  poses: np.ndarray
  root: np.ndarray


def held_out_clips(mocap_root, model, *, validation, cmu_step: int = 4,
                   splits: Sequence[str] = ("val", "cmu"),
                   cache=None) -> dict[str, list[MotionClip]]:
  """Held-out clips at full rate, retargeted as the pose set's are.

  Reads every clip under `mocap_root` (calibration uses every clip of a
  skeleton, so the poses equal the pose set's before its float16 rounding
  and deduplication; ~1 min on a 2-core CPU) and keeps the `splits`. With
  `cache`, the clips are read from that .npz when it was written for the
  same split rule, CMU step and body model rest joints, else written to it.

  Args:
    mocap_root: the folder of bandai-namco-1/, bandai-namco-2/ and cmu/.
    model: the body model (its rest joints calibrate the retargeting).
    validation: the split rule (`configs/build_pose_set.py`).
    cmu_step: CMU frame subsampling (4: 120 -> 30 fps).
    splits: of `pose_set.SPLITS`.
    cache: optional .npz path.

  Returns:
    split -> its clips, sorted by name.
  """
  rest = np.asarray(model.joint_template, np.float32)
  key = json.dumps([{k: list(v) for k, v in sorted(validation.items())},
                    cmu_step, hashlib.sha1(rest.tobytes()).hexdigest()])
  if cache is not None and Path(cache).is_file():
    with np.load(cache, allow_pickle=False) as f:
      fresh = "key" in f.files and str(f["key"]) == key and all(
          f"{split}/names" in f.files for split in splits)
    if fresh:
      return _read_cache(cache, splits)
  clips = pose_set.read_all(mocap_root, validation, cmu_step)
  pose_set.retarget_clips(clips, model, validation)
  out = {split: [MotionClip(c.name, c.poses.astype(np.float32),
                            c.world.positions[:, c.world.parents.index(-1)]
                            .astype(np.float32))
                 for c in sorted(clips, key=lambda c: c.name)
                 if c.split == split]
         for split in splits}
  if cache is not None:
    arrays = {"key": np.array(key)}
    for split, members in out.items():
      arrays[f"{split}/names"] = np.array([c.name for c in members])
      for i, c in enumerate(members):
        arrays[f"{split}/{i}/poses"] = c.poses
        arrays[f"{split}/{i}/root"] = c.root
    with atomic_path(cache) as tmp:
      with open(tmp, "wb") as f:
        np.savez(f, **arrays)
  return out


def _read_cache(cache, splits) -> dict[str, list[MotionClip]]:
  with np.load(cache, allow_pickle=False) as f:
    out = {}
    for split in splits:
      names = f[f"{split}/names"].tolist()
      out[split] = [MotionClip(name, f[f"{split}/{i}/poses"],
                               f[f"{split}/{i}/root"])
                    for i, name in enumerate(names)]
  return out


class Video(NamedTuple):
  """A synthetic video of P people over T frames.

  Attributes:
    xy: (T, P, K, 2) float32 detected keypoints, pixels; 0 where dropped.
    confidence: (T, P, K) float32 detector scores in [0.3, 1] for reported
      points (they carry no information), 0 for dropped ones.
    pose: (T, P, 72) true pose, global orientation in the camera's view
      (what a fit recovers).
    betas: (P, S) true shapes.
    joints: (T, P, 24, 3) true SMPL joints as `FitResult.joints` reports
      them (regressed from the mesh, metres, body frame).
    camera: the true camera, leading (T, P): a `Perspective` (translation:
      the body origin in camera coordinates, metres) or a `WeakPerspective`.
    intrinsics: `Perspective` (focal length, principal point; zero
      translation), leading (P,): what a user would pass to `fit`.
    keypoint_format: the keypoints' format.
    image_size: (width, height) pixels.
    clips: P clip names; starts: (P,) the segments' first frames.
  """

  xy: np.ndarray
  confidence: np.ndarray
  pose: np.ndarray
  betas: np.ndarray
  joints: np.ndarray
  camera: object
  intrinsics: cameras.Perspective
  keypoint_format: str
  image_size: tuple[int, int]
  clips: tuple[str, ...]
  starts: np.ndarray


def make_video(clips: Sequence[MotionClip], seed: int, *, num_frames: int,
               num_people: int = 2, keypoint_format: str = "openpose25",
               image_size: tuple[int, int] = (1920, 1080),
               camera: str = "perspective",
               depth: tuple[float, float] = (4.0, 7.0),
               spacing: float = 1.0, pitch_deg: float = 10.0,
               roll_deg: float = 5.0, noise: float = 0.01,
               keep_prob: float = 0.8, miss_prob: float = 0.0,
               max_betas: float = 2.5,
               params: Optional[Pretrained] = None) -> Video:
  """One synthetic video; the same arguments give the same video.

  Each person plays a random segment of a random clip at least
  `num_frames` long, with random betas (`sample_betas`) and a random
  heading (any direction). Horizontal root motion is taken out (the camera
  pans with each person, who would otherwise walk out of the picture);
  vertical motion (jumps, crouches) is kept. People stand `spacing` metres
  apart, side by side, each at its own depth, in front of one camera
  tilted by a random pitch and roll (normal, std `pitch_deg`, `roll_deg`)
  with the focal length `cameras.default_focal_length` of the image.
  Each frame, every point of the format is reported with probability
  `keep_prob`, with Gaussian noise of std `noise` times the person's height
  in the image (the evaluation's "realistic" profile: 0.01 and 0.8), and a
  whole person is missed with probability `miss_prob`.

  Args:
    clips: `MotionClip`s to draw from (e.g. `held_out_clips(...)["val"]`).
    seed: random seed.
    num_frames: T.
    num_people: P.
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    image_size: (width, height) pixels.
    camera: "perspective", or "weak" (each person scaled by focal length /
      depth, no foreshortening).
    depth: (min, max) metres from the camera to each body origin.
    spacing: metres between neighbours' body origins.
    pitch_deg, roll_deg: std of the camera's tilt, degrees.
    noise: 2D noise std, fraction of the person's height in the image.
    keep_prob: probability that a point is reported.
    miss_prob: probability that a person is missing in a frame.
    max_betas: betas are clipped to this many standard deviations.
    params: whose body model to use; default: the bundled weights'.

  Returns:
    A `Video`.

  Raises:
    ValueError: when no clip has `num_frames` frames.
  """
  long_enough = [c for c in clips if len(c.poses) >= num_frames]
  if not long_enough:
    raise ValueError(f"no clip has {num_frames} frames (the longest has "
                     f"{max((len(c.poses) for c in clips), default=0)})")
  rng = np.random.default_rng(seed)
  chosen = [long_enough[i] for i in rng.integers(len(long_enough),
                                                 size=num_people)]
  starts = np.array([rng.integers(len(c.poses) - num_frames + 1)
                     for c in chosen])
  pose = np.stack([c.poses[s:s + num_frames] for c, s in zip(chosen, starts)],
                  1).astype(np.float64)  # (T, P, 72)
  rise = np.stack([c.root[s:s + num_frames, 1] for c, s in
                   zip(chosen, starts)], 1)  # (T, P) metres up
  rise = rise - rise.mean(0)
  num_betas = (params if params is not None
               else load_pretrained()).config.num_betas
  betas = np.clip(rng.standard_normal((num_people, num_betas)), -max_betas,
                  max_betas)

  # The view: a heading per person, one camera tilt for everybody.
  yaw = rng.uniform(-np.pi, np.pi, num_people)
  pitch, roll = np.deg2rad([pitch_deg, roll_deg]) * rng.standard_normal(2)
  view = (_rotation(pitch, 0) @ _rotation(roll, 2))[None] @ np.stack(
      [_rotation(y, 1) for y in yaw])  # (P, 3, 3)
  global_rot = view[None] @ np.asarray(rotations.axis_angle_to_matrix(
      pose[..., :3].astype(np.float32)), np.float64)
  pose[..., :3] = np.asarray(rotations.matrix_to_axis_angle(
      global_rot.astype(np.float32)))
  pose = pose.astype(np.float32)

  width, height = image_size
  focal = float(cameras.default_focal_length(width, height))
  principal = np.array([width / 2, height / 2], np.float32)
  distance = rng.uniform(depth[0], depth[1], num_people)
  lateral = (np.arange(num_people) - (num_people - 1) / 2) * spacing
  # Camera axes: y down, so rising lowers y.
  translation = np.stack(np.broadcast_arrays(
      lateral[None], -rise, distance[None]), -1).astype(np.float32)
  intrinsics = cameras.Perspective(
      np.full((num_people, 2), focal, np.float32),
      np.broadcast_to(principal, (num_people, 2)).copy(),
      np.zeros((num_people, 3), np.float32))
  if camera == "perspective":
    true_camera = cameras.Perspective(
        np.broadcast_to(intrinsics.focal_length, translation.shape[:2] + (2,)),
        np.broadcast_to(principal, translation.shape[:2] + (2,)), translation)
  elif camera == "weak":
    scale = focal / translation[..., 2]
    true_camera = cameras.WeakPerspective(
        scale.astype(np.float32),
        (principal + translation[..., :2] * scale[..., None]).astype(
            np.float32))
  else:
    raise ValueError(f"camera must be 'perspective' or 'weak', got "
                     f"{camera!r}")
  joints, clean = jax.device_get(fitting.fitted_points(
      pose, np.broadcast_to(betas, pose.shape[:2] + (num_betas,)),
      true_camera, keypoint_format=keypoint_format, params=params))

  num_points = kp.get_format(keypoint_format).num_keypoints
  shape = (num_frames, num_people, num_points)
  person_height = np.ptp(clean[..., 1], axis=-1)  # (T, P) pixels
  observed = clean + (noise * person_height)[..., None, None] * (
      rng.standard_normal(shape + (2,)))
  reported = rng.random(shape) < keep_prob
  reported &= (rng.random(shape[:2]) >= miss_prob)[..., None]
  confidence = np.where(reported, rng.uniform(0.3, 1.0, shape), 0.0)
  return Video(
      xy=np.where(reported[..., None], observed, 0.0).astype(np.float32),
      confidence=confidence.astype(np.float32), pose=pose,
      betas=betas.astype(np.float32), joints=np.asarray(joints, np.float32),
      camera=true_camera, intrinsics=intrinsics,
      keypoint_format=keypoint_format, image_size=(width, height),
      clips=tuple(c.name for c in chosen), starts=starts)


def _rotation(angle: float, axis: int) -> np.ndarray:
  """(3, 3) rotation by `angle` radians about coordinate axis `axis`."""
  c, s = np.cos(angle), np.sin(angle)
  i, j = (axis + 1) % 3, (axis + 2) % 3
  m = np.eye(3)
  m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
  return m


def write_openpose_folder(folder, clips: Sequence[MotionClip], *,
                          num_files: int, num_people: int,
                          segment: int = 250, seed: int = 0,
                          progress: bool = True) -> int:
  """Writes a long synthetic video as OpenPose JSON, one file per frame
  (`{i:012d}_keypoints.json`, BODY_25), as OpenPose writes a video's.

  The video is a run of `make_video` segments of `segment` frames (clips are
  shorter than a long video), each with `num_people` new people in the same
  places, so a tracker sees them continue. Files that exist are kept, so an
  interrupted run can be resumed.

  Args:
    folder: output folder.
    clips: `MotionClip`s to draw from.
    num_files: frames to write.
    num_people: people per frame.
    segment: frames per `make_video` segment.
    seed: random seed (segment i uses seed + i).
    progress: show a progress bar.

  Returns:
    The number of people written.
  """
  folder = Path(folder)
  people = 0
  with tqdm.tqdm(total=num_files, unit="files", disable=not progress) as bar:
    for first in range(0, num_files, segment):
      count = min(segment, num_files - first)
      paths = [folder / f"{first + t:012d}_keypoints.json"
               for t in range(count)]
      if all(p.exists() for p in paths):
        bar.update(count)
        continue
      video = make_video(clips, seed + first // segment, num_frames=count,
                         num_people=num_people, keypoint_format="openpose25",
                         spacing=0.5)
      for t, path in enumerate(paths):
        write_openpose(path, video.xy[t], video.confidence[t])
        people += num_people
      bar.update(count)
  return people
