r"""`lgd-fit`: SMPL bodies from 2D keypoint files.

  lgd-fit --demo                                   # the bundled example
  lgd-fit --input openpose_json/ --output fits/    # a video's OpenPose files
  lgd-fit --input person_keypoints.json --images photos/ --save_overlays

Flags are parsed here; the work is `lgd_jax.tool.pipeline.run`.
"""

import importlib.resources
import sys
from pathlib import Path

from absl import app
from absl import flags
from absl import logging

from lgd_jax.tool import pipeline
from lgd_jax.errors import FileProblemError
from lgd_jax.formats import FORMATS

DEMO_IMAGE = "000000000785"
DEMO_OUTPUT = "outputs/demo"

_INPUT = flags.DEFINE_string(
    "input", None, "OpenPose JSON file or folder (one file per frame), COCO-"
    "style or MPII annotation file, or .npy/.npz keypoint array.")
_OUTPUT = flags.DEFINE_string(
    "output", None, f"Output folder (default: outputs/lgd_fit; {DEMO_OUTPUT} "
    "with --demo).")
_IMAGES = flags.DEFINE_string(
    "images", None, "Folder of the photos (overlays, image sizes); default: "
    "the input's folder.")
_FORMAT = flags.DEFINE_enum(
    "format", None, list(FORMATS), "Keypoint format; default: detected from "
    "the file (asked for when ambiguous).")
_CAMERA = flags.DEFINE_enum(
    "camera", "weak", list(pipeline.CAMERAS), "weak: weak perspective; "
    "perspective: known intrinsics (--focal, principal point at the image "
    "centre), which gives a translation in metres.")
_FOCAL = flags.DEFINE_float(
    "focal", None, "Focal length in pixels; implies --camera=perspective. "
    "Default for perspective: the image diagonal.")
_IMAGE_SIZE = flags.DEFINE_list(
    "image_size", None, "WIDTH,HEIGHT of every image, when neither the input "
    "file nor --images gives it (perspective only).")
_SEQUENCE = flags.DEFINE_enum(
    "sequence", "auto", list(pipeline.SEQUENCE_MODES), "on: a video (track "
    "people, one npz per track); off: independent images; auto: on for "
    "OpenPose folders and files with track ids.")
_WARM_START = flags.DEFINE_bool(
    "warm_start", pipeline.Options.warm_start, "Videos: start each frame's "
    "fit from the track's previous fit (measured worse with the bundled "
    "network; see the README).")
_SMOOTH = flags.DEFINE_float(
    "smooth", pipeline.Options.smooth, "Videos: Gaussian smoothing of each "
    "track's parameters, sigma in frames (0: off).")
_FPS = flags.DEFINE_float("fps", 30.0, "Videos: frame rate to record.")
_SAVE_MESHES = flags.DEFINE_bool("save_meshes", False,
                                 "Write a mesh per fitted person.")
_MESH_FORMAT = flags.DEFINE_enum("mesh_format", "obj",
                                 list(pipeline.MESH_FORMATS),
                                 "Mesh file format.")
_SAVE_OVERLAYS = flags.DEFINE_bool(
    "save_overlays", False, "Write a picture per image found: meshes, "
    "keypoints, skeletons and each person's 2D error over the photo.")
_CHUNK_SIZE = flags.DEFINE_integer("chunk_size", 1024,
                                   "People per compiled fit call.")
_MIN_CONFIDENCE = flags.DEFINE_float(
    "min_confidence", 0.0, "Keypoints with confidence at or below it count "
    "as missing.")
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "Network weights (.npz from experiments.export_weights);"
    " default: the bundled ones.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.")
_DEMO = flags.DEFINE_bool(
    "demo", False, "Fit the bundled COCO example (000000000785.jpg, CC BY "
    "2.0) and write an overlay, a mesh and an npz.")


def demo_paths() -> tuple[Path, Path]:
  """The bundled example: (annotation file, image folder)."""
  folder = Path(str(importlib.resources.files("lgd_jax") / "assets" /
                    "examples"))
  return folder / f"{DEMO_IMAGE}.json", folder


def options_from_flags() -> pipeline.Options:
  """The `pipeline.Options` the flags ask for."""
  input_path, images = _INPUT.value, _IMAGES.value
  save_meshes = _MESH_FORMAT.value if _SAVE_MESHES.value else ""
  save_overlays = _SAVE_OVERLAYS.value
  output = _OUTPUT.value or "outputs/lgd_fit"
  if _FOCAL.value is not None and flags.FLAGS["camera"].present and (
      _CAMERA.value == "weak"):
    raise app.UsageError("--focal is for the perspective camera: drop "
                         "--camera=weak or --focal")
  if _DEMO.value:
    if input_path:
      raise app.UsageError("--demo fits the bundled example: drop --input")
    annotation, folder = demo_paths()
    input_path, images = str(annotation), str(folder)
    save_meshes, save_overlays = _MESH_FORMAT.value, True
    output = _OUTPUT.value or DEMO_OUTPUT
  if not input_path:
    raise app.UsageError("--input is required (or --demo)")
  image_size = None
  if _IMAGE_SIZE.value:
    try:
      image_size = tuple(int(v) for v in _IMAGE_SIZE.value)
    except ValueError:
      raise app.UsageError("--image_size must be WIDTH,HEIGHT in pixels, "
                           f"got {','.join(_IMAGE_SIZE.value)}") from None
  try:
    return pipeline.Options(
        input=input_path, output=output, images=images,
        keypoint_format=_FORMAT.value, camera=_CAMERA.value,
        focal=_FOCAL.value, image_size=image_size, sequence=_SEQUENCE.value,
        warm_start=_WARM_START.value, smooth=_SMOOTH.value, fps=_FPS.value,
        save_meshes=save_meshes, save_overlays=save_overlays,
        chunk_size=_CHUNK_SIZE.value, min_confidence=_MIN_CONFIDENCE.value,
        weights=_WEIGHTS.value, progress=_PROGRESS.value)
  except ValueError as e:  # option checks name the option without "--"
    raise app.UsageError(f"bad option: {e}") from None


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # JAX's backend probing is INFO
    logging.set_verbosity(logging.WARNING)
  options = options_from_flags()
  try:
    summary = pipeline.run(options)
  except (FileProblemError, ValueError) as e:
    # The reader's advice "pass format=" is --format here.
    print(f"lgd-fit: error: {str(e).replace('format=', '--format')}",
          file=sys.stderr)
    return 1
  _report(summary)
  return 0


def _report(summary: dict) -> None:
  """The run's last lines: problems, then what was done and how fast."""
  if summary["files_with_errors"]:
    print(f"skipped {len(summary['files_with_errors'])} unreadable files "
          "(listed above and in summary.json)", file=sys.stderr)
  done = summary["people_already_done"]
  rate = summary["people_per_second"]
  people = summary["people"]
  print(f"{people} {'person' if people == 1 else 'people'} "
        f"({summary['people_fitted']} fitted, "
        f"{summary['people_not_fitted']} not fittable"
        + (f", {done} already done" if done else "") + ") in "
        f"{summary['total_seconds']:.1f} s"
        + (f": {rate:,.{0 if rate >= 100 else 1}f} people/s" if rate else "")
        + f"; outputs in {summary['output']}")


def main():
  """Console-script entry point."""
  app.run(_main)


if __name__ == "__main__":
  main()
