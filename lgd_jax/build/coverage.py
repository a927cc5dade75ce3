"""How far a pose set reaches beyond upright standing (build-time report).

Bandai-Namco is mostly upright locomotion and gestures; the figures here say
how many poses a set has of the kinds a fitter meets in real photos and
rarely in such mocap: bodies lying, upside down, crouching, kneeling or
reaching up. Each is a share of poses, measured on the body model's joints
(mean shape, `lgd_jax.smpl_forward`) in the mocap world, y up:

- tilted_over_45 / tilted_over_90: the pelvis's up axis (the global
  orientation applied to +y, the body's up in the rest pose) is more than
  45 / 90 degrees from world up.
- pelvis_below_40pct: the pelvis height above the pose's lowest joint is
  under 40 % of the same height in the rest pose (standing); so a crouch,
  a kneel, sitting or lying, but not a jump (heights are within the pose).
- knee_over_90: either knee bent more than 90 degrees (the angle between
  the thigh, hip -> knee, and the shin, knee -> ankle; about 9 degrees in the rest pose).
- hand_above_head: either hand joint higher than the head joint.
- hip_bent_over_60: either hip's own rotation turns the thigh more than 60
  degrees off its rest axis (`pose_set.hip_bend_deg`: sitting, squatting,
  kneeling, a knee raised high), whatever the pelvis does.
"""

from __future__ import annotations

import numpy as np

from lgd_jax.body.model import SMPL_JOINT_NAMES
from lgd_jax.build.retarget import posed_joints
from lgd_jax.training.pose_set import BENT_HIP_DEG
from lgd_jax.training.pose_set import hip_bend_deg
from lgd_jax.training.pose_set import pelvis_tilt_deg

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
LOW_PELVIS = 0.4  # of the standing pelvis height


def _pelvis_height(joints) -> np.ndarray:
  """(N, 24, 3) -> (N,) pelvis height above the lowest joint."""
  return joints[:, _J["pelvis"], 1] - joints[..., 1].min(-1)


def _knee_bend_deg(joints, side: str) -> np.ndarray:
  thigh = joints[:, _J[f"{side}_knee"]] - joints[:, _J[f"{side}_hip"]]
  shin = joints[:, _J[f"{side}_ankle"]] - joints[:, _J[f"{side}_knee"]]
  cos = np.sum(thigh * shin, -1) / (np.linalg.norm(thigh, axis=-1) *
                                    np.linalg.norm(shin, axis=-1))
  return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def coverage(model, poses) -> dict:
  """Shares of `poses` (N, 72) of each kind above (module docstring), and
  their number `poses`; shares rounded to 4 decimals."""
  poses = np.asarray(poses, np.float32)
  joints = posed_joints(model, poses)
  standing = _pelvis_height(posed_joints(model, np.zeros((1, 72),
                                                         np.float32)))[0]
  tilt = pelvis_tilt_deg(poses)
  knee = np.maximum(_knee_bend_deg(joints, "left"),
                    _knee_bend_deg(joints, "right"))
  hand = np.maximum(joints[:, _J["left_hand"], 1],
                    joints[:, _J["right_hand"], 1])
  kinds = dict(
      tilted_over_45=tilt > 45.0, tilted_over_90=tilt > 90.0,
      pelvis_below_40pct=_pelvis_height(joints) < LOW_PELVIS * standing,
      knee_over_90=knee > 90.0,
      hand_above_head=hand > joints[:, _J["head"], 1],
      hip_bent_over_60=hip_bend_deg(poses) > BENT_HIP_DEG)
  shares = {name: round(float(np.mean(flags)), 4) if len(poses) else 0.0
            for name, flags in kinds.items()}
  return dict(poses=len(poses), **shares)
