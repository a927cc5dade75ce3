"""Mocap data: readers, retargeting to the SMPL layout, the pose set."""

from lgd_jax.data.amass import (AmassFileError, AmassSequence,
                                build_pose_set_from_amass, load_amass)
from lgd_jax.data.asf_amc import read_amc, read_asf
from lgd_jax.data.bvh import read_bvh
from lgd_jax.data.pose_set import (SPLITS, PoseSet, build_pose_set,
                                   load_pose_set, sample_betas)
from lgd_jax.data.skeleton import MocapFileError, Motion, WorldPose
