"""Keypoint files in, SMPL output files out: the engine of `lgd-fit`.

`run` reads a keypoint file or folder (`lgd_jax.read_keypoints`), fits every
person with `lgd_jax.fit` in fixed-size chunks, and writes per person (or per
tracked person of a video) an `.npz` with SMPL/AMASS-style keys, optional
meshes and overlay pictures, and a summary JSON.

Guarantees:
- Every output is written atomically (temporary file, then rename), so a
  killed run leaves no partial file, and a rerun skips the outputs that
  exist: it resumes.
- Chunks are fixed by the input's row order and the chunk size, and the npz
  writer is byte-reproducible, so a resumed run writes exactly the bytes of
  an uninterrupted one.
- A bad input file is reported (summary and warning) and the other files are
  processed; a person who cannot be fitted gets an output with
  `fit_ok = False` and zero parameters, never NaN.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import re
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import tqdm

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import sequences
from lgd_jax.body import smpl_forward
from lgd_jax.tool import images as image_io
from lgd_jax.tool import meshes as mesh_io
from lgd_jax.tool import render
from lgd_jax.files import atomic_path, remove_partial_files, save_npz
from lgd_jax.readers import KeypointSet, read_keypoints
from lgd_jax.losses import keypoint_errors
from lgd_jax.body.cache import load_body
from lgd_jax.weights import load_pretrained

CAMERAS = ("weak", "perspective")
SEQUENCE_MODES = ("auto", "on", "off")
MESH_FORMATS = ("obj", "ply")
SUMMARY = "summary.json"
_MESH_CHUNK = 64  # people per body-model call when writing meshes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class Options:
  """What to fit and what to write; `lgd-fit`'s flags.

  Attributes:
    input: an OpenPose JSON file or folder, a COCO-style or MPII annotation
      file, or a .npy/.npz array (see `lgd_jax.read_keypoints`).
    output: the output folder.
    images: folder of the photos, for overlays and image sizes; default:
      the input's folder.
    keypoint_format: a `lgd_jax.FORMATS` name; default: detected.
    camera: "weak" (weak perspective, the paper's) or "perspective" (known
      intrinsics: `focal`, the principal point at the image centre).
    focal: focal length in pixels; implies "perspective"; default for
      "perspective": the image diagonal (`cameras.default_focal_length`).
    image_size: (width, height) for every image, when neither the input
      nor the images give it (perspective only).
    sequence: "on": the input is a video (tracks, one npz per track);
      "off": independent images; "auto": "on" for OpenPose folders and for
      files with track ids (PoseTrack), else "off".
    warm_start: start each video frame's fit from the track's previous fit
      (off by default: it hurts the bundled network, see the README).
    smooth: Gaussian smoothing of each track's parameters over time, sigma
      in frames; 0: off.
    fps: frame rate written to video outputs (`mocap_framerate`).
    save_meshes: "" (none), "obj" or "ply": one mesh per fitted person.
    save_overlays: write a picture per image found: meshes over the photo,
      keypoints and skeletons, each person's 2D error.
    chunk_size: people per compiled fit call.
    min_confidence: keypoints at or below it count as missing.
    weights: a `save_pretrained` file; default: the bundled network.
    progress: show progress bars.
  """

  input: str
  output: str
  images: Optional[str] = None
  keypoint_format: Optional[str] = None
  camera: str = "weak"
  focal: Optional[float] = None
  image_size: Optional[tuple[int, int]] = None
  sequence: str = "auto"
  # Chosen by experiments/reports/evaluate_sequences.json: chained warm
  # starts drift with the bundled network; sigma 2 gave the best accuracy.
  warm_start: bool = False
  smooth: float = 2.0
  fps: float = 30.0
  save_meshes: str = ""
  save_overlays: bool = False
  chunk_size: int = 1024
  min_confidence: float = 0.0
  weights: Optional[str] = None
  progress: bool = True

  def __post_init__(self):
    checks = [
        (self.camera in CAMERAS, f"camera must be one of {CAMERAS}"),
        (self.sequence in SEQUENCE_MODES,
         f"sequence must be one of {SEQUENCE_MODES}"),
        (self.save_meshes in ("",) + MESH_FORMATS,
         f"save_meshes must be '' or one of {MESH_FORMATS}"),
        (self.chunk_size >= 1, "chunk_size must be at least 1"),
        (self.focal is None or (np.isfinite(self.focal) and self.focal > 0),
         "focal must be a positive number of pixels"),
        (self.image_size is None or (
            len(self.image_size) == 2 and min(self.image_size) > 0),
         "image_size must be two positive numbers (width, height)"),
        (np.isfinite(self.smooth) and self.smooth >= 0,
         "smooth must be >= 0 frames"),
        (np.isfinite(self.fps) and self.fps > 0, "fps must be positive"),
        (0 <= self.min_confidence < 1, "min_confidence must be in [0, 1)"),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(message)

  @property
  def perspective(self) -> bool:
    return self.camera == "perspective" or self.focal is not None


@dataclasses.dataclass
class _Progress:
  """What a run did, for the summary."""

  people: int = 0
  fitted: int = 0
  failed: int = 0
  skipped: int = 0
  fit_seconds: float = 0.0


def run(options: Options) -> dict:
  """Fits everyone in `options.input` and writes the outputs.

  Output folder layout (README, "`lgd-fit`: keypoint files in, SMPL files
  out"):
    fits/{image}/person_{i:02d}.npz   independent images, one per person
    tracks/{video}/track_{i:03d}.npz  videos, one per tracked person
    meshes/...                        with `save_meshes`
    overlays/{image}.png              with `save_overlays`
    run.json                          the input and options the outputs fit
    summary.json                      the run's figures, bad files, failures

  Returns:
    The summary (also written to `summary.json`).

  Raises:
    KeypointFileError: when no input file could be read.
    ValueError: a bad option, or a perspective camera without image sizes.
  """
  start = time.perf_counter()
  output = Path(options.output)
  if output.is_dir():  # a killed run's temporary files
    remove_partial_files(output)
  pretrained = load_pretrained(options.weights)
  keypoints = read_keypoints(options.input, options.keypoint_format,
                             errors="report")
  for file, problem in keypoints.errors:
    logging.warning("skipped %s: %s", file, problem)
  read_seconds = time.perf_counter() - start
  # Points at or below min_confidence are missing, for the fits and for
  # their 2D errors alike.
  keypoints = dataclasses.replace(keypoints, confidence=np.where(
      keypoints.confidence > options.min_confidence, keypoints.confidence,
      0.0).astype(np.float32))
  image_folder = Path(options.images) if options.images else (
      Path(options.input) if Path(options.input).is_dir() else
      Path(options.input).parent)
  keys = _frame_keys(keypoints)
  camera = (_intrinsics(options, keypoints, keys, image_folder)
            if options.perspective else None)
  groups = _sequence_groups(options, keypoints)
  _check_manifest(options, keypoints, output)
  progress = _Progress(people=len(keypoints))
  # Videos count frames: a long one is fitted in one go, frame by frame.
  with tqdm.tqdm(total=len(keypoints) if groups is None else sum(
      len(np.unique(keypoints.frame[rows])) for rows in groups.values()),
                 unit="people" if groups is None else "frames",
                 desc="fitting", disable=not options.progress) as bar:
    if groups is None:
      locators = _fit_images(options, pretrained, keypoints, keys, camera,
                             output, progress, bar)
    else:
      locators = _fit_videos(options, pretrained, keypoints, keys, camera,
                             groups, output, progress, bar)
  overlays = (_save_overlays(options, pretrained, keypoints, keys, locators,
                             image_folder, output)
              if options.save_overlays else [])
  seconds = time.perf_counter() - start
  processed = progress.people - progress.skipped
  summary = dict(
      input=str(options.input), output=str(output),
      keypoint_format=keypoints.keypoint_format,
      mode="video" if groups is not None else "images",
      videos=None if groups is None else len(groups),
      camera="perspective" if options.perspective else "weak_perspective",
      warm_start=options.warm_start if groups is not None else None,
      smooth=options.smooth if groups is not None else None,
      files_with_errors=[dict(file=f, problem=p) for f, p in keypoints.errors],
      people=progress.people, people_fitted=progress.fitted,
      people_not_fitted=progress.failed,
      people_already_done=progress.skipped,
      overlays=len(overlays), read_seconds=round(read_seconds, 3),
      fit_seconds=round(progress.fit_seconds, 3),
      total_seconds=round(seconds, 3),
      people_per_second=round(processed / seconds, 1) if processed else None,
      options={k: v for k, v in dataclasses.asdict(options).items()
               if k != "progress"})
  with atomic_path(output / SUMMARY) as tmp:
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
  return summary


# Options that change the fits: a rerun into a folder must use the same.
_RESULT_OPTIONS = ("keypoint_format", "camera", "focal", "image_size",
                   "sequence", "warm_start", "smooth", "fps", "chunk_size",
                   "min_confidence")
MANIFEST = "run.json"


def _check_manifest(options: Options, keypoints: KeypointSet,
                    output: Path) -> None:
  """Writes `run.json` (what the outputs are fits of) on a first run; on a
  rerun, refuses when the input or the options that change results differ,
  since existing outputs are kept."""
  weights = Path(options.weights) if options.weights else None
  manifest = dict(
      input=str(Path(options.input).resolve()), rows=len(keypoints),
      keypoint_format=keypoints.keypoint_format,
      weights=None if weights is None else dict(
          path=str(weights.resolve()), bytes=weights.stat().st_size),
      options={k: getattr(options, k) for k in _RESULT_OPTIONS})
  manifest = json.loads(json.dumps(manifest))  # tuples as JSON lists
  path = output / MANIFEST
  if path.exists():
    before = json.loads(path.read_text())
    if before != manifest:
      changed = sorted(
          [k for k in manifest if k != "options" and before.get(k) !=
           manifest[k]] +
          [k for k in _RESULT_OPTIONS if before.get("options", {}).get(k) !=
           manifest["options"][k]])
      raise ValueError(
          f"{output} holds the outputs of another run ({', '.join(changed)} "
          f"differ; see {path}); outputs there are kept, not redone: use a "
          "fresh --output, or delete the folder")
    return
  with atomic_path(path) as tmp:
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")


def _safe(name: str) -> str:
  """A file-name-safe version of an image or video name."""
  return _UNSAFE.sub("_", name).strip("._") or "_"


def _frame_keys(keypoints: KeypointSet) -> np.ndarray:
  """(N,) output name of each row's image: its name without suffix, folders
  kept ('..' dropped); `frame_{i:06d}` for arrays. When two images share a
  name (e.g. two annotation files), the file's position and the frame
  index are prefixed."""
  names = []
  for image, frame, source in zip(keypoints.image, keypoints.frame,
                                  keypoints.source):
    if image:
      parts = [_safe(p) for p in Path(image).with_suffix("").parts
               if p not in ("..", ".", "/")]
      names.append("/".join(parts))
    else:
      names.append(f"{_safe(Path(source).stem)}/frame_{frame:06d}")
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


def _intrinsics(options: Options, keypoints: KeypointSet, keys,
                image_folder: Path) -> cameras.Perspective:
  """Per row (N,) intrinsics: `focal` (default: the image diagonal) and the
  principal point at the image centre. Sizes come from `image_size`, else
  the input file, else the image file."""
  sizes = np.asarray(keypoints.image_size, np.float64).copy()
  if options.image_size is not None:
    sizes[:] = options.image_size
  missing = np.flatnonzero((sizes <= 0).any(-1))
  looked_up = {}
  for row in missing:
    name = keypoints.image[row]
    if name not in looked_up:
      path = image_io.find_image(image_folder, name) if name else None
      looked_up[name] = image_io.image_size(path) if path else None
    if looked_up[name] is None:
      raise ValueError(
          f"a perspective camera needs the image size, and it is unknown for "
          f"{keys[row]!r} (from {keypoints.source[row]}): pass --images (a "
          "folder with the photos) or --image_size WIDTH,HEIGHT")
    sizes[row] = looked_up[name]
  return jax.tree.map(np.asarray, cameras.intrinsics_camera(
      sizes[:, 0], sizes[:, 1], np.zeros((len(sizes), 3)),
      focal_length=None if options.focal is None else np.full(
          (len(sizes), 2), options.focal)))


def _sequence_groups(options: Options, keypoints: KeypointSet):
  """None for independent images, else {video name: row indices}."""
  tracked = bool(np.any(keypoints.track >= 0))
  openpose_folder = (Path(options.input).is_dir() and
                     keypoints.keypoint_format.startswith("openpose"))
  if options.sequence == "off" or (options.sequence == "auto" and not (
      tracked or openpose_folder)):
    return None
  groups = {}
  for row, (image, source) in enumerate(zip(keypoints.image,
                                            keypoints.source)):
    if openpose_folder:  # one file per frame: the folder is the video
      name = Path(options.input).resolve().name
    else:  # videos inside one file: by the images' folder (PoseTrack)
      folder = Path(image).parent.as_posix() if image else "."
      name = Path(source).stem if folder == "." else folder
    groups.setdefault("/".join(_safe(p) for p in name.split("/")),
                      []).append(row)
  return {name: np.array(rows) for name, rows in groups.items()}


def _result_arrays(result, keypoints: KeypointSet, rows, perspective: bool):
  """The npz fields of `rows` (leading axis n) from their `FitResult`."""
  xy, confidence = keypoints.xy[rows], keypoints.confidence[rows]
  ok = np.asarray(result.fit_ok)
  pixels, percent = keypoint_errors(np.asarray(result.keypoints_2d), xy,
                                    confidence)
  arrays = dict(
      poses=result.pose, betas=result.betas, fit_ok=ok,
      error_px=np.where(ok, pixels, np.nan).astype(np.float32),
      error_pct=np.where(ok, percent, np.nan).astype(np.float32),
      keypoints=np.concatenate([xy, confidence[..., None]], -1),
      keypoints_2d=result.keypoints_2d, joints=result.joints,
      image=np.array([keypoints.image[r] for r in rows]),
      frame=keypoints.frame[rows], person=keypoints.person[rows],
      source=np.array([keypoints.source[r] for r in rows]))
  if perspective:
    translation = np.asarray(result.camera.translation)
    arrays.update(
        focal_length=result.camera.focal_length,
        principal_point=result.camera.principal_point,
        camera_translation=translation,
        # SMPL(poses, betas) + trans: the body in the camera's OpenGL frame
        # (x right, y up, looking down -z); camera_translation is OpenCV's.
        trans=translation * np.array([1, -1, -1], np.float32))
  else:
    arrays.update(camera_scale=result.camera.scale,
                  camera_translation=result.camera.translation)
  return {k: np.asarray(v) for k, v in arrays.items()}


def _common_arrays(keypoints: KeypointSet, pretrained, perspective) -> dict:
  """The npz fields shared by every row."""
  return dict(gender=np.array("neutral"),
              camera_type=np.array("perspective" if perspective
                                   else "weak_perspective"),
              keypoint_format=np.array(keypoints.keypoint_format),
              body_model=np.array(str(pretrained.config.body_model or
                                      "bundled")))


def _fit_images(options, pretrained, keypoints, keys, camera, output,
                progress, bar):
  """Independent images: one npz per person, in chunks of `chunk_size`
  rows. Returns each row's (npz path, index in it)."""
  n = len(keypoints)
  paths = [output / "fits" / keys[r] / f"person_{keypoints.person[r]:02d}.npz"
           for r in range(n)]
  mesh_paths = [output / "meshes" / keys[r] /
                f"person_{keypoints.person[r]:02d}.{options.save_meshes}"
                for r in range(n)] if options.save_meshes else None
  size = min(options.chunk_size, max(n, 1))
  common = _common_arrays(keypoints, pretrained, options.perspective)

  def write(rows, result):
    arrays = _result_arrays(result, keypoints, rows, options.perspective)
    for i, row in enumerate(rows):
      save_npz(paths[row], **common, **{k: v[i] for k, v in arrays.items()})
    if mesh_paths is not None:
      _write_meshes(pretrained, result, [mesh_paths[r] for r in rows])

  # A chunk's files are written while the next chunk is fitted; at most
  # one chunk waits (bounded memory), and a write error stops the run.
  with concurrent.futures.ThreadPoolExecutor(1) as writer:
    pending = None
    for start in range(0, n, size):
      rows = np.arange(start, min(start + size, n))
      if all(paths[r].exists() and (
          mesh_paths is None or mesh_paths[r].exists() or
          not _fit_ok(paths[r])) for r in rows):  # failed fits: no mesh
        progress.skipped += len(rows)
        bar.update(len(rows))
        continue
      result = _fit_chunk(options, pretrained, keypoints, camera, rows, size,
                          progress)
      if pending is not None:
        pending.result()
      pending = writer.submit(write, rows, result)
      progress.fitted += int(result.fit_ok.sum())
      progress.failed += int((~result.fit_ok).sum())
      bar.update(len(rows))
    if pending is not None:
      pending.result()
  return [(p, None) for p in paths]


def _fit_chunk(options, pretrained, keypoints, camera, rows, size, progress):
  """`fit` on `rows`, padded to `size` so every chunk has one shape."""
  padded = np.concatenate([rows, np.full(size - len(rows), rows[0])])
  confidence = keypoints.confidence[padded].copy()
  confidence[len(rows):] = 0.0
  start = time.perf_counter()
  result = fitting.fit_in_chunks(
      keypoints.xy[padded], confidence,
      keypoint_format=keypoints.keypoint_format, chunk_size=size,
      camera=None if camera is None else jax.tree.map(lambda a: a[padded],
                                                      camera),
      params=pretrained)
  progress.fit_seconds += time.perf_counter() - start
  return jax.tree.map(lambda a: a[:len(rows)], result)


def _fit_videos(options, pretrained, keypoints, keys, camera, groups, output,
                progress, bar):
  """Videos: track people, fit (frame by frame when warm-starting), smooth,
  and write one npz per track. A video is skipped when its `video.json`
  marker (written last) covers its rows, its track files and the meshes
  asked for. Returns each row's (npz path, index in it)."""
  locators = [None] * len(keypoints)
  common = _common_arrays(keypoints, pretrained, options.perspective)
  for name, rows in groups.items():
    folder = output / "tracks" / name
    marker = folder / "video.json"
    done = json.loads(marker.read_text()) if marker.exists() else None
    if done is not None and done["rows"] == len(rows) and (
        done["meshes"] == options.save_meshes or not options.save_meshes
    ) and all((folder / f"track_{t:03d}.npz").exists()
              for t in set(done["track"])):
      for row, track, index in zip(rows, done["track"], done["index"]):
        locators[row] = (folder / f"track_{track:03d}.npz", index)
      progress.skipped += len(rows)
      bar.update(len(np.unique(keypoints.frame[rows])))
      continue
    frame = keypoints.frame[rows]
    track = sequences.assign_tracks(frame, keypoints.xy[rows],
                                    keypoints.confidence[rows],
                                    keypoints.track[rows])
    # Tracks share batch slots when their lifetimes do not overlap.
    slot = _slots(frame, track)
    dense = sequences.track_arrays(frame, slot, keypoints.xy[rows],
                                   keypoints.confidence[rows])
    frame_index = np.searchsorted(dense.frames, frame)
    # Which track each (frame, slot) holds: warm starts and smoothing never
    # cross from one track to the next in a shared slot.
    slot_track = np.where(dense.row >= 0, track[np.maximum(dense.row, 0)], -1)
    dense_camera = None
    if camera is not None:  # empty slots borrow the video's first intrinsics
      source = np.where(dense.row >= 0, dense.row, 0)
      dense_camera = jax.tree.map(lambda a: a[rows][source], camera)
    start = time.perf_counter()
    result = sequences.fit_tracks(
        dense.xy, dense.confidence, keypoint_format=keypoints.keypoint_format,
        camera=dense_camera, params=pretrained, frames=dense.frames,
        track=slot_track, warm_start=options.warm_start,
        chunk_size=options.chunk_size, on_frames=bar.update)
    if options.smooth > 0:
      result = sequences.smooth_tracks(
          result, options.smooth, keypoint_format=keypoints.keypoint_format,
          params=pretrained, frames=dense.frames, track=slot_track)
    progress.fit_seconds += time.perf_counter() - start
    per_row = jax.tree.map(lambda a: np.asarray(a)[frame_index, slot],
                           result)
    arrays = _result_arrays(per_row, keypoints, rows, options.perspective)
    index = np.zeros(len(rows), int)
    for t in np.unique(track):
      members = np.flatnonzero(track == t)
      members = members[np.argsort(frame_index[members], kind="stable")]
      index[members] = np.arange(len(members))
      ok = arrays["fit_ok"][members]
      betas = arrays["betas"][members]
      path = folder / f"track_{t:03d}.npz"
      save_npz(path, **common, **{k: v[members] for k, v in arrays.items()
                                  if k != "betas"},
               # AMASS keeps one shape per sequence: the mean of the fits.
               betas=(betas[ok].mean(0) if ok.any() else
                      np.zeros_like(betas[0])),
               betas_per_frame=betas, track=np.int32(t),
               mocap_framerate=np.float32(options.fps))
      if options.save_meshes:
        _write_meshes(pretrained, jax.tree.map(lambda a, m=members: a[m],
                                               per_row),
                      [output / "meshes" / name / f"track_{t:03d}" /
                       f"{Path(keys[rows[m]]).name}.{options.save_meshes}"
                       for m in members])
    for i, row in enumerate(rows):
      locators[row] = (folder / f"track_{track[i]:03d}.npz", int(index[i]))
    with atomic_path(marker) as tmp:
      tmp.write_text(json.dumps(dict(
          rows=len(rows), frames=len(dense.frames),
          meshes=options.save_meshes,
          tracks=int(track.max()) + 1,
          track=track.tolist(), index=index.tolist())) + "\n")
    progress.fitted += int(per_row.fit_ok.sum())
    progress.failed += int((~per_row.fit_ok).sum())
  return locators


def _slots(frame, track) -> np.ndarray:
  """Packs tracks into few batch slots: a track takes a slot whose
  previous track has ended, so a long video with many short tracks stays a
  small batch (`fit_tracks` and `smooth_tracks` are given the track ids, so
  nothing crosses from one track to the next). Returns each row's slot."""
  first = {t: frame[track == t].min() for t in np.unique(track)}
  last = {t: frame[track == t].max() for t in first}
  ends = []  # per slot: the last frame of its latest track
  slot_of = {}
  for t in sorted(first, key=lambda t: (first[t], t)):
    free = [s for s, end in enumerate(ends) if end < first[t]]
    if free:
      slot_of[t] = free[0]
      ends[free[0]] = last[t]
    else:
      slot_of[t] = len(ends)
      ends.append(last[t])
  return np.array([slot_of[t] for t in track])


def _fit_ok(path) -> bool:
  with np.load(path) as data:
    return bool(data["fit_ok"])


def _write_meshes(pretrained, result, paths) -> None:
  """One mesh per fitted person (the body frame: y up, metres, no
  translation); failed fits get none."""
  model = load_body(pretrained.config.body_model,
                    pretrained.config.num_betas).model
  faces = np.asarray(model.faces)
  todo = [i for i, path in enumerate(paths)
          if result.fit_ok[i] and not path.exists()]
  for start in range(0, len(todo), _MESH_CHUNK):
    part = todo[start:start + _MESH_CHUNK]
    padded = part + [part[0]] * (_MESH_CHUNK - len(part))  # one shape
    vertices = np.asarray(smpl_forward(model, result.pose[padded],
                                       result.betas[padded]).vertices)
    for i, person in enumerate(part):
      mesh_io.write_mesh(paths[person], vertices[i], faces)


def _load_camera(data, index):
  """The camera of row `index` (or () for one person) of an output npz."""
  if str(data["camera_type"]) == "perspective":
    return cameras.Perspective(data["focal_length"][index],
                               data["principal_point"][index],
                               data["camera_translation"][index])
  return cameras.WeakPerspective(data["camera_scale"][index],
                                 data["camera_translation"][index])


def _save_overlays(options, pretrained, keypoints, keys, locators,
                   image_folder, output) -> list:
  """One overlay per image found (skipping existing ones), from the
  written npz files; returns the paths written or found."""
  model = load_body(pretrained.config.body_model,
                    pretrained.config.num_betas).model
  by_key = {}
  for row, key in enumerate(keys):
    by_key.setdefault(key, []).append(row)
  jobs = []
  for key, rows in by_key.items():
    image = image_io.find_image(image_folder, keypoints.image[rows[0]]) if (
        keypoints.image[rows[0]]) else None
    if image is not None:
      jobs.append((output / "overlays" / f"{key}.png", image, rows))
  if not jobs:
    logging.warning("no overlays: no image of the input found in %s",
                    image_folder)
  written = []
  tracks = {}  # a video's track files, loaded once (frames come in order)
  for path, image, rows in tqdm.tqdm(jobs, desc="overlays", unit="images",
                                     disable=not options.progress):
    written.append(str(path))
    if path.exists():
      continue
    meshes, labels = [], []
    for row in rows:
      file, index = locators[row]
      if file in tracks:
        data = tracks[file]
      else:
        with np.load(file) as loaded:
          data = {k: loaded[k] for k in loaded.files}
        if index is not None:
          if tracks and next(iter(tracks)).parent != file.parent:
            tracks = {}  # another video
          tracks[file] = data
      index = () if index is None else index
      if not bool(data["fit_ok"][index]):
        meshes.append(None)
        labels.append("not fitted")
        continue
      pixels, points = render.project_fit_mesh(
          model, data["poses"][index],
          data["betas_per_frame" if "betas_per_frame" in data
               else "betas"][index],
          _load_camera(data, index))
      meshes.append((pixels, points))
      labels.append(f"2D err {float(data['error_pct'][index]):.1f}%")
    render.save_fit_overlay(
        path, image_io.read_image(image), meshes, model.faces,
        keypoints.xy[rows], keypoints.confidence[rows],
        keypoints.keypoint_format, labels=labels,
        min_confidence=options.min_confidence)
  return written
