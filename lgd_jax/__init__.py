"""lgd_jax: SMPL bodies from 2D keypoints by learned gradient descent."""

import importlib

from lgd_jax import cameras
from lgd_jax import formats
from lgd_jax import losses
from lgd_jax.body import (BODY_MODEL_ENV, BodyModel, BodyModelFileError,
                          BodyOutput, KeypointRegressor, SMPL_JOINT_NAMES,
                          load_body_model, make_keypoint_regressor,
                          regress_keypoints, smpl_forward)
from lgd_jax.body.shapes import sample_betas
from lgd_jax.cameras import Perspective, WeakPerspective, project
from lgd_jax.fitting import FitResult, fit
from lgd_jax.weights import Pretrained, load_pretrained
from lgd_jax.formats import FORMATS, from_canonical, to_canonical
from lgd_jax.losses import reprojection_loss
from lgd_jax.readers import KeypointFileError, KeypointSet, read_keypoints

__version__ = "0.1.0"

# Loaded on first use, so that `import lgd_jax` stays the fitting core.
_SUBPACKAGES = ("tool", "evaluation", "training", "build")


def __getattr__(name):
  if name in _SUBPACKAGES:
    return importlib.import_module(f"lgd_jax.{name}")
  raise AttributeError(f"module 'lgd_jax' has no attribute {name!r}")
