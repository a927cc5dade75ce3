"""`fit`: SMPL bodies from 2D keypoints with the learned optimizer.

Pure and traceable: usable inside `jit`, `vmap` and `grad` of user code, for
any leading batch shape. The bundled pretrained weights and body model are
loaded once, on first use.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, NamedTuple, Optional

import flax.traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lgd_jax import cameras
from lgd_jax import keypoints as kp
from lgd_jax import network as network_lib
from lgd_jax import optimizer
from lgd_jax.body import io as body_io
from lgd_jax.body import keypoint_path
from lgd_jax.body.model import NUM_JOINTS, BodyModel
from lgd_jax.io.files import atomic_path

PRETRAINED = "lgd_default.npz"


class FitResult(NamedTuple):
  """What `fit` returns; leading shape (...) as the input's.

  Attributes:
    pose: (..., 72) axis-angle, global orientation first (body frame: at
      pose 0 the person faces the camera, see `lgd_jax.cameras`).
    betas: (..., S).
    camera: `WeakPerspective` in pixels, or `Perspective` (translation in
      metres) when intrinsics were given.
    joints: (..., 24, 3) SMPL joints regressed from the posed mesh
      (J_regressor · M(θ, β), as SMPL evaluations do; `smpl_forward`'s joints
      are the kinematic ones), metres, in the body frame (no translation).
    keypoints_2d: (..., K, 2) the fitted body's keypoints in pixels, in the
      input's format.
    loss_history: (..., N + 1) inner reprojection loss of Θ_0 .. Θ_N
      (person-centred units; the mean squared error per visible point).
    fit_ok: (...) False when fewer than 6 keypoints are visible or the fit
      is not finite; those people get zero parameters, never NaN.
  """

  pose: jax.Array
  betas: jax.Array
  camera: Any
  joints: jax.Array
  keypoints_2d: jax.Array
  loss_history: jax.Array
  fit_ok: jax.Array


class Pretrained(NamedTuple):
  """A trained network with what it was trained for."""

  network: network_lib.LearnedOptimizer
  params: Any
  config: ml_collections.ConfigDict


def save_pretrained(path, config: ml_collections.ConfigDict, params) -> None:
  """Writes params (float16) and the training config to one .npz."""
  flat = {"/".join(str(getattr(k, "key", k)) for k in key_path):
          np.asarray(leaf, np.float16)
          for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      np.savez_compressed(f, config=np.array(config.to_json()),
                          **{f"params/{k}": v for k, v in flat.items()})


def load_pretrained(path=None) -> Pretrained:
  """Loads weights written by `save_pretrained`; None: the bundled ones.

  The config comes back frozen (copy it with `.as_configdict()` to change
  it), since loads of the same unchanged file share one result.
  """
  path = Path(path) if path is not None else Path(
      body_io.bundled_model_path()).with_name(PRETRAINED)
  if not path.is_file():
    raise FileNotFoundError(
        f"{path}: no pretrained weights (train them with `python -m "
        "experiments.train`, or pass params=)")
  # Concrete arrays even when first called inside a user's jit: the result
  # is cached and must not hold tracers.
  with jax.ensure_compile_time_eval():
    return _load_pretrained(path.resolve(), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_pretrained(path: Path, mtime_ns: int) -> Pretrained:
  del mtime_ns  # part of the cache key: a rewritten file is read again
  with np.load(path, allow_pickle=False) as data:
    config = ml_collections.FrozenConfigDict(
        json.loads(str(data["config"])))
    flat = {tuple(k.split("/")[1:]): jnp.asarray(data[k], np.float32)
            for k in data.files if k.startswith("params/")}
  return Pretrained(network_lib.from_config(config),
                    flax.traverse_util.unflatten_dict(flat), config)


@functools.lru_cache(maxsize=4)
def load_body(body_model_path, num_betas):
  """(BodyModel, its canonical KeypointRegressor), loaded once per file
  (None: the bundled model); call it under `jax.ensure_compile_time_eval`
  inside a trace."""
  model = body_io.load_body_model(body_model_path, num_betas=num_betas)
  regressor = keypoint_path.make_keypoint_regressor(
      model, kp.canonical_regressor(model))
  return model, regressor


def fit(keypoints, confidence=None, *, keypoint_format: str = "coco17",
        camera: Optional[cameras.Perspective] = None,
        params: Optional[Pretrained] = None, num_steps: Optional[int] = None,
        init: Optional[FitResult] = None, model: Optional[BodyModel] = None,
        min_confidence: float = 0.0) -> FitResult:
  """Fits SMPL-layout bodies to 2D keypoints.

  Args:
    keypoints: (..., K, 2) pixels, or (..., K, 3) with confidence as the
      third column; K must match `keypoint_format`.
    confidence: (..., K) detector scores or visibilities; default: the third
      column, else ones. A point counts as visible, with weight 1, when its
      confidence exceeds `min_confidence` (the network was trained on 0/1
      visibilities, not on score values).
    keypoint_format: a `lgd_jax.keypoints.FORMATS` name.
    camera: optional `Perspective` with the image's intrinsics (its
      translation is ignored); the result's camera is then a `Perspective`
      with the translation in metres. Default: weak perspective.
    params: a `Pretrained` (from `load_pretrained`); default: the bundled
      weights.
    num_steps: unrolled steps; default: what the network was trained with.
    init: a previous `FitResult` to start from (e.g. the previous video
      frame) instead of the network's initial estimate; people whose
      `init.fit_ok` is False start from the initial estimate.
    model: body model; default: the one the network was trained with
      (another model must have the same number of betas; its shape space
      differs, so retrain on it for accurate shapes).
    min_confidence: see `confidence`.

  Returns:
    A `FitResult`.
  """
  params = params if params is not None else load_pretrained()
  config = params.config
  if model is None:
    with jax.ensure_compile_time_eval():  # cached: no tracers inside
      model, regressor = load_body(config.body_model, config.num_betas)
  else:
    if model.num_betas != config.num_betas:
      raise ValueError(f"the network fits {config.num_betas} betas but the "
                       f"model has {model.num_betas}; load it with "
                       f"num_betas={config.num_betas}")
    regressor = keypoint_path.make_keypoint_regressor(
        model, kp.canonical_regressor(model))
  keypoints = jnp.asarray(keypoints, jnp.float32)
  if keypoints.shape[-1] == 3:
    if confidence is not None:
      raise ValueError("keypoints have a confidence column and confidence= "
                       "was given too; pass one of them")
    confidence = keypoints[..., 2]
  elif confidence is None:
    confidence = jnp.ones(keypoints.shape[:-1], jnp.float32)
  visible = (jnp.asarray(confidence, jnp.float32) > min_confidence).astype(
      jnp.float32)
  return _fit(params.network, params.params, model, regressor,
              keypoints[..., :2], visible,
              camera, init, keypoint_format=keypoint_format,
              num_steps=config.num_steps if num_steps is None else num_steps,
              grad_scale=config.grad_scale)


def fit_in_chunks(keypoints, confidence, *, keypoint_format: str,
                  chunk_size: int, camera: Optional[cameras.Perspective] = None,
                  params: Optional[Pretrained] = None,
                  on_chunk=None) -> FitResult:
  """`fit` on (N, K, 2) keypoints, in calls of `chunk_size` people.

  Every call has the same shape (the last chunk is padded with people
  without points), so the fit compiles once, and a person's result depends
  only on the chunk it falls in: the same rows in the same order give
  bitwise the same results.

  Args:
    keypoints: (N, K, 2) pixels; confidence: (N, K).
    keypoint_format: as in `fit`.
    chunk_size: people per call.
    camera: optional `Perspective` intrinsics with leading shape (N,).
    params: as in `fit`.
    on_chunk: optional callback, called with the number of people of each
      chunk when it is done (e.g. a progress bar's `update`).

  Returns:
    A `FitResult` of NumPy arrays with leading shape (N,).
  """
  keypoints = np.asarray(keypoints, np.float32)
  confidence = np.asarray(confidence, np.float32)
  n = len(keypoints)
  size = max(1, min(chunk_size, n))
  padding = -n % size

  def pad(a):
    a = np.asarray(a)
    return np.concatenate([a, np.zeros((padding,) + a.shape[1:], a.dtype)])

  keypoints, confidence = pad(keypoints), pad(confidence)
  if camera is not None:  # padded rows get the first row's intrinsics
    camera = jax.tree.map(lambda a: np.concatenate(
        [np.asarray(a), np.repeat(np.asarray(a)[:1], padding, 0)]), camera)
  chunks = []
  for start in range(0, len(keypoints), size):
    part = slice(start, start + size)
    chunks.append(jax.device_get(fit(
        keypoints[part], confidence[part], keypoint_format=keypoint_format,
        camera=None if camera is None else jax.tree.map(
            lambda a, part=part: a[part], camera),
        params=params)))
    if on_chunk is not None:
      on_chunk(min(size, n - start))
  return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *chunks)


def fitted_points(pose, betas, camera, *, keypoint_format: str,
                  params: Optional[Pretrained] = None):
  """The points `fit` reports for given parameters (e.g. smoothed ones).

  Args:
    pose: (..., 72); betas: (..., S).
    camera: `WeakPerspective` or `Perspective` in pixels, leading (...).
    keypoint_format: the keypoints' format.
    params: whose body model to use, as in `fit`; default: the bundled.

  Returns:
    (joints (..., 24, 3) as `FitResult.joints`, keypoints_2d (..., K, 2)
    projected by `camera`).
  """
  config = (params if params is not None else load_pretrained()).config
  with jax.ensure_compile_time_eval():
    model, regressor = load_body(config.body_model, config.num_betas)
  return _fitted_points(model, regressor, jnp.asarray(pose, jnp.float32),
                        jnp.asarray(betas, jnp.float32), camera,
                        keypoint_format=keypoint_format)


@functools.partial(jax.jit, static_argnames=("keypoint_format",))
def _fitted_points(model, regressor, pose, betas, camera, *,
                   keypoint_format):
  format_points = kp.get_format(keypoint_format).canonical_index
  points = keypoint_path.regress_keypoints(
      model, regressor.select(np.r_[np.arange(NUM_JOINTS), format_points]),
      pose, betas)
  return (points[..., :NUM_JOINTS, :],
          cameras.project(camera, points[..., NUM_JOINTS:, :]))


@functools.partial(jax.jit, static_argnums=0,
                   static_argnames=("keypoint_format", "num_steps",
                                    "grad_scale"))
def _fit(network, network_params, model, regressor, xy, confidence, camera,
         init, *, keypoint_format, num_steps, grad_scale) -> FitResult:
  """`fit` on arrays: compiled once per network, format and shape."""
  canon_xy, canon_conf = kp.to_canonical(xy, confidence, keypoint_format)
  norm = cameras.normalization(canon_xy, canon_conf)
  start = None if init is None else _theta_from_result(init, norm)
  format_points = kp.get_format(keypoint_format).canonical_index
  unrolled = optimizer.unroll(network, network_params, model, regressor,
                              norm.apply(canon_xy), canon_conf, num_steps,
                              init=start,
                              init_valid=None if init is None else init.fit_ok,
                              grad_scale=grad_scale,
                              loss_points=format_points)
  theta = unrolled.thetas[-1]
  ok = norm.enough_visible & jnp.all(jnp.isfinite(theta), axis=-1)
  theta = jnp.where(ok[..., None], theta, 0.0)
  parts = optimizer.split_theta(theta, model.num_betas)
  # Only the outputs' points: the SMPL joints, then the format's keypoints.
  points, projected = optimizer.theta_keypoints(
      theta, model,
      regressor.select(np.r_[np.arange(NUM_JOINTS), format_points]))
  projected = norm.invert(projected[..., NUM_JOINTS:, :])
  pixel_camera = cameras.WeakPerspective(
      parts.camera.scale * norm.scale,
      norm.center + parts.camera.translation * norm.scale[..., None])
  return FitResult(
      pose=parts.pose, betas=parts.betas,
      camera=pixel_camera if camera is None else _perspective(
          pixel_camera, camera),
      joints=points[..., :NUM_JOINTS, :],
      keypoints_2d=projected,
      loss_history=jnp.moveaxis(
          jnp.where(ok, unrolled.losses, 0.0), 0, -1),
      fit_ok=ok)


def _perspective(weak: cameras.WeakPerspective,
                 intrinsics: cameras.Perspective) -> cameras.Perspective:
  """The perspective camera that weak perspective approximates: a body at
  depth z images at f / z pixels per metre."""
  focal = jnp.asarray(intrinsics.focal_length, jnp.float32)
  centre = jnp.asarray(intrinsics.principal_point, jnp.float32)
  depth = focal[..., 0] / jnp.maximum(weak.scale, 1e-6)
  xy = (weak.translation - centre) / jnp.maximum(weak.scale, 1e-6)[..., None]
  return cameras.Perspective(
      jnp.broadcast_to(focal, xy.shape), jnp.broadcast_to(centre, xy.shape),
      jnp.concatenate([xy, depth[..., None]], axis=-1))


def _theta_from_result(result: FitResult, norm: cameras.Normalization):
  """Θ in the current frame's person-centred units from a previous fit."""
  weak = result.camera
  if isinstance(weak, cameras.Perspective):
    scale = weak.focal_length[..., 0] / weak.translation[..., 2]
    weak = cameras.WeakPerspective(
        scale, weak.translation[..., :2] * scale[..., None] +
        weak.principal_point)
  scale = weak.scale / norm.scale
  translation = (weak.translation - norm.center) / norm.scale[..., None]
  return jnp.concatenate([
      result.pose, result.betas,
      jnp.log(jnp.maximum(scale, 1e-6))[..., None], translation
  ], axis=-1)
