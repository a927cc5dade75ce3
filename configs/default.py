"""Default training config: the paper's layout (Θ_0 = 0, one network, all
inputs, N = 4, loss Σ_n |Θ_n − Θ_gt|_1) on the Bandai-Namco train split."""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Body-model file or folder (None: the bundled model), and a pose-set file
  # in the bundled layout (None: the bundled one; e.g. built from AMASS).
  config.body_model = config_dict.placeholder(str)
  config.pose_set = config_dict.placeholder(str)
  config.num_betas = 10
  config.num_steps = 4  # N, the unrolled updates
  # Steps unrolled in training (None: num_steps); more than N train the
  # later steps from the network's own outputs.
  config.train_unroll_steps = config_dict.placeholder(int)
  # Training compiles its unrolled steps inline: a faster step for a longer
  # compile. False compiles them as a loop, for runs that compile more than
  # they train (configs/tiny.py, the tests').
  config.train_inline_unroll = True
  # Training starts beyond Θ_0 (lgd_jax.training.starts): a share of the
  # people start from the truth perturbed at a log-uniform scale, another
  # from the network's own fit after K steps, K uniform in drifted_steps,
  # another are chains kept from step to step, moved a frame each step
  # (perturbed at the scale chain_move), restarting with chain_restart_prob.
  config.starts = ml_collections.ConfigDict(dict(
      perturbed_prob=0.0, scale=(0.03, 1.0), drifted_prob=0.0,
      drifted_steps=(8, 48), chained_prob=0.0, chain_move=0.05,
      chain_restart_prob=0.02))
  # Share of the training poses tilted from upright (bent over, on the
  # floor; pose_set.pelvis_tilt_deg); 0: as many as the pose set has.
  config.tilted_share = 0.0
  # Share of the upright training poses with a bent hip (sitting,
  # squatting, kneeling; pose_set.hip_bend_deg); 0: as many as there are.
  config.bent_hip_share = 0.0
  # A weight file of the same network to train on from (None: a fresh one);
  # a checkpoint in the workdir takes precedence when resuming.
  config.init_weights = config_dict.placeholder(str)
  # Train the refiner (network.refine_after) alone, the rest held as it is.
  config.train_refiner_only = False
  config.grad_scale = 1.0
  config.stop_inner_gradient = True

  config.network = ml_collections.ConfigDict(dict(
      features=768, num_blocks=2, dropout=0.0, norm="layer",
      inputs=("x", "grad", "theta"), init_network=False,
      separate_shape=False, step_size=1.0,
      step_codes=0,  # N + 1: updates see their step (network.py)
      refine_after=0,  # N: later and warm steps by a second network
      refine_decay=1.0,  # γ: the refiner's k-th update scaled by γ^k
      refiner_features=0))  # the refiner's width (0: features)

  config.loss = ml_collections.ConfigDict(dict(
      global_rotation=1.0, pose=1.0, betas=0.1, camera=1.0, joints3d=0.0,
      keypoints2d=0.0, sum_over_steps=True,
      step_decay=1.0))  # γ_s: step n's term weighted by γ_s^(n-1)

  # Training batches (lgd_jax.training.sampling.sample_batch).
  config.data = ml_collections.ConfigDict(dict(
      batch_size=512,
      formats=("coco17", "openpose25", "h36m17", "smpl24", "mpii16",
               "crowdpose14", "posetrack17"),
      format_weights=(6, 2, 1, 1, 1, 1, 1),
      keep_prob=0.8,  # the released LGD code keeps each joint with p = 0.8
      noise=(0.0, 0.02),  # 2D noise std, fraction of the person's height
      pitch_deg=10.0, roll_deg=5.0,
      perspective_prob=0.5, distance=(2.0, 12.0),
      max_betas=2.5,
      # Off here; the evaluation profiles turn them on (see sample_batch).
      pitch_range_deg=None, roll_range_deg=None,  # uniform tilt instead,
      tilt_range_prob=1.0,  # for this share of the people
      truncate_prob=0.0,  # an image edge cuts the person off
      detector=0.0,  # share with confidence-driven drops, noisier ends
      swap_prob=0.0,  # left/right arms or legs swapped
      occlude_prob=0.0,  # one whole limb missing
      body_tilt_prob=0.0, body_tilt_deg=90.0,  # pose augmentation
      mirror_prob=0.0, mix_prob=0.0,
      bent_legs_prob=0.0,  # legs bent at random (sitting, kneeling)
      bent_legs_uneven_prob=0.0,  # of those, each leg its own bend
      bent_spine_prob=0.0))  # trunk bent at random (bending over)

  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=200, decay_every=1000,
      decay_rate=0.8, clip_norm=1.0,
      # Above 0: evaluate and export the parameters' exponential moving
      # average, each step weighing 1 - ema_decay (0: the last parameters).
      ema_decay=0.0))

  config.train_steps = 7000
  config.log_every = 50
  config.eval_every = 1000
  config.checkpoint_every = 250
  config.keep_checkpoints = 3
  config.progress = True

  # Evaluation: COCO-17 input, 20% of joints dropped, 2D noise of 1% of the
  # person's height, weak perspective; held-out Bandai-Namco clips and CMU.
  config.eval = ml_collections.ConfigDict(dict(
      splits=("val", "cmu"), seed=1234, num_batches=4,
      num_steps=16,  # steps evaluated: convergence past N shows in the log
      data=ml_collections.ConfigDict(dict(
          batch_size=512, formats=("coco17",), format_weights=(1,),
          keep_prob=0.8, noise=(0.01, 0.01), perspective_prob=0.0))))
  return config
