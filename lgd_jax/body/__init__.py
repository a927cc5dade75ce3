"""The body model: container, loaders, skinning and the fast keypoint path."""

from lgd_jax.body.io import (BODY_MODEL_ENV, BodyModelFileError,
                             bundled_model_path, load_body_model)
from lgd_jax.body.keypoint_path import (KeypointRegressor,
                                        make_keypoint_regressor,
                                        regress_keypoints)
from lgd_jax.body.lbs import BodyOutput, smpl_forward
from lgd_jax.body.rotations import axis_angle_to_matrix
from lgd_jax.body.model import (SMPL_JOINT_NAMES, SMPL_PARENTS, BodyModel,
                                make_body_model)
