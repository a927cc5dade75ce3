"""lgd_jax: SMPL bodies from 2D keypoints by learned gradient descent."""

from lgd_jax.body import (BODY_MODEL_ENV, BodyModel, BodyModelFileError,
                          BodyOutput, KeypointRegressor, SMPL_JOINT_NAMES,
                          load_body_model, make_keypoint_regressor,
                          regress_keypoints, smpl_forward)

__version__ = "0.1.0"
