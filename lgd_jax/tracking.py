"""Who is who across video frames: NumPy bookkeeping for `lgd_jax.sequences`.

  1. `assign_tracks` gives every row (one person in one frame, as
     `lgd_jax.read_keypoints` returns them) a dense track id: the file's
     own ids where every row has one, else frame-to-frame association;
  2. `pack_slots` packs tracks whose lifetimes do not overlap into shared
     batch columns;
  3. `track_arrays` lays the rows out as (T, P) arrays, frames by columns,
     absent people with zero confidence.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lgd_jax import cameras

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
  size = cameras.person_size(xy, visible)
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


def pack_slots(frame, track) -> np.ndarray:
  """Packs tracks into few batch columns (slots): a track takes a slot
  whose previous track has ended, so a long video with many short tracks
  stays a small batch (give `fit_tracks` and `smooth_tracks` the track ids
  too, so nothing crosses from one track to the next). Returns each row's
  slot.

  Args:
    frame: (N,) int; track: (N,) dense ids from `assign_tracks`.
  """
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
