"""Fitting the people of a real annotation file: 2D errors and overlays."""

import json
from pathlib import Path

import matplotlib.image
import ml_collections
import numpy as np
import pytest

from lgd_jax.body.cache import load_body
from lgd_jax.evaluation import methods
from lgd_jax.evaluation.images import fit_annotations, method_errors
from lgd_jax.losses import keypoint_errors

DATA = Path(__file__).parents[2] / "shared" / "data" / "keypoints"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real keypoint data not found at {DATA} (the "
    "shared data folder next to the repository)")


def test_keypoint_errors():
  xy = np.zeros((2, 3, 2))
  xy[:, 1] = (40, 0)  # a 40-pixel box
  xy[:, 2] = (0, 20)
  fitted = xy + (3, 4)  # 5 pixels off everywhere
  fitted[0, 2] = (100, 100)  # far off, but not visible
  confidence = np.array([[1, 1, 0], [0, 0, 0]])
  pixels, percent = keypoint_errors(fitted, xy, confidence)
  np.testing.assert_allclose(pixels[0], 5)
  np.testing.assert_allclose(percent[0], 12.5)
  assert np.isnan(pixels[1]) and np.isnan(percent[1])


@needs_data
def test_fit_coco_annotations(tmp_path):
  path = DATA / "coco" / "test_coco.json"
  raw = json.loads(path.read_text())
  labelled = sum(any(ann["keypoints"][2::3]) for ann in raw["annotations"])
  summary = fit_annotations(path, overlay_folder=tmp_path, max_overlays=2)
  assert summary["file"] == str(path)
  assert summary["format"] == "coco17"
  assert summary["annotations"] == len(raw["annotations"])
  assert summary["people"] == labelled == 12
  # All 12 have at least 6 labelled points.
  assert summary["people_fitted"] == 12
  # The fit reprojects the body onto these very points: a few percent of
  # the person's size. A failed fit (a mirrored or collapsed body) is off
  # by a third of it or more.
  assert 0 < summary["error_pct_median"] < 15
  assert summary["error_pct_median"] <= summary["error_pct_mean"] < 20
  assert 0 < summary["error_px_median"] < 40
  assert summary["fit_seconds"] > 0 and summary["people_per_second"] > 0
  assert len(summary["overlays"]) == 2
  for overlay, image in zip(summary["overlays"],
                            ("000000000785.jpg", "000000040083.jpg")):
    assert Path(overlay).parent == tmp_path
    assert Path(overlay).name.endswith(image.replace(".jpg", ".png"))
    height, width = matplotlib.image.imread(path.parent / image).shape[:2]
    assert matplotlib.image.imread(overlay).shape[:2] == (height, width)


@needs_data
def test_chunks_fit_like_one_call():
  """Several calls, the last padded, give the errors of one call."""
  path = DATA / "coco" / "test_coco.json"  # 12 people: chunks of 5, 5, 2
  whole = fit_annotations(path)
  chunked = fit_annotations(path, chunk_size=5)
  for key in ("people", "people_fitted", "error_px_mean", "error_pct_median"):
    assert chunked[key] == pytest.approx(whole[key], rel=1e-4), key
  assert whole["overlays"] == chunked["overlays"] == []


@needs_data
def test_a_method_measured_like_fit(tiny_weights_file):
  """The harness's learned method on a file scores what `fit` scores: the
  same network sees the same normalised points, so the same 2D errors."""
  path = DATA / "coco" / "test_coco.json"
  summary = fit_annotations(path, weights=str(tiny_weights_file))
  make = methods.make_method(ml_collections.ConfigDict(
      dict(kind="learned", weights=str(tiny_weights_file))))
  errors = method_errors(path, make, load_body(None, 10))
  assert errors["people_fitted"] == summary["people_fitted"] == 12
  for field in ("error_pct_median", "error_pct_mean"):
    assert errors[field] == pytest.approx(summary[field], rel=1e-3)
