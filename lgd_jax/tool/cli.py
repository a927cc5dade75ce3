r"""`lgd-fit`: SMPL bodies from 2D keypoint files.

  lgd-fit --demo                                   # the bundled example
  lgd-fit --input openpose_json/ --output fits/    # a video's OpenPose files
  lgd-fit --input person_keypoints.json --images photos/ --save_overlays

Flags are parsed here; the work is `lgd_jax.tool.pipeline.run`.
"""

import functools
import importlib.resources
import os
import re
import sys
from pathlib import Path

from absl import app
from absl import flags

from lgd_jax import sequences
from lgd_jax.body.io import BODY_MODEL_ENV
from lgd_jax.errors import FileProblemError
from lgd_jax.formats import FORMATS
from lgd_jax.tool import console
from lgd_jax.tool import options as options_lib
from lgd_jax.tool import pipeline

DEMO_IMAGE = "000000000785"
DEMO_OUTPUT = "outputs/demo"
_HELP = ("-h", "-help", "--help", "-helpshort", "--helpshort")


def _define_flags() -> flags.FlagValues:
  """The tool's flags, in their own `FlagValues` (for `--help`) and added
  to absl's global ones (parsed with absl's logging flags)."""
  tool = flags.FlagValues()
  define = {kind: functools.partial(getattr(flags, f"DEFINE_{kind}"),
                                    flag_values=tool)
            for kind in ("string", "enum", "float", "list", "bool",
                         "integer")}
  define["string"](
      "input", None, "OpenPose JSON file or folder (one file per frame), "
      "a folder of such folders (a video each), COCO-style or MPII "
      "annotation file, or .npy/.npz keypoint array.")
  define["string"](
      "output", None, f"Output folder (default: outputs/lgd_fit; "
      f"{DEMO_OUTPUT} with --demo).")
  define["string"](
      "images", None, "Folder of the photos (overlays, image sizes); "
      "default: the input's folder.")
  define["enum"](
      "format", None, list(FORMATS), "Keypoint format; default: detected "
      "from the file (asked for when ambiguous).")
  define["enum"](
      "camera", "weak", list(options_lib.CAMERAS), "weak: weak perspective; "
      "perspective: known intrinsics (--focal, principal point at the image "
      "centre), which gives a translation in metres.")
  define["float"](
      "focal", None, "Focal length in pixels; implies --camera=perspective. "
      "Default for perspective: the image diagonal.")
  define["list"](
      "image_size", None, "WIDTH,HEIGHT of every image, when neither the "
      "input file nor --images gives it (perspective only).")
  define["enum"](
      "sequence", "auto", list(options_lib.SEQUENCE_MODES), "on: a video "
      "(track people, one npz per track); off: independent images; auto: on "
      "for OpenPose folders (and folders of them) and files with track "
      "ids.")
  define["enum"](
      "warm_start", options_lib.Options.warm_start,
      list(sequences.WARM_STARTS), "Videos: checked: start each frame "
      "from the track's previous fit and keep it where it explains the "
      "keypoints no worse than the frame's independent fit, else that one "
      "(the most accurate, with --smooth 2 or none; two fits a frame, the "
      f"warm ones for segments of at least {sequences.SEGMENT_FRAMES} "
      "frames side by side, each segment's first frame independent); "
      "anchored: fit every frame, then again from the track's last "
      "independent fit (about twice the cost of off); restarted: from the "
      f"previous fit, cold again after every {sequences.CHAIN_LENGTH} fits; "
      "chained: from the previous fit, never cold (errors pile up); off: "
      "independent fits. See the README's Videos.")
  define["float"](
      "smooth", options_lib.Options.smooth, "Videos: Gaussian smoothing of "
      "each track's parameters, sigma in frames (0: off).")
  define["float"]("fps", 30.0, "Videos: frame rate to record.")
  define["bool"]("save_meshes", False, "Write a mesh per fitted person.")
  define["enum"]("mesh_format", "obj", list(options_lib.MESH_FORMATS),
                 "Mesh file format.")
  define["bool"](
      "save_overlays", False, "Write a picture per image found: meshes, "
      "keypoints, skeletons and each person's 2D error over the photo.")
  define["integer"]("chunk_size", 1024, "People per compiled fit call.")
  define["float"](
      "min_confidence", 0.0, "Keypoints with confidence at or below it "
      "count as missing.")
  define["integer"](
      "descent_iterations", 0, "Gradient-descent iterations after the "
      "learned steps: the keypoints explained more closely, at a cost "
      "(README: 'Gradient descent after the learned steps'); 0: none.")
  define["float"](
      "upright_beyond_deg", options_lib.Options.upright_beyond_deg,
      "People whose body axis is turned more than this many degrees from "
      "the image's vertical are fitted turned upright (README: 'Upright in "
      "the image'); 180: never.")
  define["bool"](
      "align", options_lib.Options.align, "Turn, scale and shift each fit "
      "in the image onto its keypoints after the learned steps (README: "
      "'Aligned in the image'); --noalign: the learned fit as it is.")
  define["string"](
      "weights", None, "Network weights (.npz from "
      "experiments.export_weights); default: the bundled ones.")
  define["string"](
      "body_model", os.environ.get(BODY_MODEL_ENV), "Body-model file or "
      "folder to fit with (same number of betas as the network); default: "
      f"${BODY_MODEL_ENV} when set, else the one the weights were trained "
      "with.")
  define["bool"](
      "progress", True, "Show progress bars (--noprogress: none, e.g. in "
      "logs).")
  define["bool"](
      "demo", False, "Fit the bundled COCO example (000000000785.jpg, CC BY "
      "2.0) and write an overlay, a mesh and an npz (in "
      f"{DEMO_OUTPUT} unless --output).")
  flags.FLAGS.append_flag_values(tool)
  return tool


def demo_paths() -> tuple[Path, Path]:
  """The bundled example: (annotation file, image folder)."""
  folder = Path(str(importlib.resources.files("lgd_jax") / "assets" /
                    "examples"))
  return folder / f"{DEMO_IMAGE}.json", folder


def options_from_flags(tool: flags.FlagValues) -> options_lib.Options:
  """The `Options` the parsed flags ask for."""
  value = lambda name: tool[name].value
  input_path, images = value("input"), value("images")
  save_meshes = value("mesh_format") if value("save_meshes") else ""
  save_overlays = value("save_overlays")
  output = value("output") or "outputs/lgd_fit"
  if value("focal") is not None and tool["camera"].present and (
      value("camera") == "weak"):
    raise app.UsageError("--focal is for the perspective camera: drop "
                         "--camera=weak or --focal")
  if value("demo"):
    if input_path:
      raise app.UsageError("--demo fits the bundled example: drop --input")
    annotation, folder = demo_paths()
    input_path, images = str(annotation), str(folder)
    save_meshes, save_overlays = value("mesh_format"), True
    output = value("output") or DEMO_OUTPUT
  if not input_path:
    raise app.UsageError("--input is required (or --demo)")
  image_size = None
  if value("image_size"):
    try:
      image_size = tuple(int(v) for v in value("image_size"))
    except ValueError:
      raise app.UsageError("--image_size must be WIDTH,HEIGHT in pixels, "
                           f"got {','.join(value('image_size'))}") from None
  try:
    return options_lib.Options(
        input=input_path, output=output, images=images,
        keypoint_format=value("format"), camera=value("camera"),
        focal=value("focal"), image_size=image_size,
        sequence=value("sequence"), warm_start=value("warm_start"),
        smooth=value("smooth"), fps=value("fps"), save_meshes=save_meshes,
        save_overlays=save_overlays, chunk_size=value("chunk_size"),
        min_confidence=value("min_confidence"),
        descent_iterations=value("descent_iterations"),
        upright_beyond_deg=value("upright_beyond_deg"),
        align=value("align"), weights=value("weights"),
        body_model=value("body_model") or None, progress=value("progress"))
  except ValueError as e:  # option checks name the option without "--"
    raise app.UsageError(f"bad option: {e}") from None


def _as_flags(message: str) -> str:
  """The readers' advice "pass format=" is --format here."""
  return re.sub(r"\bformat=", "--format", message)


def _parse(argv, tool: flags.FlagValues):
  """absl's parsing, but -h, --help and --helpshort print the tool's own
  flags (not absl's logging flags: those are --helpfull's)."""
  own = argv[1:argv.index("--")] if "--" in argv else argv[1:]
  if any(arg in _HELP for arg in own):
    print(__doc__.strip() + "\n\nflags:\n" + "\n".join(
        line for line in tool.get_help(include_special_flags=False)
        .splitlines() if line.startswith(" ")) +
          "\n  --helpfull: these and absl's own flags (logging, ...)")
    sys.exit(0)
  return app.parse_flags_with_usage(argv)


def _main(argv, tool: flags.FlagValues):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  console.quiet_info_logs()
  console.plain_warnings(_as_flags)
  options = options_from_flags(tool)
  try:
    summary = pipeline.run(options)
  except (FileProblemError, ValueError) as e:
    print(f"lgd-fit: error: {_as_flags(str(e))}", file=sys.stderr)
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
        f"{summary['total_seconds']:.1f} s: "
        + (f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}")
        + f" people/s; outputs in {summary['output']}")


def main():
  """Console-script entry point."""
  tool = _define_flags()
  app.run(functools.partial(_main, tool=tool),
          flags_parser=functools.partial(_parse, tool=tool))


if __name__ == "__main__":
  main()
