"""Where `lgd-fit` writes its outputs, and the npz schema: the arrays of a
person's or a track's file, written and read back here only.

  fits/{image}/person_{i:02d}.npz   independent images, one per person
  tracks/{video}/track_{i:03d}.npz  videos, one per tracked person
  tracks/{video}/video.json         written last: the video is complete
  meshes/...                        with `save_meshes`
  overlays/{image}.png              with `save_overlays`
  summary.json                      the run's figures, bad files, failures
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from lgd_jax import cameras
from lgd_jax.files import save_npz
from lgd_jax.losses import keypoint_errors
from lgd_jax.readers import KeypointSet

SUMMARY = "summary.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe(name: str) -> str:
  """A file-name-safe version of an image or video name."""
  return _UNSAFE.sub("_", name).strip("._") or "_"


def frame_keys(keypoints: KeypointSet) -> np.ndarray:
  """(N,) output name of each row's image: its name without suffix, folders
  kept ('..' dropped); `frame_{i:06d}` for arrays. When two images share a
  name (e.g. two annotation files), the file's position and the frame
  index are prefixed."""
  names = []
  for image, frame, source in zip(keypoints.image, keypoints.frame,
                                  keypoints.source):
    if image:
      parts = [safe(p) for p in Path(image).with_suffix("").parts
               if p not in ("..", ".", "/")]
      names.append("/".join(parts))
    else:
      names.append(f"{safe(Path(source).stem)}/frame_{frame:06d}")
  names = np.array(names, dtype=object)
  owners = {}
  for name, source, frame in zip(names, keypoints.source, keypoints.frame):
    owners.setdefault(name, set()).add((source, int(frame)))
  if any(len(o) > 1 for o in owners.values()):
    # Frames are numbered per file: the file's position keeps names apart.
    position = {source: i for i, source in
                enumerate(dict.fromkeys(keypoints.source))}
    names = np.array([f"{position[source]:04d}_{frame:06d}_{name}"
                      for name, source, frame in
                      zip(names, keypoints.source, keypoints.frame)],
                     dtype=object)
  return names


def person_path(output: Path, kind: str, key: str, person: int,
                suffix: str) -> Path:
  """An image's person's file: kind "fits" (suffix "npz") or "meshes"."""
  return output / kind / key / f"person_{person:02d}.{suffix}"


def track_path(output: Path, video: str, track: int) -> Path:
  return output / "tracks" / video / f"track_{track:03d}.npz"


def track_mesh_path(output: Path, video: str, track: int, key: str,
                    suffix: str) -> Path:
  """A track's mesh of one frame (the frame's image name)."""
  return (output / "meshes" / video / f"track_{track:03d}" /
          f"{Path(key).name}.{suffix}")


def video_marker(output: Path, video: str) -> Path:
  return output / "tracks" / video / "video.json"


def overlay_path(output: Path, key: str) -> Path:
  return output / "overlays" / f"{key}.png"


def common_arrays(keypoint_format: str, body_model: Optional[str],
                  perspective: bool) -> dict:
  """The npz fields shared by every row."""
  return dict(gender=np.array("neutral"),
              camera_type=np.array("perspective" if perspective
                                   else "weak_perspective"),
              keypoint_format=np.array(keypoint_format),
              body_model=np.array(str(body_model or "bundled")))


def result_arrays(result, keypoints: KeypointSet, rows,
                  perspective: bool) -> dict:
  """The npz fields of `rows` (leading axis n) from their `FitResult`.

  Failed fits get zero camera parameters (`fit` keeps its initial
  estimate's camera for them), like their zero pose and shape; the
  intrinsics they were given are kept."""
  xy, confidence = keypoints.xy[rows], keypoints.confidence[rows]
  ok = np.asarray(result.fit_ok)
  pixels, percent = keypoint_errors(np.asarray(result.keypoints_2d), xy,
                                    confidence)
  zero_failed = lambda a: np.where(ok[:, None], a, 0).astype(np.float32)
  arrays = dict(
      poses=result.pose, betas=result.betas, fit_ok=ok,
      error_px=np.where(ok, pixels, np.nan).astype(np.float32),
      error_pct=np.where(ok, percent, np.nan).astype(np.float32),
      keypoints=np.concatenate([xy, confidence[..., None]], -1),
      keypoints_2d=result.keypoints_2d, joints=result.joints,
      image=np.array([keypoints.image[r] for r in rows]),
      frame=keypoints.frame[rows], person=keypoints.person[rows],
      source=np.array([keypoints.source[r] for r in rows]))
  translation = zero_failed(result.camera.translation)
  if perspective:
    arrays.update(
        focal_length=result.camera.focal_length,
        principal_point=result.camera.principal_point,
        camera_translation=translation,
        # SMPL(poses, betas) + trans: the body in the camera's OpenGL frame
        # (x right, y up, looking down -z); camera_translation is OpenCV's.
        trans=translation * np.array([1, -1, -1], np.float32))
  else:
    arrays.update(camera_scale=np.where(ok, result.camera.scale, 0).astype(
        np.float32), camera_translation=translation)
  return {k: np.asarray(v) for k, v in arrays.items()}


def save_person(path: Path, common: dict, arrays: dict, i: int) -> None:
  """Writes row `i` of `result_arrays` as one person's npz."""
  save_npz(path, **common, **{k: v[i] for k, v in arrays.items()})


# A track file's value of the per-frame fields in frames without the track.
_ABSENT = dict(fit_ok=False, error_px=np.nan, error_pct=np.nan,
               keypoints=0.0, image="", source="", person=-1)


def save_track(path: Path, common: dict, arrays: dict, track: int,
               fps: float) -> np.ndarray:
  """Writes a track's rows (`result_arrays`, sorted by frame) as one npz
  sampled evenly in time, one entry per frame from the track's first to
  its last (see `_even_sampling` for the frames without it), so
  `mocap_framerate` holds; `detected` tells the frames it was found in.

  Returns:
    Each row's index in the file.
  """
  frame, ok = arrays["frame"], arrays["fit_ok"]
  frames, take, detected = _even_sampling(frame, ok)
  spread = {k: v[take] for k, v in arrays.items()}
  for name, absent in _ABSENT.items():
    shown = detected.reshape((-1,) + (1,) * (spread[name].ndim - 1))
    spread[name] = np.where(shown, spread[name], absent).astype(
        spread[name].dtype)
  spread["frame"] = frames
  betas = arrays["betas"]
  save_npz(path, **common, **{k: v for k, v in spread.items()
                              if k != "betas"},
           # AMASS keeps one shape per sequence: the mean of the fits.
           betas=betas[ok].mean(0) if ok.any() else np.zeros_like(betas[0]),
           betas_per_frame=spread["betas"], track=np.int32(track),
           mocap_framerate=np.float32(fps), detected=detected)
  return frame - frames[0]


def _even_sampling(frame, ok):
  """Spreads a track's rows (sorted by `frame`) over every frame from its
  first to its last: a frame without a row of the track (missed by the
  detector, or its file unreadable) shows the track's nearest fitted row
  (the earlier of two as near; any row when none was fitted, all zeros).

  Returns:
    (frames, the row each shows, whether the row is the frame's own).
  """
  frames = np.arange(frame[0], frame[-1] + 1, dtype=frame.dtype)
  own = np.searchsorted(frame, frames)
  detected = frame[own] == frames
  source = np.flatnonzero(ok) if ok.any() else np.arange(len(frame))
  after = np.minimum(np.searchsorted(frame[source], frames), len(source) - 1)
  before = np.maximum(after - 1, 0)
  nearer_before = (np.abs(frames - frame[source[before]]) <=
                   np.abs(frame[source[after]] - frames))
  nearest = source[np.where(nearer_before, before, after)]
  return frames, np.where(detected, own, nearest), detected


def fit_ok(path: Path) -> bool:
  """Whether a person's npz holds a successful fit."""
  with np.load(path) as data:
    return bool(data["fit_ok"])


class SavedFit(NamedTuple):
  """One person read back from an npz, as an overlay draws it."""

  fit_ok: bool
  pose: np.ndarray
  betas: np.ndarray
  camera: cameras.Camera
  error_pct: float


class FitReader:
  """Reads people back from npz files: a person's file, or one row of a
  track file (a video's track files stay loaded while its frames are read,
  which come in order)."""

  def __init__(self):
    self._tracks = {}

  def read(self, file: Path, index: Optional[int]) -> SavedFit:
    """Row `index` of a track file, or (None) a person's file."""
    data = self._load(file, index is not None)
    index = () if index is None else index
    return SavedFit(
        bool(data["fit_ok"][index]), data["poses"][index],
        data["betas_per_frame" if "betas_per_frame" in data
             else "betas"][index],
        _camera(data, index), float(data["error_pct"][index]))

  def _load(self, file: Path, is_track: bool) -> dict:
    if file in self._tracks:
      return self._tracks[file]
    with np.load(file) as loaded:
      data = {k: loaded[k] for k in loaded.files}
    if is_track:
      if self._tracks and next(iter(self._tracks)).parent != file.parent:
        self._tracks = {}  # another video
      self._tracks[file] = data
    return data


def _camera(data, index):
  """The camera of row `index` (or () for one person) of an output npz."""
  if str(data["camera_type"]) == "perspective":
    return cameras.Perspective(data["focal_length"][index],
                               data["principal_point"][index],
                               data["camera_translation"][index])
  return cameras.WeakPerspective(data["camera_scale"][index],
                                 data["camera_translation"][index])
