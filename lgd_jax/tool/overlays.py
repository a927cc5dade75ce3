"""Pictures of fits over their photos: meshes, keypoints, skeletons and
each person's 2D error; for `lgd-fit --save_overlays` and
`lgd_jax.evaluation.images`."""

from __future__ import annotations

import numpy as np
import tqdm

from lgd_jax.tool import images as image_io
from lgd_jax.tool import outputs
from lgd_jax.tool import render


def find_pictures(keypoints, groups: dict, image_folder):
  """Yields (name, photo, rows) for each group {name: keypoint rows of one
  image} whose photo (its first row's image) is in `image_folder`."""
  for name, rows in groups.items():
    image = keypoints.image[rows[0]]
    photo = image_io.find_image(image_folder, image) if image else None
    if photo is not None:
      yield name, photo, np.asarray(rows)


def save_overlays(jobs, keypoints, people, faces, *, min_confidence=0.0,
                  progress=False, keep_existing=False) -> list:
  """Draws one overlay per job.

  Args:
    jobs: (overlay path, photo, keypoint rows on it) per picture.
    keypoints: the `KeypointSet` the rows index.
    people: rows -> per row (its mesh as `render.project_fit_mesh` gives
      it, or None when not fitted; its 2D error in percent).
    faces: the body model's faces.
    min_confidence: keypoints at or below it are drawn as missing.
    progress: show a progress bar.
    keep_existing: leave overlays that exist (resuming a run).

  Returns:
    The overlay paths, written or kept.
  """
  written = []
  for path, photo, rows in tqdm.tqdm(jobs, desc="overlays", unit="images",
                                     disable=not progress):
    written.append(str(path))
    if keep_existing and path.exists():
      continue
    drawn = people(rows)
    render.save_fit_overlay(
        path, image_io.read_image(photo), [mesh for mesh, _ in drawn], faces,
        keypoints.xy[rows], keypoints.confidence[rows],
        keypoints.keypoint_format,
        labels=["not fitted" if mesh is None else f"2D err {error:.1f}%"
                for mesh, error in drawn],
        min_confidence=min_confidence)
  return written


def saved_people(model, locators):
  """`save_overlays`' `people` from the written npz files: `locators[row]`
  is a row's (file, index in it; None for a person's own file)."""
  reader = outputs.FitReader()

  def person(row):
    fit = reader.read(*locators[row])
    if not fit.fit_ok:
      return None, fit.error_pct
    return render.project_fit_mesh(model, fit.pose, fit.betas,
                                   fit.camera), fit.error_pct

  return lambda rows: [person(row) for row in rows]
