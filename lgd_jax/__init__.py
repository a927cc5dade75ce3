"""lgd_jax: SMPL bodies from 2D keypoints by learned gradient descent.

`import lgd_jax` loads the fitting core only. The `lgd-fit` tool
(`lgd_jax.tool`), the evaluation, training and build code are subpackages,
loaded on first use (`lgd_jax.tool.run(...)` works after `import lgd_jax`).
"""

import importlib

from lgd_jax import cameras
from lgd_jax import formats
from lgd_jax.body import (BODY_MODEL_ENV, BodyModel, BodyModelFileError,
                          BodyOutput, KeypointRegressor, SMPL_JOINT_NAMES,
                          load_body_model, make_keypoint_regressor,
                          regress_keypoints, smpl_forward)
from lgd_jax.body.shapes import sample_betas
from lgd_jax.cameras import (Perspective, WeakPerspective, intrinsics_camera,
                             project)
from lgd_jax.fitting import (FitResult, fit, fit_in_chunks, fit_sharded,
                             fitted_points)
from lgd_jax.formats import FORMATS, from_canonical, to_canonical
from lgd_jax.losses import keypoint_errors, reprojection_loss
from lgd_jax.readers import KeypointFileError, KeypointSet, read_keypoints
from lgd_jax.sequences import fit_tracks, smooth_tracks
from lgd_jax.weights import Pretrained, load_pretrained

__version__ = "0.1.0"

__all__ = [
    # Fitting.
    "fit", "fit_sharded", "fit_in_chunks", "fitted_points", "FitResult",
    "load_pretrained", "Pretrained", "fit_tracks", "smooth_tracks",
    # Body model.
    "load_body_model", "BodyModel", "BodyModelFileError", "BodyOutput",
    "smpl_forward", "make_keypoint_regressor", "regress_keypoints",
    "KeypointRegressor", "SMPL_JOINT_NAMES", "BODY_MODEL_ENV", "sample_betas",
    # Cameras and keypoints.
    "cameras", "WeakPerspective", "Perspective", "intrinsics_camera",
    "project", "formats", "FORMATS", "to_canonical", "from_canonical",
    "reprojection_loss", "keypoint_errors",
    # Keypoint files.
    "read_keypoints", "KeypointSet", "KeypointFileError",
]

# Loaded on first use, so that `import lgd_jax` stays the fitting core.
_SUBPACKAGES = ("tool", "evaluation", "training", "build")


def __getattr__(name):
  if name in _SUBPACKAGES:
    return importlib.import_module(f"lgd_jax.{name}")
  raise AttributeError(f"module 'lgd_jax' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_SUBPACKAGES))
