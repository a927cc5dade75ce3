"""The bundled pretrained weights fit held-out people (a real accuracy check,
with an honest margin over the README's measured figures)."""

import jax.numpy as jnp
import numpy as np

import lgd_jax
from lgd_jax.training.pose_set import BANDAI_NAMCO, load_pose_set
from lgd_jax import formats as kp
from lgd_jax.evaluation import metrics
from lgd_jax.body.cache import load_body


def test_bundled_weights_fit_held_out_mocap():
  weights = lgd_jax.load_pretrained()
  model, regressor = load_body(weights.config.body_model,
                                     weights.config.num_betas)
  # Held out from training: pose set v2's Bandai-Namco val clips.
  poses = jnp.asarray(load_pose_set("val", datasets=BANDAI_NAMCO).poses[
      ::97][:64])
  n = poses.shape[0]
  rng = np.random.default_rng(0)
  # Poses keep the mocap heading: people face every direction.
  betas = jnp.asarray(np.clip(rng.normal(size=(n, 10)), -2, 2), jnp.float32)
  points = lgd_jax.regress_keypoints(model, regressor, poses, betas)
  camera = lgd_jax.WeakPerspective(jnp.full(n, 250.0),
                                   jnp.tile(jnp.array([400.0, 300.0]), (n, 1)))
  xy = kp.from_canonical(lgd_jax.project(camera, points), "coco17")
  result = lgd_jax.fit(xy)
  assert bool(result.fit_ok.all())
  target = points[:, :24]
  pa = 1e3 * np.asarray(metrics.pa_mpjpe(result.joints, target))
  assert np.median(pa) < 90, np.median(pa)
  # The optimizer lowers the reprojection loss over its steps.
  history = np.asarray(result.loss_history)
  assert np.median(history[:, -1]) < 0.5 * np.median(history[:, 0])
  # Reprojected keypoints land near the input (pixels; the body is ~425 px).
  error = np.linalg.norm(np.asarray(result.keypoints_2d - xy), axis=-1)
  assert np.median(error) < 20
