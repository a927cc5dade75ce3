"""Evaluating video fits: tracking, warm start and smoothing.

On synthetic videos projected from held-out mocap clips
(`lgd_jax.evaluation.synthetic_videos`) every method fits the same
detections; a method is a warm-start setting (`sequences.fit_tracks`) and a
smoothing sigma (`sequences.smooth_tracks`, 0: none). Measured per method:
MPJPE and PA-MPJPE (mm, 24 SMPL joints), jitter (mean joint acceleration of
the pelvis-aligned joints, mm/frame^2) with the ground truth's own, the
error of the acceleration, and the 2D error; and the tracker on the same
videos with their ids hidden and rows shuffled.

On the PoseTrack annotations (single annotated frames per video) tracking
and fitting run and the 2D error is measured; jitter needs consecutive
annotated frames, so it is measured only on "perturbed static" sequences:
each annotated frame repeated with fresh detector noise, where the truth
does not move and every acceleration is jitter.
"""

from __future__ import annotations

import functools
import itertools
import time
from pathlib import Path

import ml_collections
import numpy as np

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import losses
from lgd_jax.evaluation import metrics
from lgd_jax.evaluation.metrics import MM
from lgd_jax import sequences
from lgd_jax import tracking
from lgd_jax import unroll as unroll_lib
from lgd_jax.evaluation import synthetic_videos as videos_lib
from lgd_jax.readers import read_keypoints
from lgd_jax.body.cache import load_body
from lgd_jax.weights import load_pretrained


def method_names(config: ml_collections.ConfigDict) -> list[tuple]:
  """(name, warm_start, sigma) of every method of the config."""
  out = []
  for warm, sigma in itertools.product(config.warm_starts, config.sigmas):
    out.append((_start_name(warm) + (f"+smooth{sigma:g}" if sigma > 0
                                     else ""), warm, float(sigma)))
  return out


def _start_name(warm_start) -> str:
  """A `sequences.fit_tracks` warm_start's name in reports."""
  mode = sequences.warm_start_mode(warm_start)
  return {"off": "independent", "chained": "warm"}.get(mode, mode)


def _pelvis_aligned(joints):
  """Joints relative to the pelvis: jitter measures the body's motion, not
  its path through the scene."""
  return metrics.root_aligned(joints, joints[..., 0, :])


class _Totals:
  """Sums and counts, so means over several videos weigh every frame (or
  every acceleration) once."""

  def __init__(self):
    self.sums, self.counts = {}, {}

  def add(self, key, values):
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    self.sums[key] = self.sums.get(key, 0.0) + float(values.sum())
    self.counts[key] = self.counts.get(key, 0) + int(values.size)

  def add_mean(self, key, mean, count):
    if count:
      self.sums[key] = self.sums.get(key, 0.0) + float(mean) * count
      self.counts[key] = self.counts.get(key, 0) + int(count)

  def means(self, digits=3) -> dict:
    return {k: round(self.sums[k] / self.counts[k], digits)
            if self.counts[k] else None for k in self.sums}


def quarters(per_frame: np.ndarray) -> dict:
  """The (F, ...) per-frame values of a video's first and last quarter of
  frames (at least one frame each): a fit that drifts along the video, as
  a chain of warm starts can, is worse in the last."""
  size = max(per_frame.shape[0] // 4, 1)
  return {"first_quarter": per_frame[:size],
          "last_quarter": per_frame[-size:]}


def score_video(result: fitting.FitResult, video: videos_lib.Video,
                totals: _Totals) -> None:
  """Adds one method's errors on one video to `totals`."""
  ok = np.asarray(result.fit_ok)
  pred, true = result.joints[ok], video.joints[ok]
  totals.add("mpjpe", MM * np.asarray(metrics.mpjpe(pred, true)))
  pa_mpjpe = np.full(ok.shape, np.nan)
  pa_mpjpe[ok] = MM * np.asarray(metrics.pa_mpjpe(pred, true))
  totals.add("pa_mpjpe", pa_mpjpe[ok])
  for name, part in quarters(pa_mpjpe).items():
    totals.add(f"pa_mpjpe_{name}", part)
  count = metrics.acceleration_frames(ok)
  totals.add_mean("jitter", MM * metrics.mean_acceleration(
      _pelvis_aligned(result.joints), ok), count)
  totals.add_mean("jitter_truth", MM * metrics.mean_acceleration(
      _pelvis_aligned(video.joints), ok), count)
  totals.add_mean("acceleration_error", MM * metrics.acceleration_error(
      _pelvis_aligned(result.joints), _pelvis_aligned(video.joints), ok),
                   count)
  shape = video.xy.shape
  pixels, percent = losses.keypoint_errors(
      result.keypoints_2d.reshape((-1,) + shape[2:]),
      video.xy.reshape((-1,) + shape[2:]),
      video.confidence.reshape((-1, shape[2])))
  totals.add("error_2d_pct", percent.reshape(shape[:2])[ok])
  totals.add("error_2d_px", pixels.reshape(shape[:2])[ok])
  totals.add("fit_ok", ok.astype(np.float64))


def tracking_scores(frame, true_track, predicted) -> dict:
  """How well predicted track ids follow the true ones.

  Returns:
    `true_tracks`, `predicted_tracks`, `id_switches` (consecutive
    appearances of a true track with different predicted ids) and `purity`
    (share of rows whose predicted track's most common true track is their
    own).
  """
  frame, true_track = np.asarray(frame), np.asarray(true_track)
  predicted = np.asarray(predicted)
  switches = 0
  for t in np.unique(true_track):
    rows = np.flatnonzero(true_track == t)
    ids = predicted[rows[np.argsort(frame[rows], kind="stable")]]
    switches += int(np.sum(ids[1:] != ids[:-1]))
  pure = 0
  for p in np.unique(predicted):
    pure += np.bincount(true_track[predicted == p]).max()
  return dict(true_tracks=int(len(np.unique(true_track))),
              predicted_tracks=int(len(np.unique(predicted))),
              rows=int(len(frame)), id_switches=switches,
              purity=round(pure / max(len(frame), 1), 4))


def _track_video(xy, confidence, rng, settings) -> dict:
  """Hides the ids of a (T, P) video's present rows, shuffles them, and
  scores `assign_tracks` (with the config's `threshold` and `max_gap`) on
  them."""
  present = (confidence > 0).any(-1)
  frame, person = np.nonzero(present)
  order = rng.permutation(len(frame))
  frame, person = frame[order], person[order]
  predicted = tracking.assign_tracks(
      frame, xy[frame, person], confidence[frame, person],
      np.full(len(frame), -1), threshold=settings.threshold,
      max_gap=settings.max_gap)
  return tracking_scores(frame, person, predicted)


def _sum_tracking(parts) -> dict:
  rows = sum(p["rows"] for p in parts)
  return dict(videos=len(parts),
              true_tracks=sum(p["true_tracks"] for p in parts),
              predicted_tracks=sum(p["predicted_tracks"] for p in parts),
              rows=rows, id_switches=sum(p["id_switches"] for p in parts),
              purity=round(sum(p["purity"] * p["rows"] for p in parts) /
                           max(rows, 1), 4))


def _run_methods(layout, *, methods, keypoint_format, params, fit_config):
  """{name: [FitResult per video]} of every method on the videos of a
  `sequences.VideoLayout`, fitted in one call per warm start (each video as
  alone); fits are shared between methods that differ only in smoothing.
  Also the seconds of each warm start's fits."""
  fits, timings = {}, {}
  upright = fit_config.get("upright_beyond_deg")
  upright = unroll_lib.UPRIGHT_BEYOND_DEG if upright is None else upright
  align = fit_config.get("align")
  for warm in dict.fromkeys(warm for _, warm, _ in methods):
    start = time.perf_counter()
    fits[warm] = sequences.fit_tracks(
        layout.xy, layout.confidence, keypoint_format=keypoint_format,
        camera=layout.camera, params=params, warm_start=warm,
        max_gap=layout.max_gap, frames=layout.frames, track=layout.track,
        chain_length=fit_config.chain_length,
        segment_frames=fit_config.get("segment_frames"),
        chunk_size=fit_config.chunk_size, upright_beyond_deg=upright,
        align=True if align is None else align)
    timings[warm] = time.perf_counter() - start
  out = {}
  for name, warm, sigma in methods:
    out[name] = layout.split(sequences.smooth_tracks(
        fits[warm], sigma, keypoint_format=keypoint_format, params=params,
        frames=layout.frames, track=layout.track))
  return out, timings


def evaluate_synthetic(clips, config, params, split_config, seed,
                       log=print) -> dict:
  """Every method on `split_config.num_videos` videos of `clips`."""
  methods = method_names(config)
  rng = np.random.default_rng(seed)
  videos, track_scores = [], []
  for i in range(split_config.num_videos):
    videos.append(videos_lib.make_video(
        clips, seed + i, num_frames=split_config.num_frames, params=params,
        **config.video))
    track_scores.append(_track_video(videos[-1].xy, videos[-1].confidence,
                                     rng, config.tracking))
    log(f"  video {i + 1}/{split_config.num_videos}: "
        f"{', '.join(videos[-1].clips)}")
  layout = sequences.lay_out_videos(
      [v.xy for v in videos], [v.confidence for v in videos],
      camera=[v.intrinsics for v in videos] if config.fit.intrinsics
      else None, max_gap=config.fit.max_gap)
  results, seconds = _run_methods(
      layout, methods=methods, keypoint_format=videos[0].keypoint_format,
      params=params, fit_config=config.fit)
  totals = {name: _Totals() for name, _, _ in methods}
  for name, per_video in results.items():
    for result, video in zip(per_video, videos):
      score_video(result, video, totals[name])
  frames = split_config.num_videos * split_config.num_frames
  return dict(
      videos=split_config.num_videos, frames=frames,
      people_frames=frames * config.video.num_people,
      methods={name: totals[name].means() for name, _, _ in methods},
      tracking=_sum_tracking(track_scores),
      fit_seconds={_start_name(w): round(s, 2) for w, s in seconds.items()})


def evaluate_posetrack(config, params, seed) -> dict:
  """Tracking and fitting on the PoseTrack annotations, and jitter on
  perturbed static sequences made from them (see the module docstring)."""
  settings = config.posetrack
  people = read_keypoints(settings.annotations)
  video_of = np.array([str(Path(name).parent) for name in people.image])
  methods = method_names(config)
  out = dict(file=settings.annotations, keypoint_format=people.keypoint_format,
             videos={})
  rng = np.random.default_rng(seed)
  annotated, static, static_tracking = [], [], []
  for video in sorted(set(video_of)):
    rows = np.flatnonzero(video_of == video)
    frame, xy = people.frame[rows], people.xy[rows]
    confidence = people.confidence[rows]
    track = tracking.assign_tracks(frame, xy, confidence, people.track[rows])
    arrays = tracking.track_arrays(frame, track, xy, confidence)
    annotated.append(arrays)
    out["videos"][video] = dict(
        annotated_frames=len(arrays.frames), people=len(rows),
        tracks=int(track.max()) + 1,
        given_track_ids=bool(np.all(people.track[rows] >= 0)))

    # Perturbed static sequences: each annotated frame's people, repeated.
    num = settings.frames
    present = arrays.confidence[0] > 0  # (P, K) the annotation's points
    size = cameras.person_size(np.asarray(arrays.xy[0]), present)
    noise = settings.noise * size[None, :, None, None] * rng.standard_normal(
        (num,) + arrays.xy.shape[1:])
    kept = present[None] & (rng.random((num,) + present.shape) <
                            settings.keep_prob)
    static_xy = np.where(kept[..., None], arrays.xy[0][None] + noise, 0.0)
    static_conf = np.where(kept, 1.0, 0.0).astype(np.float32)
    static.append((static_xy, static_conf,
                   np.broadcast_to(arrays.xy[0], static_xy.shape)))
    static_tracking.append(_track_video(static_xy, static_conf, rng,
                                        config.tracking))

  fit = functools.partial(_run_methods, methods=methods, params=params,
                          keypoint_format=people.keypoint_format,
                          fit_config=config.fit)
  results, _ = fit(sequences.lay_out_videos(
      [a.xy for a in annotated], [a.confidence for a in annotated],
      frames=[a.frames for a in annotated], max_gap=config.fit.max_gap))
  for name, per_video in results.items():
    for video, arrays, result in zip(out["videos"], annotated, per_video):
      totals = _Totals()
      ok = result.fit_ok
      pixels, percent = losses.keypoint_errors(
          result.keypoints_2d[ok], arrays.xy[ok], arrays.confidence[ok])
      totals.add("error_2d_pct", percent)
      totals.add("error_2d_px", pixels)
      out["videos"][video][name] = dict(fitted=int(ok.sum()),
                                        **totals.means())

  results, _ = fit(sequences.lay_out_videos(
      [xy for xy, _, _ in static], [conf for _, conf, _ in static],
      max_gap=config.fit.max_gap))
  static_totals = {name: _Totals() for name, _, _ in methods}
  flat = lambda a: a.reshape((-1,) + a.shape[2:])
  for name, per_video in results.items():
    for (_, static_conf, clean), result in zip(static, per_video):
      ok = result.fit_ok
      static_totals[name].add_mean("jitter", MM * metrics.mean_acceleration(
          _pelvis_aligned(result.joints), ok),
                                   metrics.acceleration_frames(ok))
      _, percent = losses.keypoint_errors(
          flat(result.keypoints_2d), flat(clean), flat(static_conf))
      static_totals[name].add("error_2d_pct", percent[flat(ok)])
  out["perturbed_static"] = dict(
      frames=settings.frames, noise=settings.noise,
      keep_prob=settings.keep_prob,
      note=("each annotated person repeated for `frames` frames with fresh "
            "2D noise (std = noise x the annotation's box long side) and "
            "dropped points; the truth is static, so all acceleration is "
            "jitter (truth 0); 2D error against the clean annotation"),
      methods={name: static_totals[name].means() for name, _, _ in methods},
      tracking=_sum_tracking(static_tracking))
  unannotated = Path(settings.videos)
  frames = sorted(p.name for p in unannotated.glob("*/*.jpg"))
  out["unannotated_video_frames"] = dict(
      folder=str(unannotated), images=len(frames),
      note=("images only: no keypoint file covers them, so nothing can be "
            "fitted or measured there without a 2D detector"))
  return out


def evaluate_videos(config: ml_collections.ConfigDict, log=print) -> dict:
  """The whole sequence evaluation of `configs/sequences.py`."""
  start = time.perf_counter()
  params = load_pretrained(config.weights or None)
  model = load_body(params.config.body_model,
                    params.config.num_betas).model
  clips = videos_lib.held_out_clips(
      config.mocap_root, model, validation=dict(config.validation),
      cmu_step=config.cmu_step, splits=tuple(config.splits),
      cache=config.clips_cache or None)
  report = dict(methods=[dict(name=n, warm_start=w, sigma=s)
                         for n, w, s in method_names(config)],
                splits={})
  for index, (split, split_config) in enumerate(sorted(
      config.splits.items())):
    log(f"{split}: {split_config.num_videos} videos of "
        f"{split_config.num_frames} frames")
    report["splits"][split] = evaluate_synthetic(
        clips[split], config, params, split_config,
        config.seed + 1000 * index, log=log)
  if config.posetrack.annotations:
    log("posetrack")
    report["posetrack"] = evaluate_posetrack(config, params, config.seed)
  report["seconds"] = round(time.perf_counter() - start, 1)
  return report
