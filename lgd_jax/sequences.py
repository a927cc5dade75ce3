"""Video sequences: warm-started fits and smoothed parameter trajectories
of tracked people, on (T, P) arrays, frames by tracks (`lgd_jax.tracking`
makes them from a table of rows):
  1. `fit_tracks` fits every frame independently, or warm-started from
     the track's previous fit (chained; checked, which keeps the frame's
     independent fit where that explains the keypoints better) or from its
     last independent fit (anchored);
  2. `smooth_tracks` smooths each track's parameters over time.
Several videos go through both in one call, laid one after another in
time (`lay_out_videos`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax.body import rotations
from lgd_jax.fitting import FitResult
from lgd_jax.weights import Pretrained, load_pretrained

# People per call when recomputing smoothed points: bounded memory however
# long the video.
_POINTS_CHUNK = 4096

# `fit_tracks`' warm starts: none (independent fits), from the track's
# previous fit (chained), from its last independent fit (anchored), chains
# that restart cold after `chain_length` fits (restarted), chains that keep
# a frame's independent fit where it explains the keypoints better (checked).
WARM_STARTS = ("off", "chained", "anchored", "restarted", "checked")
# The default, in `fit_tracks` and `lgd-fit`: with the bundled network,
# `fit`'s alignment in the image and smoothing sigma 2 (`lgd-fit`'s), the
# most accurate in 3D on both splits
# (experiments/reports/evaluate_sequences_aligned.json).
DEFAULT_WARM_START = "checked"
# Frames by which a warm start may reach back (`fit_tracks`' max_gap).
MAX_GAP = 2
# Fits per "restarted" chain: the most accurate on the sequence benchmark
# (README "Videos").
CHAIN_LENGTH = 4
# Fewest frames in a segment of "checked" chains by default: each segment's
# first frame keeps its independent fit, a small cost in accuracy (README
# "Videos").
SEGMENT_FRAMES = 128


# ---------------------------------------------------------------------------
# Several videos in one call


@dataclasses.dataclass(frozen=True)
class VideoLayout:
  """Videos laid one after another in time and side by side in track
  slots: the (T, P) arguments of `fit_tracks` and `smooth_tracks` (`xy`,
  `confidence`, `frames`, `track`, `camera`, and the `max_gap` the layout
  keeps videos apart by), and each video's (T_i, P_i) shape, to `split`
  their results."""

  xy: np.ndarray
  confidence: np.ndarray
  frames: np.ndarray
  track: np.ndarray
  camera: Optional[cameras.Perspective]
  max_gap: int
  shapes: tuple[tuple[int, int], ...]

  def split(self, result: FitResult) -> list[FitResult]:
    """Each video's (T_i, P_i) part of a result on this layout."""
    first_rows = np.cumsum([0] + [n for n, _ in self.shapes])
    return [jax.tree.map(
        lambda a, t=t, n=n, p=p: np.asarray(a)[t:t + n, :p], result)
            for t, (n, p) in zip(first_rows, self.shapes)]


def lay_out_videos(xy, confidence, *, frames=None, track=None, camera=None,
                   max_gap: int = MAX_GAP) -> VideoLayout:
  """Lays several videos out for one `fit_tracks` (and `smooth_tracks`)
  call, each fitted as alone (to float rounding).

  Each video's frames follow the previous video's last frame by more than
  `max_gap` (renumbered from there), so no warm start crosses from one
  video to the next and their chains run side by side; its track ids are
  offset past the previous video's, so smoothing never mixes two videos.
  Slots beyond a video's own are empty (confidence 0, track -1).

  Args:
    xy, confidence: per video, (T_i, P_i, K, 2) and (T_i, P_i, K).
    frames: per video, (T_i,) increasing frame numbers; default 0..T_i-1.
    track: per video, (T_i, P_i) track ids, -1 in empty cells (confidence
      0) only; default one track per slot.
    camera: per video, `Perspective` intrinsics broadcastable to (T_i,
      P_i), or None for all; empty slots take the frame's last slot's.
    max_gap: the `max_gap` of the calls (`VideoLayout.max_gap`).
  """
  shapes = tuple(tuple(np.shape(a)[:2]) for a in xy)
  num_videos = len(shapes)
  if num_videos == 0:
    raise ValueError("lay_out_videos needs at least one video")
  for name, arrays in (("confidence", confidence), ("frames", frames),
                       ("track", track), ("camera", camera)):
    if arrays is not None and len(arrays) != num_videos:
      raise ValueError(f"{name} has {len(arrays)} videos, xy {num_videos}")
  if frames is None:
    frames = [np.arange(n) for n, _ in shapes]
  if track is None:
    track = [np.broadcast_to(np.arange(p), (n, p)) for n, p in shapes]
  frames = [np.asarray(f, np.int64) for f in frames]
  track = [np.asarray(t) for t in track]
  for i, shape in enumerate(shapes):
    if len(shape) < 2 or 0 in shape:
      raise ValueError(f"video {i}: xy must be (frames, tracks, K, 2) with "
                       f"at least one frame and one track, got shape "
                       f"{np.shape(xy[i])}")
    if frames[i].shape != shape[:1] or np.any(np.diff(frames[i]) <= 0):
      raise ValueError(f"video {i}: frames must be {shape[0]} increasing "
                       f"numbers, got {frames[i].tolist()}")
    if track[i].shape != shape:
      raise ValueError(f"video {i}: track must have shape {shape}, got "
                       f"{track[i].shape}")
    # A -1 is no track: it is not offset, so a fit there could be smoothed
    # with the next video's.
    if np.any((track[i] < 0) & np.any(np.asarray(confidence[i]) > 0, -1)):
      raise ValueError(f"video {i}: cells with keypoints need a track id "
                       ">= 0")
  num_slots = max(p for _, p in shapes)

  def stack(arrays, mode="constant", **fill):
    return np.concatenate([np.pad(
        a, [(0, 0), (0, num_slots - a.shape[1])] + [(0, 0)] * (a.ndim - 2),
        mode=mode, **fill) for a in arrays])

  laid_frames, laid_track, first_frame, first_track = [], [], 0, 0
  for video_frames, video_track in zip(frames, track):
    laid_frames.append(video_frames - video_frames[0] + first_frame)
    first_frame = laid_frames[-1][-1] + max_gap + 1
    laid_track.append(np.where(video_track >= 0, video_track + first_track,
                               -1))
    first_track += int(video_track.max()) + 1
  laid_camera = None
  if camera is not None:
    laid_camera = jax.tree.map(
        lambda *parts: stack([np.broadcast_to(
            np.asarray(a, np.float32), shape + np.shape(a)[-1:])
                              for a, shape in zip(parts, shapes)],
                             mode="edge"), *camera)
  return VideoLayout(
      xy=stack([np.asarray(a, np.float32) for a in xy]),
      confidence=stack([np.asarray(a, np.float32) for a in confidence]),
      frames=np.concatenate(laid_frames),
      track=stack(laid_track, constant_values=-1), camera=laid_camera,
      max_gap=max_gap, shapes=shapes)


# ---------------------------------------------------------------------------
# Fitting


def fit_tracks(xy, confidence, *, keypoint_format: str,
               camera: Optional[cameras.Perspective] = None,
               params: Optional[Pretrained] = None,
               warm_start: Union[str, bool] = DEFAULT_WARM_START,
               max_gap: int = MAX_GAP,
               frames=None, chain_length: int = CHAIN_LENGTH,
               segment_frames: Optional[int] = None,
               track=None, chunk_size: int = 1024,
               on_frames=None, descent_iterations: int = 0,
               upright_beyond_deg: float = unroll_lib.UPRIGHT_BEYOND_DEG,
               align: bool = True
               ) -> FitResult:
  """Fits tracked people: independently, or warm-started from earlier frames.

  `warm_start` (`WARM_STARTS`; False and True mean "off" and "chained"):
  - "off": every (frame, track) is fitted independently
    (`fitting.fit_in_chunks` over all of them).
  - "chained": each frame is one call on the P tracks (in chunks of
    `chunk_size`; a fixed batch shape, so it compiles once); a track
    starts from its last successful fit if that is at most `max_gap`
    frames old, else from the network's initial estimate (cold). Each
    frame keeps part of the previous frame's error, and the error grows
    along the video. Where the frame numbers jump by more than `max_gap`
    (a break: every chain starts cold), the runs of frames between breaks
    go side by side, one call a step for all of them (the runs not yet
    ended): several videos laid one after another with such jumps are
    fitted together, each as alone (to float rounding).
  - "restarted": as "chained", but a track's chain restarts cold after
    `chain_length` fits (its cold fit and the warm ones after it): the
    first few warm starts help, before the error piles up. One fit per
    cell, as "off", but step by step, as "chained".
  - "checked" (the default): as "chained", but every frame is also fitted
    independently (in chunks, first), and a track keeps its warm fit only
    where its final reprojection loss is no higher than the independent
    fit's (or the independent fit failed); else the independent fit goes
    on in the chain. A drifting chain shows in its loss and is cut there.
    Each run of frames between breaks is cut further, into segments of at
    least `segment_frames` frames, whose chains run side by side: each
    step after the first fits that step's frame of every segment in one
    call (in chunks; only the tracks with a warm start); a segment's
    first frame keeps its independent fit, as a video's first does. Two
    fits per cell.
  - "anchored": every frame is fitted independently, then
    again from the track's last successful independent fit at most
    `max_gap` frames earlier (cells without one keep their independent
    fit, and so does a cell whose second fit fails): the previous frame
    informs the fit, but errors cannot pile up, and both passes run in
    chunks over all frames (about twice the cost of "off").
  Their accuracy and jitter: the README's "Videos".

  Args:
    xy: (T, P, K, 2) pixels; confidence: (T, P, K), 0 where a track is
      absent (its fit then fails: `fit_ok` False, zero parameters).
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    camera: optional `Perspective` intrinsics, leading shape broadcastable
      to (T, P).
    params: a `lgd_jax.weights.Pretrained`; default: the bundled weights.
    warm_start: see above.
    max_gap: frames; a warm start comes from a fit at most this old (1:
      the previous frame's only).
    frames: (T,) frame numbers for the gaps; default 0..T-1.
    chain_length: fits per chain ("restarted"; at least 1, 1 is "off").
    segment_frames: the fewest frames per segment ("checked"; default
      `SEGMENT_FRAMES`): each run of n frames between breaks is split
      evenly into n // segment_frames segments (one when it is shorter).
    track: optional (T, P) int track ids when a column holds several
      tracks one after another (batch slots): a fit warm-starts only from
      the same track's.
    chunk_size: people per call.
    on_frames: optional callback, called with a number of frames as they
      are done (e.g. a progress bar's `update`).
    descent_iterations, upright_beyond_deg, align: as in `fit`.

  Returns:
    A `FitResult` of NumPy arrays with leading shape (T, P).
  """
  mode = warm_start_mode(warm_start)
  if chain_length < 1:
    raise ValueError(f"chain_length must be at least 1, got {chain_length}")
  if segment_frames is not None and (
      isinstance(segment_frames, bool) or
      not isinstance(segment_frames, (int, np.integer)) or
      segment_frames < 1):
    raise ValueError("segment_frames must be a whole number >= 1 (or "
                     f"None), got {segment_frames!r}")
  xy = np.asarray(xy, np.float32)
  confidence = np.asarray(confidence, np.float32)
  if xy.ndim != 4 or 0 in xy.shape[:2]:
    raise ValueError("xy must be (frames, tracks, K, 2) with at least one "
                     f"frame and one track, got shape {xy.shape}")
  num_frames, num_tracks = xy.shape[:2]
  params = params if params is not None else load_pretrained()
  frames = (np.arange(num_frames) if frames is None
            else np.asarray(frames, np.int64))
  if camera is not None:
    camera = jax.tree.map(lambda a: np.broadcast_to(
        np.asarray(a, np.float32), (num_frames, num_tracks) +
        np.shape(a)[-1:]), camera)
  # Modes of two passes count each as half the frames.
  frame_share = 1.0 if mode in ("off", "chained", "restarted") else 0.5
  if mode in ("off", "anchored", "checked"):
    fit_rows = functools.partial(
        _fit_rows, xy, confidence, camera, keypoint_format=keypoint_format,
        params=params, chunk_size=chunk_size, on_frames=on_frames,
        descent_iterations=descent_iterations,
        upright_beyond_deg=upright_beyond_deg, align=align,
        frame_share=frame_share)
    independent = fit_rows(np.ones((num_frames, num_tracks), bool))
    independent = jax.tree.map(
        lambda a: a.reshape((num_frames, num_tracks) + a.shape[1:]),
        independent)
    if mode == "off":
      return independent
    if mode == "anchored":
      return _fit_anchored(independent, fit_rows, frames, track, max_gap,
                           on_frames)
    # "checked": the chain below picks, frame by frame, between these and
    # its warm fits.

  # Chains go frame by frame, in segments side by side, so that a call fits
  # many people: the runs of frames no chain crosses, and checked ones cut
  # further (each piece starts from its independent fits, as a video does).
  starts, lengths = _segments(
      frames, max_gap,
      (segment_frames or SEGMENT_FRAMES) if mode == "checked" else None)
  num_segments = len(starts)
  track = None if track is None else np.asarray(track)
  cells = num_segments * num_tracks
  flat = lambda a: np.reshape(a, (cells,) + np.shape(a)[2:])

  # One call shape for every step, whatever number of cells it fits.
  step_chunk = max(1, min(chunk_size, cells))

  def fit_step(rows, init, fitted, base):
    """`base`, (S, P), with the cells `fitted` replaced by their fits of
    frames `rows` (one per segment) from `init`: only those are computed
    (not ended segments, nor, for checked chains, cells without a warm
    start)."""
    pick = lambda a: flat(a)[fitted.ravel()]
    result = fitting.fit_in_chunks(
        pick(xy[rows]), pick(confidence[rows]),
        keypoint_format=keypoint_format, chunk_size=step_chunk,
        full_chunks=True, camera=None if camera is None else jax.tree.map(
            lambda a: pick(a[rows]), camera),
        init=jax.tree.map(pick, _start_of(init)), params=params,
        descent_iterations=descent_iterations,
        upright_beyond_deg=upright_beyond_deg, align=align)

    def put(old, new):
      old = np.array(old)
      old[fitted] = new
      return old

    return jax.tree.map(put, base, result)

  # A state of the fit's structure with no usable fit: every track cold.
  # The camera is finite (unit scale, 1 m away) though unused. (`fit`'s
  # shapes: `fit_in_chunks` runs on the host and cannot be traced.)
  shapes = jax.eval_shape(lambda: fitting.fit(
      xy[0], confidence[0], keypoint_format=keypoint_format, params=params,
      camera=None if camera is None else jax.tree.map(lambda a: a[0], camera),
      descent_iterations=descent_iterations))
  state = jax.tree.map(lambda s: np.zeros((num_segments,) + s.shape, s.dtype),
                       shapes)
  state = state._replace(camera=jax.tree.map(
      lambda a: np.ones_like(a), state.camera))
  lead = (num_segments, num_tracks)
  last_ok = np.full(lead, np.iinfo(np.int64).min // 2)
  last_track = np.full(lead, -1)
  chain_fits = np.zeros(lead, np.int64)  # fits in each track's chain
  outputs = None  # (T, P, ...) leaves, filled step by step
  for step in range(lengths.max()):
    # A segment a frame shorter is done before the last step: its last
    # frame stands in, unused.
    live = step < lengths
    t = starts + np.minimum(step, lengths - 1)
    usable = (state.fit_ok & live[:, None] &
              (frames[t][:, None] - last_ok <= max_gap))
    if track is not None:
      usable &= last_track == track[t]
    if mode == "restarted":
      usable &= chain_fits < chain_length
    if mode == "checked":
      result = jax.tree.map(lambda a: a[t], independent)
      if usable.any():  # else no call: e.g. a video's first frame
        warm = fit_step(t, state._replace(fit_ok=usable), usable, result)
        result = jax.tree.map(functools.partial(
            _where_rows, _warm_explains_better(warm, result, usable)),
            warm, result)
    else:  # ended segments keep their state, unused
      result = fit_step(t, state._replace(fit_ok=usable),
                        np.broadcast_to(live[:, None], lead), state)
    if outputs is None:
      outputs = jax.tree.map(
          lambda a: np.empty((num_frames,) + a.shape[1:], a.dtype), result)
    for out, new in zip(jax.tree.leaves(outputs), jax.tree.leaves(result)):
      out[t[live]] = new[live]
    if on_frames is not None:
      on_frames(frame_share * live.sum())
    ok = np.asarray(result.fit_ok)
    chain_fits = np.where(ok, np.where(usable, chain_fits + 1, 1),
                          chain_fits)
    state = jax.tree.map(functools.partial(_where_rows, ok), result, state)
    last_ok = np.where(ok, frames[t][:, None], last_ok)
    if track is not None:
      last_track = np.where(ok, track[t], last_track)
  return outputs


def _segments(frames, max_gap: int, min_frames: Optional[int]):
  """Start row and length of each segment of the chains: the runs of rows
  between breaks (frame numbers more than `max_gap` apart, which no warm
  start crosses), each cut into run // `min_frames` segments of equal
  length, give or take a frame (None: uncut)."""
  breaks = np.flatnonzero(np.diff(frames) > max_gap) + 1
  run_bounds = np.r_[0, breaks, len(frames)]
  starts, lengths = [], []
  for first, end in zip(run_bounds[:-1], run_bounds[1:]):
    pieces = 1 if min_frames is None else max(1, (end - first) // min_frames)
    bounds = first + np.arange(pieces + 1) * (end - first) // pieces
    starts.append(bounds[:-1])
    lengths.append(np.diff(bounds))
  return np.concatenate(starts), np.concatenate(lengths)


def warm_start_mode(warm_start) -> str:
  """The `WARM_STARTS` name of a `fit_tracks` warm_start (False and True,
  the values of releases before "anchored", are "off" and "chained")."""
  mode = {False: "off", True: "chained"}.get(warm_start, warm_start)
  if mode not in WARM_STARTS:
    raise ValueError(f"warm_start must be one of {WARM_STARTS}, got "
                     f"{warm_start!r}")
  return mode


def _fit_rows(xy, confidence, camera, rows, *, init=None, keypoint_format,
              params, chunk_size, on_frames, descent_iterations,
              upright_beyond_deg, align, frame_share) -> FitResult:
  """`fit` of the (frame, track) cells where `rows` (T, P) is True, in
  chunks over all devices (`fitting.fit_in_chunks`); (n,) results. The
  chunks have the size that all T·P cells would have, however many are
  fitted, so a video compiles one shape (two with `init`)."""
  num_tracks = xy.shape[1]
  pick = lambda a: a[rows]
  return fitting.fit_in_chunks(
      pick(xy), pick(confidence), keypoint_format=keypoint_format,
      chunk_size=max(1, min(chunk_size, rows.size)), full_chunks=True,
      on_chunk=None if on_frames is None else (
          lambda people: on_frames(people * frame_share / num_tracks)),
      camera=None if camera is None else jax.tree.map(pick, camera),
      init=init, params=params, descent_iterations=descent_iterations,
      upright_beyond_deg=upright_beyond_deg, align=align)


def _fit_anchored(independent: FitResult, fit_rows, frames, track,
                  max_gap: int, on_frames) -> FitResult:
  """Refits each (frame, track) from the track's last independent fit that
  succeeded at most `max_gap` frames earlier (`fit_rows(rows, init=)`);
  cells without one keep their independent fit."""
  num_frames, num_tracks = independent.fit_ok.shape
  row = np.arange(num_frames)[:, None]
  # Last successful row strictly before each row, per column.
  last_ok = np.maximum.accumulate(
      np.where(independent.fit_ok, row, -1), axis=0)
  previous = np.concatenate([np.full((1, num_tracks), -1), last_ok[:-1]])
  source = np.maximum(previous, 0)
  column = np.broadcast_to(np.arange(num_tracks), previous.shape)
  refit = (independent.fit_ok & (previous >= 0) &
           (frames[:, None] - frames[source] <= max_gap))
  if track is not None:  # a column (batch slot) may hold several tracks
    track = np.asarray(track)
    refit &= track[source, column] == track
  if not refit.any():
    if on_frames is not None:  # the second pass's half of the frames
      on_frames(num_frames / 2)
    return independent
  init = jax.tree.map(lambda a: a[source[refit], column[refit]],
                      _start_of(independent))
  warm = fit_rows(refit, init=init,
                  frame_share=0.5 * refit.size / refit.sum())
  # A warm fit that failed keeps the independent one.
  keep = refit.copy()
  keep[refit] = warm.fit_ok

  def merge(old, new):
    old[keep] = new[keep[refit]]
    return old

  return jax.tree.map(merge, independent, warm)


def _start_of(result: FitResult) -> FitResult:
  """What a warm start needs of a fit: `fit` starts from the pose, betas,
  camera and fit_ok, so only those go to the devices."""
  return result._replace(joints=None, keypoints_2d=None, loss_history=None)


def _warm_explains_better(warm: FitResult, independent: FitResult,
                          usable) -> np.ndarray:
  """Where a warm fit ("checked") is kept: it started warm, succeeded and
  its final reprojection loss is no higher than the independent fit's
  (both in the same frame's person-centred units), or the independent
  fit failed."""
  return usable & warm.fit_ok & (
      ~independent.fit_ok |
      (warm.loss_history[..., -1] <= independent.loss_history[..., -1]))


def _where_rows(ok, new, old):
  """`new` where `ok` (the leading dims), else `old`."""
  return np.where(np.reshape(ok, np.shape(ok) + (1,) * (
      np.ndim(new) - np.ndim(ok))), new, old)


# ---------------------------------------------------------------------------
# Smoothing


def smooth_tracks(result: FitResult, sigma: float, *, keypoint_format: str,
                  params: Optional[Pretrained] = None, frames=None,
                  track=None, truncate: float = 3.0) -> FitResult:
  """Gaussian smoothing of each track's parameters over time.

  For every frame where `fit_ok`, each parameter becomes the average over
  the track's successful frames s with |s - t| <= truncate·sigma, weighted
  by exp(-(s - t)^2 / (2 sigma^2)) (so gaps shrink the window, never
  bridge failures with zeros). Joint rotations (and the global orientation)
  are averaged as unit quaternions, each neighbour's sign chosen to agree
  with the frame's own (q and -q are one rotation), then normalised: unlike
  averaging axis-angle vectors, this is right near angles of pi, where the
  axis-angle of nearby rotations flips. Betas are averaged; the weak camera
  as (log scale, translation), a perspective camera as (x/z, y/z, log z) of
  its translation (focal length and principal point are kept).
  Joints and keypoints_2d are recomputed (`fitting.fitted_points`, with
  the smoothed camera, as `fit` projects them);
  `fit_ok`, `loss_history` (that of the unsmoothed fit) and failed frames
  are left as they are.

  Args:
    result: a `FitResult` with leading (T, P) (`fit_tracks`).
    sigma: frames; <= 0 returns `result` unchanged.
    keypoint_format: the format of `result.keypoints_2d`.
    params: the weights the fit used (for their body model); default: the
      bundled ones.
    frames: (T,) frame numbers (gaps count); default 0..T-1.
    track: optional (T, P) int track ids when a column holds several
      tracks one after another (batch slots): only frames of the same
      track are averaged.
    truncate: window half-width in sigmas.

  Returns:
    A `FitResult` of NumPy arrays with leading (T, P).
  """
  if sigma <= 0:
    return result
  num_frames, num_tracks = np.shape(result.pose)[:2]
  frames = (np.arange(num_frames) if frames is None
            else np.asarray(frames, np.int64))
  camera = theta_lib.camera_vector(result.camera)
  # Indices are at most as far apart as frame numbers: this window holds
  # every frame within truncate·sigma.
  window = min(int(math.ceil(truncate * sigma)), max(num_frames - 1, 0))
  columns = (np.asarray(result.pose, np.float32),
             np.asarray(result.betas, np.float32), camera.astype(np.float32),
             np.asarray(result.fit_ok),
             np.zeros(np.shape(result.fit_ok), np.int32) if track is None
             else np.asarray(track, np.int32))
  # One track column per call: memory grows with the video's length only.
  smoothed = [jax.device_get(_smooth(
      *(a[:, p:p + 1] for a in columns[:4]), frames.astype(np.float32),
      columns[4][:, p:p + 1], np.float32(sigma),
      np.float32(truncate * sigma), window=window))
              for p in range(num_tracks)]
  pose, betas, camera = (np.concatenate(parts, 1)
                         for parts in zip(*smoothed))
  new_camera = theta_lib.camera_from_vector(camera, result.camera)
  joints, keypoints_2d = fitting.fitted_points(
      pose, betas, new_camera, keypoint_format=keypoint_format,
      params=params, chunk_size=_POINTS_CHUNK)
  keep = functools.partial(_where_rows, np.asarray(result.fit_ok))
  return result._replace(
      pose=keep(pose, result.pose), betas=keep(betas, result.betas),
      camera=jax.tree.map(keep, new_camera, result.camera),
      joints=keep(joints, result.joints),
      keypoints_2d=keep(keypoints_2d, result.keypoints_2d))


@functools.partial(jax.jit, static_argnames=("window",))
def _smooth(pose, betas, camera, ok, frames, track, sigma, reach, *,
            window):
  """`smooth_tracks` on arrays: (T, P, ...) in, the smoothed pose, betas
  and camera vector out; compiled once per shape and window half-width."""
  num_frames = pose.shape[0]
  quat = rotations.axis_angle_to_quaternion(pose.reshape(pose.shape[:-1] + (24, 3)))
  linear = jnp.concatenate([betas, camera], -1)
  okf = ok.astype(jnp.float32)
  pad = lambda a: jnp.pad(a, [(window, window)] + [(0, 0)] * (a.ndim - 1))
  quat_p, linear_p, ok_p = pad(quat), pad(linear), pad(okf)
  track_p = pad(track)
  frames_p = jnp.pad(frames, (window, window), constant_values=jnp.inf)
  quat_sum = jnp.zeros_like(quat)
  linear_sum = jnp.zeros_like(linear)
  weight_sum = jnp.zeros(ok.shape, jnp.float32)
  for d in range(2 * window + 1):  # offsets -window..window, unrolled
    near = slice(d, d + num_frames)
    gap = frames_p[near] - frames
    weight = jnp.where(jnp.abs(gap) <= reach,
                       jnp.exp(-0.5 * (gap / sigma)**2), 0.0)
    weight = weight[:, None] * ok_p[near] * (track_p[near] == track)
    q = quat_p[near]
    sign = jnp.where(jnp.sum(q * quat, -1, keepdims=True) < 0, -1.0, 1.0)
    quat_sum += weight[..., None, None] * sign * q
    linear_sum += weight[..., None] * linear_p[near]
    weight_sum += weight
  norm = jnp.linalg.norm(quat_sum, axis=-1, keepdims=True)
  # Neighbours cancelling out (rotations half a turn apart within the
  # window) leave no direction: keep the frame's own rotation.
  quat_new = jnp.where(norm > 1e-6, quat_sum, quat)
  pose_new = rotations.quaternion_to_axis_angle(quat_new).reshape(pose.shape)
  linear_new = linear_sum / jnp.maximum(weight_sum, 1e-12)[..., None]
  size = betas.shape[-1]
  return pose_new, linear_new[..., :size], linear_new[..., size:]
