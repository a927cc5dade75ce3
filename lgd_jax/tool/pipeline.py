"""Keypoint files in, SMPL output files out: the engine of `lgd-fit`.

`run` reads a keypoint file or folder (`lgd_jax.read_keypoints`), fits every
person with `lgd_jax.fit` in fixed-size chunks, and writes per person (or per
tracked person of a video) an `.npz` with SMPL/AMASS-style keys
(`outputs`), optional meshes and overlay pictures, and a summary JSON.

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
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
import tqdm

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import sequences
from lgd_jax import tracking
from lgd_jax.body.cache import load_body
from lgd_jax.files import atomic_path, remove_partial_files, save_json
from lgd_jax.readers import KeypointSet, read_keypoints
from lgd_jax.tool import images as image_io
from lgd_jax.tool import meshes
from lgd_jax.tool import outputs
from lgd_jax.tool import overlays
from lgd_jax.tool.manifest import check_manifest
from lgd_jax.tool.options import Options
from lgd_jax.weights import load_pretrained

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class _Progress:
  """What a run did, for the summary."""

  people: int = 0
  fitted: int = 0
  failed: int = 0
  skipped: int = 0
  fit_seconds: float = 0.0

  def add(self, fit_ok) -> None:
    self.fitted += int(np.sum(fit_ok))
    self.failed += int(np.sum(~np.asarray(fit_ok)))


def run(options: Options) -> dict:
  """Fits everyone in `options.input` and writes the outputs (layout:
  `lgd_jax.tool.outputs`; `run.json`: `lgd_jax.tool.manifest`).

  Returns:
    The summary (also written to `summary.json`).

  Raises:
    KeypointFileError: when no input file could be read.
    ValueError: a bad option, a perspective camera without image sizes, or
      two videos whose names make one output name.
  """
  start = time.perf_counter()
  output = Path(options.output)
  if output.is_dir():  # a killed run's temporary files
    remove_partial_files(output)
  pretrained = _pretrained(options)
  keypoints = _read(options)
  read_seconds = time.perf_counter() - start
  image_folder = Path(options.images) if options.images else (
      Path(options.input) if Path(options.input).is_dir() else
      Path(options.input).parent)
  keys = outputs.frame_keys(keypoints)
  camera = (_intrinsics(options, keypoints, keys, image_folder)
            if options.perspective else None)
  groups = _sequence_groups(options, keypoints)
  check_manifest(options, keypoints, output)
  progress = _Progress(people=len(keypoints))
  # Videos count frames: a long one is fitted in one go.
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
  drawn = (_save_overlays(options, pretrained, keypoints, keys, locators,
                          image_folder, output)
           if options.save_overlays else [])
  summary = _summary(options, keypoints, groups, progress, len(drawn),
                     read_seconds, time.perf_counter() - start)
  save_json(output / outputs.SUMMARY, summary)
  return summary


def _pretrained(options: Options):
  """The weights, fitting with `options.body_model` when given: the
  config names the body everything downstream (fits, smoothing, meshes,
  overlays) loads."""
  pretrained = load_pretrained(options.weights)
  if options.body_model is None:
    return pretrained
  config = pretrained.config.as_configdict()
  config.body_model = str(options.body_model)
  return pretrained._replace(config=ml_collections.FrozenConfigDict(config))


def _read(options: Options) -> KeypointSet:
  """The input's people, points at or below `min_confidence` made missing
  (for the fits and their 2D errors alike); unreadable files are warned
  about and skipped."""
  keypoints = read_keypoints(options.input, options.keypoint_format,
                             errors="report")
  for file, problem in keypoints.errors:
    _LOG.warning("skipped %s: %s", file, problem)
  return dataclasses.replace(keypoints, confidence=np.where(
      keypoints.confidence > options.min_confidence, keypoints.confidence,
      0.0).astype(np.float32))


def _summary(options, keypoints, groups, progress, overlay_count,
             read_seconds, seconds) -> dict:
  processed = progress.people - progress.skipped
  return dict(
      input=str(options.input), output=str(Path(options.output)),
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
      overlays=overlay_count, read_seconds=round(read_seconds, 3),
      fit_seconds=round(progress.fit_seconds, 3),
      total_seconds=round(seconds, 3),
      # Significant digits, not decimals: a loaded machine's rate is small.
      people_per_second=float(f"{processed / seconds:.3g}"),
      options={k: v for k, v in dataclasses.asdict(options).items()
               if k != "progress"})


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
  """None for independent images, else {video name: row indices}; a
  ValueError when two videos' names make one output name."""
  tracked = bool(np.any(keypoints.track >= 0))
  openpose_folder = (Path(options.input).is_dir() and
                     keypoints.keypoint_format.startswith("openpose"))
  if options.sequence == "off" or (options.sequence == "auto" and not (
      tracked or openpose_folder)):
    return None
  groups, named = {}, {}
  for row, (image, source) in enumerate(zip(keypoints.image,
                                            keypoints.source)):
    folder = Path(image).parent.as_posix() if image else "."
    if openpose_folder and folder == ".":
      # One file per frame: the folder is the video.
      name = Path(options.input).resolve().name
    else:
      # By the images' folder: PoseTrack's videos in one file, or the
      # subfolders of a folder of video folders.
      name = Path(source).stem if folder == "." else folder
    key = "/".join(outputs.safe(p) for p in name.split("/"))
    if named.setdefault(key, name) != name:
      raise ValueError(f"videos {named[key]!r} and {name!r} would both be "
                       f"written as {key!r}: rename one of them")
    groups.setdefault(key, []).append(row)
  return {name: np.array(rows) for name, rows in groups.items()}


def _fit_images(options, pretrained, keypoints, keys, camera, output,
                progress, bar):
  """Independent images: one npz per person, in chunks of `chunk_size`
  rows. Returns each row's (npz path, index in it: None)."""
  n = len(keypoints)
  paths = [outputs.person_path(output, "fits", keys[r], keypoints.person[r],
                               "npz") for r in range(n)]
  mesh_paths = [outputs.person_path(output, "meshes", keys[r],
                                    keypoints.person[r], options.save_meshes)
                for r in range(n)] if options.save_meshes else None
  size = min(options.chunk_size, max(n, 1))
  common = outputs.common_arrays(keypoints.keypoint_format,
                                 pretrained.config.body_model,
                                 options.perspective)

  def write(rows, result):
    arrays = outputs.result_arrays(result, keypoints, rows,
                                   options.perspective)
    for i, row in enumerate(rows):
      outputs.save_person(paths[row], common, arrays, i)
    if mesh_paths is not None:
      meshes.write_fit_meshes(_body_model(pretrained), result,
                              [mesh_paths[r] for r in rows])

  def done(row):  # failed fits get no mesh
    return paths[row].exists() and (
        mesh_paths is None or mesh_paths[row].exists() or
        not outputs.fit_ok(paths[row]))

  # A chunk's files are written while the next chunk is fitted; at most
  # one chunk waits (bounded memory), and a write error stops the run.
  with concurrent.futures.ThreadPoolExecutor(1) as writer:
    pending = None
    for start in range(0, n, size):
      rows = np.arange(start, min(start + size, n))
      if all(done(r) for r in rows):
        progress.skipped += len(rows)
        bar.update(len(rows))
        continue
      result = _timed_fit(progress, keypoints.xy[rows],
                          keypoints.confidence[rows],
                          keypoint_format=keypoints.keypoint_format,
                          chunk_size=size, full_chunks=True,
                          camera=None if camera is None else jax.tree.map(
                              lambda a, rows=rows: a[rows], camera),
                          params=pretrained,
                          descent_iterations=options.descent_iterations,
                          upright_beyond_deg=options.upright_beyond_deg,
                          align=options.align)
      if pending is not None:
        pending.result()
      pending = writer.submit(write, rows, result)
      progress.add(result.fit_ok)
      bar.update(len(rows))
    if pending is not None:
      pending.result()
  return [(p, None) for p in paths]


def _timed_fit(progress, *args, **kwargs):
  """`fitting.fit_in_chunks`, its time added to the run's fit time."""
  start = time.perf_counter()
  result = fitting.fit_in_chunks(*args, **kwargs)
  progress.fit_seconds += time.perf_counter() - start
  return result


def _body_model(pretrained):
  return load_body(pretrained.config.body_model,
                   pretrained.config.num_betas).model


def _video_done(options, output, name, rows) -> dict | None:
  """A video's `video.json` when it covers its rows, its track files and
  the meshes asked for (the video can be skipped), else None."""
  marker = outputs.video_marker(output, name)
  if not marker.exists():
    return None
  done = json.loads(marker.read_text())
  complete = done["rows"] == len(rows) and (
      done["meshes"] == options.save_meshes or not options.save_meshes
  ) and all(outputs.track_path(output, name, t).exists()
            for t in set(done["track"]))
  return done if complete else None


# Frames × most people in a frame of the videos fitted in one `fit_tracks`
# call: several short videos go side by side (bounded memory; chain steps
# of many people).
_VIDEO_BATCH_CELLS = 1 << 17
# The most people in a frame of a batch's videos at most this many times
# the fewest: every video's track slots are padded to the batch's widest.
_VIDEO_BATCH_PADDING = 1.5


@dataclasses.dataclass(frozen=True)
class _Video:
  """One video's rows laid out for `fit_tracks`: its people tracked
  (`track`, per row) and packed into slots (`slot`), the (T, P) arrays
  (`dense`), which track each cell holds (-1: none) and its intrinsics."""

  name: str
  rows: np.ndarray
  track: np.ndarray
  slot: np.ndarray
  dense: tracking.TrackArrays
  slot_track: np.ndarray
  camera: cameras.Perspective | None

  @property
  def shape(self) -> tuple[int, int]:
    return self.slot_track.shape


def _fit_videos(options, pretrained, keypoints, keys, camera, groups, output,
                progress, bar):
  """Videos: track people, fit (`sequences.fit_tracks`, several short
  videos in one call), smooth, and write one npz per track; a video whose
  `video.json` marker (written last) says it is complete is skipped.
  Returns each row's (npz path, index in it)."""
  locators = [None] * len(keypoints)

  def locate(name, rows, done):
    for row, track, index in zip(rows, done["track"], done["index"]):
      locators[row] = (outputs.track_path(output, name, track), index)

  for batch in _video_batches(keypoints, groups):
    done = {name: _video_done(options, output, name, groups[name])
            for name in batch}
    if all(d is not None for d in done.values()):
      for name in batch:
        progress.skipped += len(groups[name])
        bar.update(len(np.unique(keypoints.frame[groups[name]])))
        locate(name, groups[name], done[name])
      continue
    # The whole batch is fitted again, so that a video's fits never
    # depend on which of its batch were done before.
    videos = [_lay_out(keypoints, camera, name, groups[name])
              for name in batch]
    for video, result in zip(videos, _fit_together(
        options, pretrained, keypoints, videos, progress, bar)):
      if done[video.name] is None:
        done[video.name] = _write_video(options, pretrained, keypoints, keys,
                                        video, result, output, progress)
        with atomic_path(outputs.video_marker(output, video.name)) as tmp:
          tmp.write_text(json.dumps(done[video.name]) + "\n")
      else:
        progress.skipped += len(video.rows)
      locate(video.name, video.rows, done[video.name])
  return locators


def _video_batches(keypoints, groups) -> list[list[str]]:
  """The videos fitted together: by the most people in one of their
  frames, as many as keep frames × that number within `_VIDEO_BATCH_CELLS`
  and the padding within `_VIDEO_BATCH_PADDING` (a longer video alone).
  Fixed by the input alone, so a rerun fits the same batches."""
  sizes = {}
  for name, rows in groups.items():
    frame, count = np.unique(keypoints.frame[rows], return_counts=True)
    sizes[name] = (len(frame), int(count.max()))
  batches, frames, fewest = [], 0, 0
  for name in sorted(groups, key=lambda name: sizes[name][1]):
    length, people = sizes[name]
    if (batches and (frames + length) * people <= _VIDEO_BATCH_CELLS and
        people <= _VIDEO_BATCH_PADDING * fewest):
      batches[-1].append(name)
      frames += length
    else:
      batches.append([name])
      frames, fewest = length, people
  return batches


def _lay_out(keypoints, camera, name, rows) -> _Video:
  """Tracks a video's people and lays them out as (T, P) arrays."""
  frame = keypoints.frame[rows]
  track = tracking.assign_tracks(frame, keypoints.xy[rows],
                                 keypoints.confidence[rows],
                                 keypoints.track[rows])
  # Tracks share batch slots when their lifetimes do not overlap.
  slot = tracking.pack_slots(frame, track)
  dense = tracking.track_arrays(frame, slot, keypoints.xy[rows],
                                keypoints.confidence[rows])
  # Which track each (frame, slot) holds: warm starts and smoothing never
  # cross from one track to the next in a shared slot.
  slot_track = np.where(dense.row >= 0, track[np.maximum(dense.row, 0)], -1)
  dense_camera = None
  if camera is not None:  # empty cells borrow the video's first intrinsics
    source = np.where(dense.row >= 0, dense.row, 0)
    dense_camera = jax.tree.map(lambda a: a[rows][source], camera)
  return _Video(name, rows, track, slot, dense, slot_track, dense_camera)


def _fit_together(options, pretrained, keypoints, videos, progress,
                  bar) -> list:
  """Fits and smooths `videos` in one `fit_tracks` call
  (`sequences.lay_out_videos`: each as alone); returns each video's (T, P)
  `FitResult`."""
  layout = sequences.lay_out_videos(
      [v.dense.xy for v in videos], [v.dense.confidence for v in videos],
      frames=[v.dense.frames for v in videos],
      track=[v.slot_track for v in videos],
      camera=None if videos[0].camera is None else [v.camera for v in videos])
  start = time.perf_counter()
  result = sequences.fit_tracks(
      layout.xy, layout.confidence,
      keypoint_format=keypoints.keypoint_format, camera=layout.camera,
      params=pretrained, frames=layout.frames, track=layout.track,
      max_gap=layout.max_gap, warm_start=options.warm_start,
      chunk_size=options.chunk_size,
      on_frames=bar.update, descent_iterations=options.descent_iterations,
      upright_beyond_deg=options.upright_beyond_deg, align=options.align)
  if options.smooth > 0:
    result = sequences.smooth_tracks(
        result, options.smooth, keypoint_format=keypoints.keypoint_format,
        params=pretrained, frames=layout.frames, track=layout.track)
  progress.fit_seconds += time.perf_counter() - start
  return layout.split(result)


def _write_video(options, pretrained, keypoints, keys, video, result,
                 output, progress) -> dict:
  """Writes one video's track files (and meshes); returns its
  `video.json` content."""
  name, rows, track = video.name, video.rows, video.track
  frame_index = np.searchsorted(video.dense.frames, keypoints.frame[rows])
  per_row = jax.tree.map(lambda a: a[frame_index, video.slot], result)
  arrays = outputs.result_arrays(per_row, keypoints, rows,
                                 options.perspective)
  common = outputs.common_arrays(keypoints.keypoint_format,
                                 pretrained.config.body_model,
                                 options.perspective)
  index = np.zeros(len(rows), int)
  for t in np.unique(track):
    members = np.flatnonzero(track == t)
    members = members[np.argsort(frame_index[members], kind="stable")]
    index[members] = outputs.save_track(
        outputs.track_path(output, name, t), common,
        {k: v[members] for k, v in arrays.items()}, t, options.fps)
    if options.save_meshes:
      meshes.write_fit_meshes(
          _body_model(pretrained),
          jax.tree.map(lambda a, m=members: a[m], per_row),
          [outputs.track_mesh_path(output, name, t, keys[rows[m]],
                                   options.save_meshes) for m in members])
  progress.add(per_row.fit_ok)
  return dict(rows=len(rows), frames=len(video.dense.frames),
              meshes=options.save_meshes, tracks=int(track.max()) + 1,
              track=track.tolist(), index=index.tolist())


def _save_overlays(options, pretrained, keypoints, keys, locators,
                   image_folder, output) -> list:
  """One overlay per image found (keeping existing ones), from the written
  npz files; returns the paths written or kept."""
  if not image_folder.is_dir():
    _LOG.warning("no overlays: the images folder %s does not exist",
                 image_folder)
    return []
  by_key = {}
  for row, key in enumerate(keys):
    by_key.setdefault(key, []).append(row)
  jobs = [(outputs.overlay_path(output, key), photo, rows) for key, photo, rows
          in overlays.find_pictures(keypoints, by_key, image_folder)]
  if not jobs:
    _LOG.warning("no overlays: no image of the input found in %s",
                 image_folder)
  model = _body_model(pretrained)
  return overlays.save_overlays(
      jobs, keypoints, overlays.saved_people(model, locators), model.faces,
      min_confidence=options.min_confidence, progress=options.progress,
      keep_existing=True)
