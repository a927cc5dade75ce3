"""Video sequences: people tracked across frames, warm-started fits and
smoothed parameter trajectories.

A sequence is a table of rows (one person in one frame, e.g. one OpenPose
file per frame) as `lgd_jax.read_keypoints` returns it:
  1. `assign_tracks` gives every row a dense track id (the file's own ids
     where every row has one, else frame-to-frame association);
  2. `track_arrays` lays the rows out as (T, P) arrays, frames by tracks,
     absent people with zero confidence;
  3. `fit_tracks` fits frame by frame, each track warm-started from its last
     successful fit;
  4. `smooth_tracks` smooths each track's parameters over time.
Bookkeeping is NumPy; the numeric parts (fits, smoothing) are JAX.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import theta as theta_lib
from lgd_jax.body import rotations
from lgd_jax.fitting import FitResult
from lgd_jax.weights import Pretrained, load_pretrained

# Association defaults (`assign_tracks`): a person continues a track when
# their mean keypoint distance to the track's predicted points is below
# THRESHOLD person sizes; a track can be matched up to MAX_GAP frames after
# it was last seen (so up to MAX_GAP - 1 frames may be missed).
THRESHOLD = 0.4
MAX_GAP = 5
MIN_COMMON = 3  # fewer commonly visible points: compare box centres instead
# Velocity memory of a track: v <- VELOCITY_DECAY v + (1 - decay) v_observed
# (one frame's displacement of noisy detections alone would be jumpy).
VELOCITY_DECAY = 0.5
# People per call when recomputing smoothed points: bounded memory however
# long the video.
_POINTS_CHUNK = 4096


# ---------------------------------------------------------------------------
# Tracking


def assign_tracks(frame, xy, confidence, given_track=None, *,
                  threshold: float = THRESHOLD, max_gap: int = MAX_GAP,
                  min_common: int = MIN_COMMON) -> np.ndarray:
  """Dense track ids 0..M-1 for rows of people in frames.

  If every row has a given track id (>= 0) and no id repeats within a
  frame, those ids are used, renumbered densely in order of first
  appearance (by frame, then row). Otherwise people are associated frame to
  frame, in frame order: each frame's people are matched greedily (the
  closest pair first) to the tracks last seen at most `max_gap` frames
  earlier, by the mean distance of their commonly visible keypoints to the
  track's last keypoints moved on by the track's velocity, divided by the
  larger of the two people's sizes (the long side of their visible points'
  box); with fewer than `min_common` commonly visible points, the distance
  of the boxes' centres is used. Pairs farther than `threshold` never
  match; unmatched people start new tracks.

  Args:
    frame: (N,) int frame numbers; rows may come in any order and frames
      may be missing.
    xy: (N, K, 2) keypoints, pixels.
    confidence: (N, K); points with confidence > 0 (and finite xy) count.
    given_track: (N,) ids from the file, -1 where it gives none; or None.
    threshold: in person sizes.
    max_gap: frames; 1 matches only people of the previous frame.
    min_common: see above.

  Returns:
    (N,) int32 track ids, numbered in order of first appearance.
  """
  frame = np.asarray(frame, np.int64)
  n = len(frame)
  order = np.lexsort((np.arange(n), frame))  # by frame, then row
  if given_track is not None and n:
    given = np.asarray(given_track, np.int64)
    pairs = np.stack([frame, given], 1)
    if np.all(given >= 0) and len(np.unique(pairs, axis=0)) == n:
      ids, first = np.unique(given[order], return_index=True)
      rank = np.empty(len(ids), np.int64)
      rank[np.argsort(first)] = np.arange(len(ids))
      return rank[np.searchsorted(ids, given)].astype(np.int32)

  xy = np.asarray(xy, np.float64)
  visible = (np.asarray(confidence) > 0) & np.all(np.isfinite(xy), -1)
  xy = np.where(visible[..., None], xy, 0.0)
  size = _box_size(xy, visible)
  track = np.full(n, -1, np.int32)
  # Per track: last keypoints, their visibility, size, frame, velocity.
  last_xy, last_visible, last_size, last_frame, velocity = [], [], [], [], []
  active = []  # tracks seen within max_gap frames: the only candidates
  start = 0
  while start < n:
    stop = start
    while stop < n and frame[order[stop]] == frame[order[start]]:
      stop += 1
    rows = order[start:stop]
    now = frame[rows[0]]
    alive = [j for j in active if 0 < now - last_frame[j] <= max_gap]
    cost = np.full((len(rows), len(alive)), np.inf)
    for b, j in enumerate(alive):
      predicted = last_xy[j] + velocity[j] * (now - last_frame[j])
      for a, i in enumerate(rows):
        cost[a, b] = _distance(xy[i], visible[i], size[i], predicted,
                               last_visible[j], last_size[j], min_common)
    matched = {}
    while cost.size and np.min(cost) < threshold:
      a, b = np.unravel_index(np.argmin(cost), cost.shape)
      matched[a] = alive[b]
      cost[a, :] = np.inf
      cost[:, b] = np.inf
    for a, i in enumerate(rows):
      if a in matched:
        j = matched[a]
        step = _displacement(xy[i], visible[i], last_xy[j], last_visible[j],
                             min_common) / (now - last_frame[j])
        velocity[j] = VELOCITY_DECAY * velocity[j] + (1 - VELOCITY_DECAY) * step
        last_xy[j], last_visible[j], last_size[j] = xy[i], visible[i], size[i]
        last_frame[j] = now
      else:
        j = len(last_frame)
        last_xy.append(xy[i])
        last_visible.append(visible[i])
        last_size.append(size[i])
        last_frame.append(now)
        velocity.append(np.zeros(2))
      track[i] = j
    active = alive + [j for j in track[rows] if j not in alive]
    start = stop
  return track


def _box_size(xy, visible):
  """(N,) long side of the visible points' box; 0 with fewer than two."""
  big = np.inf
  lo = np.min(np.where(visible[..., None], xy, big), axis=-2)
  hi = np.max(np.where(visible[..., None], xy, -big), axis=-2)
  size = np.max(hi - lo, axis=-1)
  return np.where(visible.sum(-1) >= 2, size, 0.0)


def _centre(xy, visible):
  return (np.min(xy[visible], 0) + np.max(xy[visible], 0)) / 2


def _distance(xy_a, visible_a, size_a, xy_b, visible_b, size_b, min_common):
  """Mean distance of commonly visible points (else of box centres), in
  units of the larger person's size; inf when it cannot be measured."""
  scale = max(size_a, size_b)
  if scale <= 0 or not visible_a.any() or not visible_b.any():
    return np.inf
  common = visible_a & visible_b
  if common.sum() >= min_common:
    return float(np.linalg.norm(xy_a[common] - xy_b[common], axis=-1).mean()
                 / scale)
  return float(np.linalg.norm(_centre(xy_a, visible_a) -
                              _centre(xy_b, visible_b)) / scale)


def _displacement(xy_new, visible_new, xy_old, visible_old, min_common):
  """(2,) mean motion of the commonly visible points (else of the box
  centres) from the old to the new detection."""
  common = visible_new & visible_old
  if common.sum() >= min_common:
    return (xy_new[common] - xy_old[common]).mean(0)
  if visible_new.any() and visible_old.any():
    return _centre(xy_new, visible_new) - _centre(xy_old, visible_old)
  return np.zeros(2)


class TrackArrays(NamedTuple):
  """Rows laid out as frames by tracks.

  Attributes:
    frames: (T,) the sorted distinct frame numbers.
    xy: (T, P, K, 2) keypoints; 0 where a track is absent.
    confidence: (T, P, K); 0 where a track is absent.
    row: (T, P) int the input row of each entry, -1 where absent.
  """

  frames: np.ndarray
  xy: np.ndarray
  confidence: np.ndarray
  row: np.ndarray


def track_arrays(frame, track, xy, confidence) -> TrackArrays:
  """Lays rows out as (T, P) arrays: T distinct frames, P tracks.

  Args:
    frame: (N,) int; track: (N,) dense ids from `assign_tracks` (unique per
      frame); xy: (N, K, 2); confidence: (N, K).
  """
  frame = np.asarray(frame)
  track = np.asarray(track)
  xy = np.asarray(xy, np.float32)
  confidence = np.asarray(confidence, np.float32)
  frames, t = np.unique(frame, return_inverse=True)
  num_tracks = int(track.max()) + 1 if len(track) else 0
  row = np.full((len(frames), num_tracks), -1, np.int64)
  if np.any(np.bincount(t * num_tracks + track,
                        minlength=len(frames) * num_tracks) > 1):
    raise ValueError("a track has two rows in one frame")
  row[t, track] = np.arange(len(frame))
  present = row >= 0
  out_xy = np.zeros(row.shape + xy.shape[1:], np.float32)
  out_conf = np.zeros(row.shape + confidence.shape[1:], np.float32)
  out_xy[present] = xy[row[present]]
  out_conf[present] = confidence[row[present]]
  return TrackArrays(frames, out_xy, out_conf, row)


# ---------------------------------------------------------------------------
# Fitting


def fit_tracks(xy, confidence, *, keypoint_format: str,
               camera: Optional[cameras.Perspective] = None,
               params: Optional[Pretrained] = None,
               warm_start: bool = False, max_gap: int = 2, frames=None,
               track=None, chunk_size: int = 1024,
               on_frames=None) -> FitResult:
  """Fits tracked people frame by frame.

  With `warm_start`, each frame is one `fit` call on the P tracks (a fixed
  batch shape, so it compiles once); a track starts from its last
  successful fit if that is at most `max_gap` frames old, else from the
  network's initial estimate (cold). Without it, every (frame, track) is
  fitted independently (`fitting.fit_in_chunks` over all of them).

  Warm starts are off by default: with the bundled weights, chained over
  a video they drift (each frame adds the network's 4 updates to the last
  fit, and a network trained only from its own initial estimate does not
  stop at the solution): on 120-300-frame synthetic videos PA-MPJPE rose
  from 57 to 260 mm (`experiments/reports/evaluate_sequences.json`).

  Args:
    xy: (T, P, K, 2) pixels; confidence: (T, P, K), 0 where a track is
      absent (its fit then fails: `fit_ok` False, zero parameters).
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    camera: optional `Perspective` intrinsics, leading shape broadcastable
      to (T, P).
    params: a `lgd_jax.weights.Pretrained`; default: the bundled weights.
    warm_start: see above.
    max_gap: frames; 1 warm-starts only from the previous frame's fit.
    frames: (T,) frame numbers for the gaps; default 0..T-1.
    track: optional (T, P) int track ids when a column holds several
      tracks one after another (batch slots): a fit warm-starts only from
      the same track's.
    chunk_size: people per call without warm start.
    on_frames: optional callback, called with a number of frames as they
      are done (e.g. a progress bar's `update`).

  Returns:
    A `FitResult` of NumPy arrays with leading shape (T, P).
  """
  xy = np.asarray(xy, np.float32)
  confidence = np.asarray(confidence, np.float32)
  num_frames, num_tracks = xy.shape[:2]
  params = params if params is not None else load_pretrained()
  frames = (np.arange(num_frames) if frames is None
            else np.asarray(frames, np.int64))
  if camera is not None:
    camera = jax.tree.map(lambda a: np.broadcast_to(
        np.asarray(a, np.float32), (num_frames, num_tracks) +
        np.shape(a)[-1:]), camera)
  if not warm_start:
    flat = lambda a: a.reshape((num_frames * num_tracks,) + a.shape[2:])
    result = fitting.fit_in_chunks(
        flat(xy), flat(confidence), keypoint_format=keypoint_format,
        chunk_size=min(chunk_size, max(1, num_frames * num_tracks)),
        on_chunk=None if on_frames is None else (
            lambda people: on_frames(people / max(num_tracks, 1))),
        camera=None if camera is None else jax.tree.map(flat, camera),
        params=params)
    return jax.tree.map(
        lambda a: a.reshape((num_frames, num_tracks) + a.shape[1:]), result)

  def fit_frame(t, init):
    return fitting.fit(xy[t], confidence[t], keypoint_format=keypoint_format,
                       camera=None if camera is None else jax.tree.map(
                           lambda a: a[t], camera),
                       params=params, init=init)

  # A state of the fit's structure with no usable fit: every track cold.
  # The camera is finite (unit scale, 1 m away) though unused.
  shapes = jax.eval_shape(lambda: fit_frame(0, None))
  state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
  state = state._replace(camera=jax.tree.map(
      lambda a: np.ones_like(a), state.camera))
  last_ok = np.full(num_tracks, np.iinfo(np.int64).min // 2)
  last_track = np.full(num_tracks, -1)
  outputs = []
  for t in range(num_frames):
    usable = state.fit_ok & (frames[t] - last_ok <= max_gap)
    if track is not None:
      usable &= last_track == np.asarray(track)[t]
    result = jax.device_get(fit_frame(t, state._replace(fit_ok=usable)))
    outputs.append(result)
    if on_frames is not None:
      on_frames(1)
    ok = np.asarray(result.fit_ok)
    state = jax.tree.map(functools.partial(_where_rows, ok), result, state)
    last_ok = np.where(ok, frames[t], last_ok)
    if track is not None:
      last_track = np.where(ok, np.asarray(track)[t], last_track)
  return jax.tree.map(lambda *a: np.stack(a), *outputs)


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
