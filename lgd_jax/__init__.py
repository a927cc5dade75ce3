"""lgd_jax: SMPL bodies from 2D keypoints by learned gradient descent."""

from lgd_jax import cameras
from lgd_jax import keypoints
from lgd_jax import losses
from lgd_jax import network
from lgd_jax.body import (BODY_MODEL_ENV, BodyModel, BodyModelFileError,
                          BodyOutput, KeypointRegressor, SMPL_JOINT_NAMES,
                          load_body_model, make_keypoint_regressor,
                          regress_keypoints, smpl_forward)
from lgd_jax.cameras import Perspective, WeakPerspective, project
from lgd_jax.data import PoseSet, load_pose_set, sample_betas
from lgd_jax.fitting import FitResult, fit, load_pretrained
from lgd_jax.io.keypoints import KeypointFileError, KeypointSet, read_keypoints
from lgd_jax.keypoints import FORMATS, from_canonical, to_canonical
from lgd_jax.losses import reprojection_loss

__version__ = "0.1.0"
