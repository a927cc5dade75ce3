"""Config of experiments/evaluate_sequences.py: fitting video sequences.

Synthetic videos are projected from held-out mocap clips at their full
30 fps (`lgd_jax.evaluation.synthetic_videos`): the Bandai-Namco validation
clips and CMU (out of domain). Every method fits the same detections; a method is a
warm-start setting and a smoothing sigma (frames; 0: none), all pairs of
`warm_starts` and `sigmas`.
"""

import ml_collections
from ml_collections import config_dict

from configs import build_pose_set


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 2026
  config.weights = ""  # "": the bundled weights
  config.mocap_root = "../shared/data/mocap"
  # Retargeting every clip takes ~45 s: done once, kept here ("": never).
  config.clips_cache = "outputs/sequences/held_out_clips.npz"
  config.validation = build_pose_set.get_config().validation
  config.cmu_step = 4  # 120 -> 30 fps
  # Half of the validation clips have at least 120 frames (4 s); CMU's
  # are longer (median 675 frames).
  config.splits = ml_collections.ConfigDict(dict(
      val=dict(num_videos=30, num_frames=120),
      cmu=dict(num_videos=12, num_frames=300),
  ))
  # `videos.make_video` arguments: the evaluation's "realistic" detector
  # (1 % noise, 20 % of the points dropped) in OpenPose BODY_25, a 1080p
  # camera with known intrinsics, and a person missed in 2 % of the frames.
  config.video = ml_collections.ConfigDict(dict(
      num_people=3, keypoint_format="openpose25", image_size=(1920, 1080),
      camera="perspective", depth=(4.0, 7.0), spacing=1.0, pitch_deg=10.0,
      roll_deg=5.0, noise=0.01, keep_prob=0.8, miss_prob=0.02))
  config.fit = ml_collections.ConfigDict(dict(
      intrinsics=True,  # pass the camera's intrinsics to `fit`
      max_gap=2,  # warm start from a fit at most this many frames old
      chain_length=4,  # "restarted": fits per chain before a cold restart
      # "checked": the fewest frames per segment; None: `fit_tracks`'
      # default (val's 120-frame videos are then one segment, CMU's 300
      # frames two).
      segment_frames=config_dict.placeholder(int),
      # People per call, in every mode.
      chunk_size=256,
      # `fit`'s upright turn; None: fit's default, 180: never.
      upright_beyond_deg=config_dict.placeholder(float),
      # `fit`'s alignment in the image; None: fit's default (True).
      align=config_dict.placeholder(bool),
  ))
  # `sequences.WARM_STARTS`: independent fits, chained warm starts, warm
  # starts from the track's last independent fit (anchored), chains
  # restarted cold every `fit.chain_length` frames (restarted), chains
  # that take a frame's independent fit where it explains the keypoints
  # better (checked).
  config.warm_starts = ("off", "chained", "anchored", "restarted", "checked")
  config.sigmas = (0.0, 1.0, 2.0, 4.0)
  config.tracking = ml_collections.ConfigDict(dict(threshold=0.4,
                                                   max_gap=5))
  config.posetrack = ml_collections.ConfigDict(dict(
      annotations=("../shared/data/keypoints/posetrack18/annotations/"
                   "test_posetrack18_val.json"),  # "": skip PoseTrack
      videos="../shared/data/keypoints/posetrack18/videos",
      frames=60, noise=0.01, keep_prob=0.8))
  return config
