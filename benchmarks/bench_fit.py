r"""Throughput of lgd_jax.fit, and of the bare network as its roofline.

  python -m benchmarks.bench_fit [--batches=1,64,1024] [--min_seconds=2]
      [--weights=FILE] [--baseline_weights=FILE] [--num_steps=N]
      [--output=REPORT.json]

One JSON line per batch size: fits/s of the whole jitted `fit` (COCO-17
keypoints in pixels -> pose, shape, camera, joints), single-fit latency, and
the time of a plain `lgd_jax.fit` call (NumPy in, no jit of the caller's)
against the jitted one, the jitted one against the same without the upright
turn (`upright_beyond_deg=180`: its cost), the jitted one against the
same without the alignment in the image (`align=False`: its cost), with
--baseline_weights the jitted one against `fit` with that file's network
and its own steps (their cost ratio), all measured in turn so that load
moves them alike, and in the
same run the fits/s of only the update network's forward pass applied N
times, the path's MLP and then the refiner's as `fit` takes them (no body
model, no gradient): the best `fit` could do.
"""

import functools
import json

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax.evaluation import timing
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax.training import trainer as training

_BATCHES = flags.DEFINE_list("batches", ["1", "64", "1024"], "Batch sizes.")
_MIN_SECONDS = flags.DEFINE_float("min_seconds", 2.0,
                                  "Least time spent timing each case.")
_WEIGHTS = flags.DEFINE_string("weights", None,
                               "Weight file; default: the bundled one.")
_NUM_STEPS = flags.DEFINE_integer(
    "num_steps", None, "Steps of `fit`; default: the network's own.")
_BASELINE_WEIGHTS = flags.DEFINE_string(
    "baseline_weights", None, "Also time `fit` with this weight file, in "
    "turn with the --weights one, and report their time ratio.")
_OUTPUT = flags.DEFINE_string(
    "output", "", "Also write the results and the machine to this JSON file "
    "('' for none).")


def pretrained_or_untrained():
  """The bundled weights, or an untrained default network (same cost)."""
  try:
    return (lgd_jax.load_pretrained(_WEIGHTS.value),
            _WEIGHTS.value or "bundled")
  except FileNotFoundError:
    from configs import default  # pylint: disable=g-import-not-at-top
    config = default.get_config()
    network = lgd_jax.network.from_config(config)
    params = optimizer.init_params(network, jax.random.PRNGKey(0),
                                   kp.NUM_CANONICAL)
    return lgd_jax.Pretrained(network, params, config), "untrained"


def coco_keypoints(setup, batch):
  """(batch, 17, 2) pixels of held-out mocap poses."""
  poses = load_pose_set("val").poses
  pose = jnp.asarray(poses[np.arange(batch) % len(poses)])
  model, regressor = setup.body
  points = lgd_jax.regress_keypoints(model, regressor, pose,
                                     jnp.zeros((batch, model.num_betas)))
  camera = lgd_jax.WeakPerspective(jnp.full(batch, 200.0),
                                   jnp.tile(jnp.array([320.0, 240.0]),
                                            (batch, 1)))
  return kp.from_canonical(lgd_jax.project(camera, points), "coco17")


def main(argv):
  del argv
  weights, which = pretrained_or_untrained()
  network, params, config = weights
  steps = _NUM_STEPS.value or config.num_steps
  fit = jax.jit(lambda xy: lgd_jax.fit(xy, params=weights, num_steps=steps))
  unturned = jax.jit(lambda xy: lgd_jax.fit(
      xy, params=weights, num_steps=steps, upright_beyond_deg=180))
  unaligned = jax.jit(lambda xy: lgd_jax.fit(
      xy, params=weights, num_steps=steps, align=False))
  timed_in_turn = {"jitted": fit, "unturned": unturned,
                   "unaligned": unaligned}
  if _BASELINE_WEIGHTS.value:
    baseline = lgd_jax.load_pretrained(_BASELINE_WEIGHTS.value)
    baseline_steps = _NUM_STEPS.value or baseline.config.num_steps
    timed_in_turn["baseline"] = jax.jit(lambda xy: lgd_jax.fit(
        xy, params=baseline, num_steps=baseline_steps))
  x_size = 3 * kp.NUM_CANONICAL
  theta_size = lgd_jax.theta.size(config.num_betas)

  @jax.jit
  def network_only(x, theta):
    # Read only by a network that sees residuals.
    residual = jnp.zeros(x.shape[:-1] + (2 * kp.NUM_CANONICAL,))

    def body(refine, theta, _):
      return theta + network.apply(params, x, theta, theta, refine=refine,
                                   residual=residual), None
    # The path's steps, then the refiner's (of its own width), as in `fit`.
    path = optimizer.path_steps(network, steps)
    for refine, length in ((False, path), (True, steps - path)):
      if length:
        theta = jax.lax.scan(functools.partial(body, refine), theta, None,
                             length=length)[0]
    return theta

  setup = training.make_setup(config)
  results = []
  for batch in map(int, _BATCHES.value):
    xy = coco_keypoints(setup, batch)
    fit_s = timing.median_seconds(fit, xy, min_seconds=_MIN_SECONDS.value)
    # The call as a user writes it (NumPy in, no jit of their own) against
    # the same call inside a jit, in turn: their ratio holds under load.
    calls = timing.interleaved_median_seconds(
        {"plain": lambda xy: lgd_jax.fit(xy, params=weights,
                                         num_steps=steps),
         **timed_in_turn},
        np.asarray(xy), calls=max(20, 2000 // batch))
    roof_s = timing.median_seconds(network_only, jnp.ones((batch, x_size)),
                                   jnp.zeros((batch, theta_size)),
                                   min_seconds=_MIN_SECONDS.value)
    results.append({
        "batch": batch,
        "weights": which,
        "num_steps": steps,
        "fits_per_s": round(batch / fit_s, 1),
        "latency_ms": round(1e3 * fit_s, 3),
        "plain_call_ms": round(1e3 * calls["plain"], 3),
        "plain_over_jitted": round(calls["plain"] / calls["jitted"], 2),
        "upright_over_unturned": round(calls["jitted"] / calls["unturned"],
                                       3),
        "aligned_over_unaligned": round(
            calls["jitted"] / calls["unaligned"], 3),
        "network_only_fits_per_s": round(batch / roof_s, 1),
        "fraction_of_roofline": round(roof_s / fit_s, 3),
    })
    if "baseline" in calls:
      results[-1]["baseline_weights"] = _BASELINE_WEIGHTS.value
      results[-1]["baseline_num_steps"] = baseline_steps
      results[-1]["over_baseline"] = round(
          calls["jitted"] / calls["baseline"], 3)
    print(json.dumps(results[-1]), flush=True)
  if _OUTPUT.value:
    timing.save_report(_OUTPUT.value, results=results)


if __name__ == "__main__":
  app.run(main)
