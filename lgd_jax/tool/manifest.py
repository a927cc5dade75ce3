"""`run.json`: what an output folder's files are fits of (the input and the
options that change results), so that a rerun into the folder, which keeps
the outputs there, refuses other ones instead of mixing them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lgd_jax import sequences
from lgd_jax.files import save_json
from lgd_jax.readers import KeypointSet
from lgd_jax.tool.options import Options
from lgd_jax.weights import bundled_weights_path

MANIFEST = "run.json"
# Options that change the fits: a rerun into a folder must use the same.
RESULT_OPTIONS = ("keypoint_format", "camera", "focal", "image_size",
                  "sequence", "warm_start", "smooth", "fps", "chunk_size",
                  "min_confidence", "body_model", "descent_iterations",
                  "upright_beyond_deg", "align")


def check_manifest(options: Options, keypoints: KeypointSet,
                   output: Path) -> None:
  """Writes `run.json` on a first run; on a rerun, raises ValueError when
  the input or the options that change results differ from it."""
  manifest = _manifest(options, keypoints)
  path = output / MANIFEST
  if not path.exists():
    save_json(path, manifest)
    return
  before = json.loads(path.read_text())
  # Options added since a folder was written count as their defaults.
  before.setdefault("options", {})
  # Folders written before the upright turn or the alignment existed were
  # fitted without them.
  before["options"].setdefault("upright_beyond_deg", 180.0)
  before["options"].setdefault("align", False)
  for name in RESULT_OPTIONS:
    before["options"].setdefault(name, getattr(Options, name, None))
  # Earlier releases stored warm_start as a boolean.
  before["options"]["warm_start"] = sequences.warm_start_mode(
      before["options"]["warm_start"])
  if before != manifest:
    changed = sorted(
        [k for k in manifest if k != "options" and before.get(k) !=
         manifest[k]] +
        [k for k in RESULT_OPTIONS if before.get("options", {}).get(k) !=
         manifest["options"][k]])
    raise ValueError(
        f"{output} holds the outputs of another run ({', '.join(changed)} "
        f"differ; see {path}); outputs there are kept, not redone: use a "
        "fresh --output, or delete the folder")


def _manifest(options: Options, keypoints: KeypointSet) -> dict:
  # The bundled network by its contents, not its path (an install may
  # move): a release with another network must not resume the last's.
  if options.weights:
    weights = Path(options.weights).resolve()
    network = dict(path=str(weights), bytes=weights.stat().st_size)
  else:
    network = dict(path="bundled", sha256=hashlib.sha256(
        bundled_weights_path().read_bytes()).hexdigest())
  manifest = dict(
      input=str(Path(options.input).resolve()), rows=len(keypoints),
      keypoint_format=keypoints.keypoint_format, weights=network,
      options={k: getattr(options, k) for k in RESULT_OPTIONS})
  return json.loads(json.dumps(manifest))  # tuples as JSON lists
