r"""Fits every annotated person of the real keypoint files and reports how
well the bodies reproject (there is no 3D ground truth for photos), with
mesh overlays on the photos.

  python -m experiments.evaluate_images --keypoints=../shared/data/keypoints \
      --output=experiments/reports/evaluate_images.json \
      --overlays=outputs/image_eval

Ground-truth annotation files only: COCO, OCHuman, CrowdPose, MPII,
PoseTrack (combined and per video) and Human-Art; detection files
(`*_det_*`, `*_detections*`) and MPII-TRB (40 points, not a supported
format) are left out. `--compare` methods (default SMPLify, as in
configs/evaluate.py) fit the same people, for their 2D errors beside.
"""

from pathlib import Path

from absl import app
from absl import flags

from configs import evaluate as evaluate_config
from lgd_jax import unroll
from lgd_jax.body.cache import load_body
from lgd_jax.evaluation import images as image_evaluation
from lgd_jax.evaluation import methods
from lgd_jax.files import save_json

_KEYPOINTS = flags.DEFINE_string("keypoints", "../shared/data/keypoints",
                                 "The shared keypoint folder.")
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "Weight file, also of the learned methods compared; "
    "default: the bundled one.")
_OUTPUT = flags.DEFINE_string("output", "outputs/evaluate_images.json",
                              "JSON report to write.")
_OVERLAYS = flags.DEFINE_string("overlays", "outputs/image_eval",
                                "Folder for overlay PNGs.")
_MAX_OVERLAYS = flags.DEFINE_integer("max_overlays", 8,
                                     "Overlays per annotation file.")
_UPRIGHT = flags.DEFINE_float(
    "upright_beyond_deg", unroll.UPRIGHT_BEYOND_DEG, "As `fit`'s, also for "
    "the learned methods compared (180: never turn people upright).")
_ALIGN = flags.DEFINE_bool(
    "align", True, "As `fit`'s, also for the learned methods compared "
    "(--noalign: the learned fit as it is).")
_COMPARE = flags.DEFINE_list(
    "compare", ["smplify"], "Methods of configs/evaluate.py also fitted to "
    "every file, their 2D errors beside the learned optimizer's.")

# Annotation file -> the folder of its images (relative to --keypoints).
FILES = {
    "coco/test_coco.json": "coco",
    "ochuman/test_ochuman.json": "ochuman",
    "crowdpose/test_crowdpose.json": "crowdpose",
    "mpii/test_mpii.json": "mpii",
    "posetrack18/annotations/test_posetrack18_val.json": "posetrack18",
    "posetrack18/annotations/val/003418_mpii_test.json": "posetrack18",
    "posetrack18/annotations/val/009473_mpii_test.json": "posetrack18",
    "posetrack18/annotations/val/012834_mpii_test.json": "posetrack18",
    "humanart/test_humanart.json": "humanart",
}


def main(argv):
  del argv
  root = Path(_KEYPOINTS.value)
  evaluation = evaluate_config.get_config()
  body = load_body(evaluation.body_model, evaluation.num_betas)
  compared = {}
  for name in _COMPARE.value:
    settings = evaluation.methods[name]
    if (settings.kind == "learned" and not settings.weights and
        _WEIGHTS.value):  # e.g. lgd_descent: of this network, not bundled
      settings.weights = _WEIGHTS.value
    if settings.kind == "learned":
      settings.upright_beyond_deg = _UPRIGHT.value
      settings.align = _ALIGN.value
    compared[name] = methods.make_method(settings)
  rows = []
  for name, images in FILES.items():
    row = image_evaluation.fit_annotations(
        root / name, weights=_WEIGHTS.value, image_folder=root / images,
        overlay_folder=Path(_OVERLAYS.value) / Path(name).with_suffix(""),
        max_overlays=_MAX_OVERLAYS.value,
        upright_beyond_deg=_UPRIGHT.value, align=_ALIGN.value)
    print(f"{name:52s} {row['format']:12s} people {row['people']:3d} fitted "
          f"{row['people_fitted']:3d}  2D error median "
          f"{row['error_pct_median']:5.1f}% ({row['error_px_median']:6.1f} "
          f"px), mean {row['error_pct_mean']:5.1f}%", flush=True)
    for method, make in compared.items():
      row[method] = image_evaluation.method_errors(root / name, make, body)
      errors = row[method]
      print(f"{'':52s} {method:12s} 2D error median "
            f"{errors['error_pct_median']:5.1f}%, mean "
            f"{errors['error_pct_mean']:5.1f}%", flush=True)
    rows.append(row)
  save_json(_OUTPUT.value, rows)
  print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
  app.run(main)
