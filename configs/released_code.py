"""The layout of the authors' released LGD code (facts from their code):
an init network regresses Θ_0 from x, then 3 updates Θ ← Θ + 0.1·N_w with
separate pose(+camera) and shape networks, dropout 0.2, and a loss of
L1(θ) + L1(β) + 0.3·weighted L1(2D) + 0.3·weighted L1(3D) averaged over the
steps (joint weights 8 wrists/ankles, 4 elbows/knees, 2 shoulders/hips);
Adam at 1e-3, decayed ×0.8 per epoch, batch 512.

Differences from that code, and why: LayerNorm instead of BatchNorm (batch
statistics inside the unrolled scan would make a fit depend on the other
people in its batch), and the decay every 1,000 steps (~20 epochs of
26k poses at batch 512, our epochs are short).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.num_steps = 3
  config.network.update(dict(features=1024, dropout=0.2, init_network=True,
                             separate_shape=True, step_size=0.1))
  config.loss.update(dict(global_rotation=1.0, pose=1.0, betas=1.0,
                          camera=1.0, joints3d=0.3, keypoints2d=0.3,
                          sum_over_steps=False))
  return config
