"""Determinism, float32, gradients against finite differences, and `fit`
sharded over 8 devices.

- `fit` with the same input gives the same bits: twice in this process,
  and in a fresh process that runs in 64-bit mode (JAX_ENABLE_X64) on
  float64 input, which changes nothing either: float32 throughout. Its
  outputs are float32. (Training's two-run determinism is checked with
  separate processes in test_crash_training.py.)
- `fitting.fit_sharded` on 8 forced CPU devices (named shardings over a
  `jax.make_mesh` mesh, in a subprocess: the device count is fixed when JAX
  starts) equals `fit` on one device, pads a batch that does not divide, and
  really spreads the people over the 8 devices.
- Gradients of the body model (`smpl_forward`, with pose correctives, and
  `regress_keypoints`), of `cameras.project` (weak and perspective) and of
  `losses.reprojection_loss` (squared and robust, with missing and NaN
  targets) against central differences. The reference is computed in
  float64 (`jax.enable_x64`, the model's arrays cast up) with step 1e-6, so
  its own error is ~1e-10 relative (truncation ~h^2, rounding ~eps/h);
  float32 differences could not be trusted beyond ~1e-3 (rounding eps/h with
  h ~ 1e-2..1e-3), too coarse to tell float32 rounding from a small wrong
  term. Each gradient is checked twice, relative to its largest entry:
  autodiff in float64 to 1e-8 (measured: at most 5e-10), which no wrong
  derivative term passes, and autodiff in float32, what the library runs,
  to 2e-5 for the body and 1e-5 for cameras and losses (measured: at most
  2.2e-7 through the body's chain of 24 rotations and sums over vertices,
  1.4e-7 for cameras and losses; the margin is for other CPUs and XLA
  versions).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax import cameras, fitting, losses
from lgd_jax import formats as kp
from lgd_jax.body.model import make_body_model
from lgd_jax.body.synthetic import random_smpl_arrays
from lgd_jax.body.cache import load_body
from xla_env import xla_flags

REPO = Path(__file__).resolve().parents[1]
N = 20  # people; 8 devices need padding to 24

_FIT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np, lgd_jax
    from lgd_jax import fitting
    weights, inputs, out = sys.argv[1:4]
    data = np.load(inputs)
    params = lgd_jax.load_pretrained(weights)

    def camera(n):
      return lgd_jax.Perspective(data["focal"][:n], data["principal"][:n],
                                 data["translation"][:n])

    def flat(result, prefix):
      return {prefix + jax.tree_util.keystr(path): np.asarray(leaf) for
              path, leaf in jax.tree_util.tree_flatten_with_path(result)[0]}

    n = int(sys.argv[4])
    if jax.device_count() == 1:  # in 64-bit mode: float64 input
      arrays = flat(lgd_jax.fit(data["xy"][:n].astype(np.float64),
                                data["confidence"][:n].astype(np.float64),
                                params=params, camera=camera(n)), "")
      info = {"x64": jax.config.jax_enable_x64}
    else:
      padded = fitting.fit_sharded(data["xy"][:n], data["confidence"][:n],
                                   keypoint_format="coco17", params=params,
                                   camera=camera(n))
      whole = fitting.fit_sharded(data["xy"], data["confidence"],
                                  keypoint_format="coco17", params=params,
                                  camera=camera(None))
      # Warm starts: the previous result sharded like the people.
      warm = fitting.fit_sharded(data["xy"][:n], data["confidence"][:n],
                                 keypoint_format="coco17", params=params,
                                 camera=camera(n), init=padded)
      arrays = {**flat(padded, ""), **flat(whole, "whole"),
                **flat(warm, "warm")}
      info = {"devices": jax.device_count(),
              "result_devices": len(whole.pose.sharding.device_set),
              "spec": str(whole.pose.sharding.spec)}
    np.savez(out, **arrays)
    print(json.dumps(info))
""")


def _flat(result, prefix=""):
  return {prefix + jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(result)[0]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_weights_file):
  """People, their intrinsics and the weights, as files; starts the fresh
  1-device and the 8-device processes at once, to run beside this one."""
  folder = tmp_path_factory.mktemp("determinism")
  model, regressor = load_body(None, 10)
  rng = np.random.default_rng(0)
  people = N + 4  # 24: the extra 4 fill the 8-device batch
  poses = load_pose_set("val").poses[::300][:people]
  betas = rng.normal(size=(people, 10)).astype(np.float32)
  weak = lgd_jax.WeakPerspective(
      jnp.asarray(rng.uniform(100, 400, people), jnp.float32),
      jnp.asarray(rng.uniform(100, 500, (people, 2)), jnp.float32))
  xy = np.asarray(kp.from_canonical(lgd_jax.project(
      weak, lgd_jax.regress_keypoints(model, regressor, poses, betas)),
                                    "coco17"))
  xy = xy + rng.normal(size=xy.shape).astype(np.float32)
  confidence = (rng.random((people, 17)) > 0.2).astype(np.float32)
  confidence[3] = 0  # one person who cannot be fitted
  width = rng.uniform(320, 1920, people).astype(np.float32)
  camera = cameras.intrinsics_camera(width, width * 0.75,
                                     np.zeros((people, 3), np.float32))
  data = dict(xy=xy, confidence=confidence,
              focal=np.asarray(camera.focal_length),
              principal=np.asarray(camera.principal_point),
              translation=np.asarray(camera.translation))
  np.savez(folder / "inputs.npz", **data)
  weights = tiny_weights_file
  processes = {}
  for devices in (1, 8):
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "XLA_FLAGS": xla_flags(
               f"--xla_force_host_platform_device_count={devices}"),
           "JAX_ENABLE_X64": "1" if devices == 1 else "0"}
    out = folder / f"fit_{devices}.npz"
    processes[devices] = (out, subprocess.Popen(
        [sys.executable, "-c", _FIT, str(weights), str(folder / "inputs.npz"),
         str(out), str(N)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE))
  yield data, processes
  for _, process in processes.values():
    if process.poll() is None:
      process.kill()
      process.wait()


def _collect(processes, devices):
  out, process = processes[devices]
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr.decode()[-3000:]
  with np.load(out) as data:
    return {k: data[k] for k in data.files}, json.loads(
        stdout.decode().strip().splitlines()[-1])


def _fit(data, weights, n=N, init=None):
  camera = lgd_jax.Perspective(data["focal"][:n], data["principal"][:n],
                               data["translation"][:n])
  return lgd_jax.fit(data["xy"][:n], data["confidence"][:n], params=weights,
                     camera=camera, init=init)


def _assert_same_bits(a, b):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_fit_gives_the_same_bits_every_time(inputs, tiny_weights):
  data, processes = inputs
  first = _flat(_fit(data, tiny_weights))
  _assert_same_bits(_flat(_fit(data, tiny_weights)), first)
  for key, value in first.items():
    assert value.dtype == (np.bool_ if "fit_ok" in key else np.float32), key
  assert first[".fit_ok"].sum() == N - 1 and not first[".fit_ok"][3]
  fresh, info = _collect(processes, 1)
  assert info["x64"]
  _assert_same_bits(fresh, first)


def test_fit_sharded_on_eight_devices_equals_one_device(inputs, tiny_weights):
  data, processes = inputs
  cold = _fit(data, tiny_weights)
  one = _flat(cold)
  warm = _flat(_fit(data, tiny_weights, init=cold), "warm")
  eight, info = _collect(processes, 8)
  assert info["devices"] == 8
  assert info["result_devices"] == 8 and "data" in info["spec"], info
  for key, value in one.items():
    assert eight[key].shape == value.shape, key
    # Radians, metres, losses: 1e-5. Pixels: 1e-5 of the points' extent: a
    # coordinate is a sum of image-sized terms (focal × X / Z + principal
    # point), so its rounding error scales with the image, not with the
    # coordinate (x = 7 px once came out 1.8e-4 px off on 8 devices).
    atol = 1e-5 * (np.abs(value).max() if "keypoints_2d" in key else 1.0)
    np.testing.assert_allclose(eight[key], value, rtol=1e-5, atol=atol,
                               err_msg=key)
    # The padded call and the call with 4 more real people share the
    # program: the first 20 people's results are the same bits.
    np.testing.assert_array_equal(eight["whole" + key][:N], eight[key],
                                  err_msg=key)
  for key, value in warm.items():  # from starts that differ by 1e-5 too
    np.testing.assert_allclose(eight[key], value, rtol=1e-4, atol=1e-4,
                               err_msg=key)


def test_fit_sharded_on_one_device_is_fit(inputs, tiny_weights):
  data, _ = inputs
  mesh = jax.make_mesh((1,), ("data",))
  camera = lgd_jax.Perspective(data["focal"][:N], data["principal"][:N],
                               data["translation"][:N])
  sharded = fitting.fit_sharded(data["xy"][:N], data["confidence"][:N],
                                keypoint_format="coco17", mesh=mesh,
                                params=tiny_weights, camera=camera)
  _assert_same_bits(_flat(sharded), _flat(_fit(data, tiny_weights)))


# --- Gradients against central differences ----------------------------------

STEP = 1e-6


def _central_differences(f, x):
  """d f / d x of a scalar float64 function of a flat float64 vector."""
  eye = np.eye(x.size) * STEP
  values = jax.vmap(f)(jnp.concatenate([x + eye, x - eye]))
  return (values[:x.size] - values[x.size:]) / (2 * STEP)


def _check_gradient(f, x, float32_tolerance):
  """Autodiff of `f` in float32 and in float64 against float64 central
  differences; `f` maps a flat vector to a scalar and is written for any
  float dtype (its constants follow x's)."""
  x = np.asarray(x, np.float64)
  with jax.enable_x64(True):
    reference = np.asarray(_central_differences(f, jnp.asarray(x)))
    exact = np.asarray(jax.grad(f)(jnp.asarray(x)))
  scale = np.abs(reference).max()
  assert scale > 1e-3  # a gradient worth checking
  np.testing.assert_allclose(exact, reference, rtol=0, atol=1e-8 * scale)
  single = np.asarray(jax.grad(f)(jnp.asarray(x, jnp.float32)))
  assert single.dtype == np.float32
  np.testing.assert_allclose(single, reference, rtol=0,
                             atol=float32_tolerance * scale)


def _cast(tree, dtype):
  return jax.tree.map(lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(
      jnp.asarray(a).dtype, jnp.floating) else a, tree)


@pytest.fixture(scope="module")
def smpl_like():
  """A random SMPL-layout model with pose correctives (300 vertices)."""
  arrays = random_smpl_arrays(num_vertices=300, seed=5, posedirs_scale=0.05)
  return make_body_model(v_template=arrays["v_template"], faces=arrays["f"],
                         shapedirs=arrays["shapedirs"],
                         J_regressor=arrays["J_regressor"],
                         weights=arrays["weights"],
                         posedirs=arrays["posedirs"])


@pytest.mark.parametrize("pose_scale", [0.0, 0.5])  # 0: the Taylor branch
def test_smpl_forward_gradient(smpl_like, pose_scale):
  rng = np.random.default_rng(1)
  x = np.concatenate([rng.normal(size=72) * pose_scale,
                      rng.normal(size=10)])
  weights_v = rng.normal(size=(smpl_like.num_vertices, 3))
  weights_j = rng.normal(size=(24, 3))

  def f(x):
    model = _cast(smpl_like, x.dtype)
    out = lgd_jax.smpl_forward(model, x[:72], x[72:])
    return (jnp.sum(out.vertices * weights_v.astype(x.dtype)) +
            jnp.sum(out.joints * weights_j.astype(x.dtype)))

  _check_gradient(f, x, float32_tolerance=2e-5)


def test_regress_keypoints_gradient():
  model, regressor = load_body(None, 10)  # the fitting path
  rng = np.random.default_rng(2)
  x = np.concatenate([rng.normal(size=72) * 0.5, rng.normal(size=10)])
  weights = rng.normal(size=(regressor.num_keypoints, 3))

  def f(x):
    points = lgd_jax.regress_keypoints(_cast(model, x.dtype),
                                       _cast(regressor, x.dtype), x[:72],
                                       x[72:])
    return jnp.sum(points * weights.astype(x.dtype))

  _check_gradient(f, x, float32_tolerance=2e-5)


@pytest.mark.parametrize("kind", ["weak", "perspective"])
def test_project_gradient(kind):
  rng = np.random.default_rng(3)
  points = rng.normal(size=(6, 3)) * 0.5
  weights = rng.normal(size=(6, 2))
  if kind == "weak":  # scale, translation (2), points
    x = np.concatenate([[1.7], rng.normal(size=2), points.ravel()])
  else:  # focal (2), principal point (2), translation (3; in front), points
    x = np.concatenate([[1.2, 1.1], rng.normal(size=2),
                        [0.1, -0.2, 4.0], points.ravel()])

  def f(x):
    if kind == "weak":
      camera = cameras.WeakPerspective(x[0], x[1:3])
    else:
      camera = cameras.Perspective(x[0:2], x[2:4], x[4:7])
    projected = cameras.project(camera, x[-18:].reshape(6, 3))
    return jnp.sum(projected * weights.astype(x.dtype))

  _check_gradient(f, x, float32_tolerance=1e-5)


@pytest.mark.parametrize("robust_sigma", [None, 0.5])
def test_reprojection_loss_gradient(robust_sigma):
  rng = np.random.default_rng(4)
  target = rng.normal(size=(8, 2))
  target[2] = np.nan  # missing as NaN: no effect, zero gradient
  confidence = rng.uniform(0.2, 1.0, 8)
  confidence[5] = 0.0  # missing as zero confidence
  # projected (16), then the confidences but the zero one (at a zero
  # confidence the loss has a kink); the target is held fixed.
  x = np.concatenate([(target + rng.normal(size=(8, 2)) * 0.6).ravel(),
                      np.delete(confidence, 5)])
  x[4:6] = 0.3  # projected point of the NaN target

  def f(x):
    confidence = jnp.concatenate([x[16:21], jnp.zeros(1, x.dtype), x[21:]])
    return losses.reprojection_loss(x[:16].reshape(8, 2),
                                    jnp.asarray(target, x.dtype), confidence,
                                    robust_sigma=robust_sigma)

  _check_gradient(f, x, float32_tolerance=1e-5)
  grad = np.asarray(jax.grad(f)(jnp.asarray(x, jnp.float32)))
  assert np.isfinite(grad).all()
  assert not grad[4:6].any() and not grad[10:12].any()  # missing points
