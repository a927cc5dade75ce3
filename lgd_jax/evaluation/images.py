"""Fitting every person of a real 2D keypoint annotation file.

How well the fitted bodies reproject onto the annotated keypoints (there is
no 3D ground truth for photos), how fast they fit, and overlays of the
meshes on the photos to check them by eye.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax import losses
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib

from lgd_jax.evaluation import timing
from lgd_jax.body.cache import load_body
from lgd_jax.fitting import fit, fit_in_chunks
from lgd_jax.weights import load_pretrained
from lgd_jax.readers import read_keypoints
from lgd_jax.tool.overlays import find_pictures, save_overlays
from lgd_jax.tool.render import project_fit_mesh

CHUNK = 1024  # people per compiled fit call


def fit_annotations(path, weights=None, image_folder=None,
                    overlay_folder=None, max_overlays=8,
                    chunk_size=CHUNK,
                    upright_beyond_deg=unroll_lib.UPRIGHT_BEYOND_DEG,
                    align: bool = True) -> dict:
  """Fits everyone annotated in a keypoint file and measures the fits.

  Every person with at least one labelled point is fitted (with fewer than 6
  the fit fails, see `lgd_jax.fit`), in compiled calls of at most
  `chunk_size` people.

  Args:
    path: a keypoint file `lgd_jax.read_keypoints` reads (format detected).
    weights: a file written by `lgd_jax.weights.save_pretrained`; default:
      the bundled weights.
    image_folder: where the file's images are: an image named `a/b/c.jpg`
      is looked up as `a/b/c.jpg`, then `b/c.jpg`, then `c.jpg` in it;
      default: the annotation file's folder.
    overlay_folder: when given, overlays of the fitted meshes and the
      annotated keypoints, labelled with each person's 2D error, are written
      there for the first `max_overlays` images found, as
      `{image index}_{image name}.png`.
    max_overlays: see `overlay_folder`.
    chunk_size: people per fit call.
    upright_beyond_deg, align: as in `fit`.

  Returns:
    A dict: `file`, `format`, `annotations` (rows in the file), `people`
    (those with labelled points), `people_fitted` (fit_ok), the mean and
    median over the fitted people of their 2D errors (`error_px_mean`,
    `error_px_median`, `error_pct_mean`, `error_pct_median`; percent of
    their size, see `keypoint_errors`), `fit_seconds` (all the fit calls,
    compilation included), `people_per_second` (the median time of the
    first chunk's compiled call, compilation excluded), `overlays` (paths
    written).
  """
  keypoints = read_keypoints(path)
  pretrained = load_pretrained(weights)
  rows = np.flatnonzero((keypoints.confidence > 0).any(-1))
  xy, confidence = keypoints.xy[rows], keypoints.confidence[rows]
  if len(rows):
    start = time.perf_counter()
    result = fit_in_chunks(xy, confidence,
                           keypoint_format=keypoints.keypoint_format,
                           chunk_size=chunk_size, params=pretrained,
                           upright_beyond_deg=upright_beyond_deg, align=align)
    fit_seconds = time.perf_counter() - start
    size = min(chunk_size, len(rows))
    people_per_second = size / timing.median_seconds(
        lambda: fit(xy[:size], confidence[:size], params=pretrained,
                    keypoint_format=keypoints.keypoint_format,
                    upright_beyond_deg=upright_beyond_deg, align=align),
        min_seconds=0.5, min_calls=3)
    ok = result.fit_ok
    pixels, percent = losses.keypoint_errors(result.keypoints_2d, xy, confidence)
  else:  # nothing to fit
    ok, pixels, percent = np.zeros(0, bool), np.zeros(0), np.zeros(0)
    fit_seconds, people_per_second = 0.0, float("nan")
  summary = dict(file=str(path), format=keypoints.keypoint_format,
                 annotations=len(keypoints), people=len(rows),
                 people_fitted=int(ok.sum()),
                 **_statistics(pixels[ok], percent[ok]),
                 fit_seconds=fit_seconds, people_per_second=people_per_second,
                 overlays=[])
  if overlay_folder is not None and len(rows):
    image_folder = Path(path).parent if image_folder is None else Path(
        image_folder)
    summary["overlays"] = [str(overlay) for overlay in _save_overlays(
        keypoints, rows, result, percent, pretrained.config, image_folder,
        Path(overlay_folder), max_overlays)]
  return summary


def method_errors(path, make_method, body) -> dict:
  """Another fitting method (e.g. SMPLify, `methods.make_method`) on every
  annotated person of a keypoint file, measured as `fit_annotations`
  measures the learned optimizer's fits: the mean and median over the
  people with a finite fit of their 2D errors in percent of their size
  (`error_pct_mean`, `error_pct_median`), and `people_fitted`.

  The method sees what `fit` sees: the format's points scattered into the
  canonical set, visible where annotated, normalised to the person's box;
  in those units the box's longer side is 2, so the percent error needs no
  pixels.
  """
  keypoints = read_keypoints(path)
  rows = np.flatnonzero((keypoints.confidence > 0).any(-1))
  if not len(rows):
    return dict(people_fitted=0, error_pct_mean=np.nan,
                error_pct_median=np.nan)
  xy, confidence = kp.to_canonical(
      jnp.asarray(keypoints.xy[rows], jnp.float32),
      jnp.asarray(keypoints.confidence[rows] > 0, jnp.float32),
      keypoints.keypoint_format)
  norm = cameras.normalization(xy, confidence)
  normalised = norm.apply(xy)
  thetas, _ = make_method(body, keypoints.keypoint_format)(normalised,
                                                           confidence)
  final = thetas[-1]
  _, projected = theta_lib.keypoints(final, body)
  percent = np.asarray(losses.normalized_keypoint_error(
      projected, normalised, confidence))
  ok = (np.asarray(norm.enough_visible) &
        np.all(np.isfinite(np.asarray(final)), axis=-1))
  fitted = percent[ok]
  return dict(people_fitted=int(ok.sum()),
              error_pct_mean=float(np.mean(fitted)) if ok.any() else np.nan,
              error_pct_median=(float(np.median(fitted)) if ok.any()
                                else np.nan))


def _statistics(pixels, percent) -> dict:
  """Mean and median 2D errors (NaN without people)."""
  return {f"error_{unit}_{name}": float(statistic(errors)) if len(errors)
          else float("nan")
          for unit, errors in (("px", pixels), ("pct", percent))
          for name, statistic in (("mean", np.mean), ("median", np.median))}


def _save_overlays(keypoints, rows, result, percent, config, image_folder,
                   overlay_folder, max_overlays):
  """Writes `fit_annotations`' overlays; returns their paths."""
  by_frame = {}  # image index -> its keypoint rows
  for row in rows:
    by_frame.setdefault(int(keypoints.frame[row]), []).append(row)
  images = list(itertools.islice(
      find_pictures(keypoints, by_frame, image_folder), max_overlays))
  if not images:
    return []
  model = load_body(config.body_model, config.num_betas).model  # fit's
  position = {int(row): p for p, row in enumerate(rows)}  # in `result`
  # One projection for everyone drawn: one compilation of the body model.
  drawn = np.array([position[r] for _, _, people in images for r in people])
  mesh_pixels, mesh_points = project_fit_mesh(
      model, result.pose[drawn], result.betas[drawn],
      jax.tree.map(lambda a: a[drawn], result.camera))
  meshes = {int(p): (mesh_pixels[i], mesh_points[i])
            for i, p in enumerate(drawn)}

  def people(keypoint_rows):
    return [(meshes[position[r]] if result.fit_ok[position[r]] else None,
             percent[position[r]]) for r in keypoint_rows]

  return save_overlays(
      [(overlay_folder / f"{frame:04d}_{photo.stem}.png", photo, people_rows)
       for frame, photo, people_rows in images],
      keypoints, people, model.faces)
