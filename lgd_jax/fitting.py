"""`fit`: SMPL bodies from 2D keypoints with the learned optimizer.

Pure and traceable: usable inside `jit`, `vmap` and `grad` of user code, for
any leading batch shape. The bundled pretrained weights and body model are
loaded once, on first use.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import alignment
from lgd_jax import batching
from lgd_jax import cameras
from lgd_jax import descent
from lgd_jax import formats as kp
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax.body.cache import body_of, load_body
from lgd_jax.body.keypoint_path import regress_keypoints
from lgd_jax.body.model import NUM_JOINTS, BodyModel
from lgd_jax.weights import Pretrained, load_pretrained


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
      input's format, projected by `camera`.
    loss_history: (..., N + 1) inner reprojection loss of Θ_0 .. Θ_N
      (person-centred units; the mean squared error per visible point),
      Θ_N's after the alignment in the image (`align`), and one more
      entry after `descent_iterations` when asked.
    fit_ok: (...) False when fewer than 6 keypoints are visible or the fit
      is not finite (in pixels too: non-finite intrinsics, or coordinates so
      near float32's limit that the camera or points overflow); those
      people get zero pose, betas and joints; no output is ever NaN or
      infinite.
  """

  pose: jax.Array
  betas: jax.Array
  camera: Any
  joints: jax.Array
  keypoints_2d: jax.Array
  loss_history: jax.Array
  fit_ok: jax.Array


def fit(keypoints, confidence=None, *, keypoint_format: str = "coco17",
        camera: Optional[cameras.Perspective] = None,
        params: Optional[Pretrained] = None, num_steps: Optional[int] = None,
        init: Optional[FitResult] = None, model: Optional[BodyModel] = None,
        min_confidence: float = 0.0, num_starts: int = 1,
        descent_iterations: int = 0,
        upright_beyond_deg: float = unroll_lib.UPRIGHT_BEYOND_DEG,
        align: bool = True) -> FitResult:
  """Fits SMPL-layout bodies to 2D keypoints.

  Args:
    keypoints: (..., K, 2) pixels, or (..., K, 3) with confidence as the
      third column; K must match `keypoint_format`.
    confidence: (..., K) detector scores or visibilities; default: the third
      column, else ones. A point counts as visible, with weight 1, when its
      confidence exceeds `min_confidence` (the network was trained on 0/1
      visibilities, not on score values).
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    camera: optional `Perspective` with the image's intrinsics (its
      translation is ignored); the result's camera is then a `Perspective`
      with the translation in metres. Default: weak perspective.
    params: a `Pretrained` (from `load_pretrained`); default: the bundled
      weights.
    num_steps: unrolled steps; default: what the network was trained with.
    init: a previous `FitResult` to start from (e.g. the previous video
      frame) instead of the network's initial estimate; people whose
      `init.fit_ok` is False start from the initial estimate. A network
      with a refiner (`UpdateNetwork.refine_after`) makes every update of
      a warm start with the refiner, as it makes every update after the
      first `refine_after` of a cold one; where the network's
      `refine_decay` γ is below 1 (the bundled one's is), the refiner's
      k-th update is scaled by γ^k, so fits settle however many steps they
      run.
    model: body model; default: the one the network was trained with
      (another model must have the same number of betas; its shape space
      differs, so retrain on it for accurate shapes).
    min_confidence: see `confidence`.
    num_starts: 2 also fits from the start turned half round (facing away
      from the camera) and keeps, per person, the fit with the lower final
      reprojection loss; twice the cost (gain and cost measured in the
      README).
    descent_iterations: after the learned steps, this many Adam iterations
      on the robust reprojection error, the body pose and shape held near
      the learned fit (`lgd_jax.descent`), to explain the keypoints more
      closely (gain and cost measured in the README). `loss_history` then
      has one more entry, the loss after them.
    upright_beyond_deg: a person whose body axis (between the ankles, or
      knees, to between the shoulders) is turned more than this many
      degrees from the image's vertical is fitted turned upright, and the
      result turned back (`lgd_jax.unroll.unroll_best_start`; the networks
      saw few bodies lying across the image). 180: never. The default's
      gain is measured in the README ("Upright in the image").
    align: after the learned steps, turn the body about the camera's
      optical axis and scale and shift the camera so that the keypoints
      are explained best, the body otherwise held (a closed-form least-
      squares fit, `lgd_jax.alignment`); a person keeps it where the
      reprojection loss is lower. Gain and cost in the README ("Aligned
      in the image").

  Returns:
    A `FitResult`.
  """
  if num_starts not in (1, 2):
    raise ValueError(f"num_starts must be 1 or 2, got {num_starts!r}")
  if (isinstance(upright_beyond_deg, bool) or
      not isinstance(upright_beyond_deg, (int, float, np.integer,
                                          np.floating)) or
      not 0 <= upright_beyond_deg <= 180):
    raise ValueError("upright_beyond_deg must be a number of degrees within "
                     f"0..180, got {upright_beyond_deg!r}")
  if (isinstance(descent_iterations, bool) or
      not isinstance(descent_iterations, (int, np.integer)) or
      descent_iterations < 0):
    raise ValueError("descent_iterations must be a whole number >= 0, got "
                     f"{descent_iterations!r}")
  if not isinstance(align, (bool, np.bool_)):
    raise ValueError(f"align must be True or False, got {align!r}")
  params = params if params is not None else load_pretrained()
  config = params.config
  if model is None:
    body = load_body(config.body_model, config.num_betas)
  else:
    if model.num_betas != config.num_betas:
      raise ValueError(f"the network fits {config.num_betas} betas but the "
                       f"model has {model.num_betas}; load it with "
                       f"num_betas={config.num_betas}")
    body = body_of(model)
  # Checks only here; JAX arrays are converted inside the jitted `_fit`, so
  # a plain call costs little more than a call inside the user's own jit.
  keypoints = _check_real(keypoints, "keypoints")
  if keypoints.ndim < 2 or keypoints.shape[-1] not in (2, 3):
    raise ValueError(f"keypoints must be (..., K, 2) or (..., K, 3), got "
                     f"shape {keypoints.shape}")
  if camera is not None:
    _check_intrinsics(camera, keypoints.shape[:-2])
  if keypoints.shape[-1] == 3 and confidence is not None:
    raise ValueError("keypoints have a confidence column and confidence= "
                     "was given too; pass one of them")
  if confidence is not None:
    confidence = _check_real(confidence, "confidence")
  return _fit(params.network, params.params, body, keypoints, confidence,
              camera, init, min_confidence, keypoint_format=keypoint_format,
              num_steps=config.num_steps if num_steps is None else num_steps,
              grad_scale=config.grad_scale, num_starts=num_starts,
              descent_iterations=int(descent_iterations),
              upright_beyond_deg=float(upright_beyond_deg),
              align=bool(align))


def _check_real(x, name: str):
  """`x` as a JAX array as given, or host values as float32; ValueError
  naming `name` for what is not real numbers (strings, objects, complex
  numbers, ragged lists)."""
  if not hasattr(x, "dtype"):
    try:
      x = np.asarray(x)
    except ValueError as e:
      raise ValueError(f"{name} is not a regular array: {e}") from None
  if np.dtype(x.dtype).kind not in "biuf":
    raise ValueError(f"{name} must be real numbers, got dtype {x.dtype}")
  # Host arrays of any dtype share one compiled `_fit` (float64 NumPy, the
  # common case, would otherwise compile a second program); the values are
  # those `_fit`'s own float32 conversion gives.
  if isinstance(x, (np.ndarray, np.generic)):
    x = np.asarray(x, np.float32)
  return x


def _check_intrinsics(camera, lead: tuple[int, ...]) -> None:
  """ValueError/TypeError naming `camera` unless it is a `Perspective`
  whose leading shape broadcasts to the keypoints' `lead`."""
  if not isinstance(camera, cameras.Perspective):
    raise TypeError("camera must be a lgd_jax.cameras.Perspective with the "
                    f"image's intrinsics, got {type(camera).__name__}")
  for field in ("focal_length", "principal_point"):
    shape = jnp.shape(getattr(camera, field))
    try:
      ok = shape[-1:] == (2,) and np.broadcast_shapes(shape[:-1],
                                                      lead) == lead
    except ValueError:
      ok = False
    if not ok:
      raise ValueError(f"camera.{field} must be (..., 2) with a leading "
                       f"shape that broadcasts to the keypoints' {lead}, got "
                       f"{shape} (one camera per image size?)")


def fit_in_chunks(keypoints, confidence, *, keypoint_format: str,
                  chunk_size: int, camera: Optional[cameras.Perspective] = None,
                  params: Optional[Pretrained] = None,
                  on_chunk=None, full_chunks: bool = False,
                  init: Optional[FitResult] = None,
                  descent_iterations: int = 0,
                  upright_beyond_deg: float = unroll_lib.UPRIGHT_BEYOND_DEG,
                  align: bool = True) -> FitResult:
  """`fit` on (N, K, 2) keypoints, in calls of `chunk_size` people, each
  spread over all devices (`fit_sharded`; plain `fit` on one device).

  Every call has the same shape (the last chunk is padded), so the fit
  compiles once, and a person's result depends
  only on the chunk it falls in: the same rows in the same order give
  bitwise the same results.

  Args:
    keypoints: (N, K, 2) pixels; confidence: (N, K).
    keypoint_format: as in `fit`.
    chunk_size: people per call.
    camera: optional `Perspective` intrinsics with leading shape (N,).
    init: optional `FitResult` with leading shape (N,) to start from.
    params, descent_iterations, upright_beyond_deg, align: as in `fit`.
    on_chunk: optional callback, called with the number of people of each
      chunk when it is done (e.g. a progress bar's `update`).
    full_chunks: pad to `chunk_size` people even when N is smaller, so
      calls on inputs of different sizes share one compilation.

  Returns:
    A `FitResult` of NumPy arrays with leading shape (N,).
  """
  def call(keypoints, confidence, camera, init):
    return fit_sharded(keypoints, confidence, keypoint_format=keypoint_format,
                       camera=camera, init=init, params=params,
                       descent_iterations=descent_iterations,
                       upright_beyond_deg=upright_beyond_deg,
                       align=align)

  return batching.in_chunks(call, (np.asarray(keypoints, np.float32),
                                   np.asarray(confidence, np.float32), camera,
                                   init),
                            chunk_size, on_chunk, full_chunks=full_chunks)


def fit_sharded(keypoints, confidence=None, *, keypoint_format: str,
                mesh: Optional[jax.sharding.Mesh] = None,
                params: Optional[Pretrained] = None,
                camera: Optional[cameras.Perspective] = None,
                num_steps: Optional[int] = None,
                min_confidence: float = 0.0,
                init: Optional[FitResult] = None,
                descent_iterations: int = 0,
                upright_beyond_deg: float = unroll_lib.UPRIGHT_BEYOND_DEG,
                align: bool = True) -> FitResult:
  """`fit` on (N, K, 2|3) keypoints with the people sharded over a mesh.

  The batch axis is split over every axis of `mesh` (named shardings, one
  program for all devices, no `pmap`): N is padded to a multiple of the
  mesh's size with people without points (they fail and are dropped again),
  the inputs are placed with `NamedSharding(mesh, PartitionSpec(axes))`, and
  the jitted `fit` runs on all devices at once. People are fitted
  independently, so the result equals `fit` on one device (to float32
  rounding: the devices' matrix products see other batch sizes; a test with
  8 CPU devices checks 1e-5). On one device it is plain `fit`.

  Args:
    keypoints: (N, K, 2) pixels, or (N, K, 3) with confidence as the third
      column. NumPy input goes from the host straight to its devices.
    confidence: (N, K) or None, as in `fit`.
    keypoint_format: as in `fit`.
    mesh: the devices; default: all of them,
      `jax.make_mesh((jax.device_count(),), ("data",))`.
    params, num_steps, min_confidence, descent_iterations,
    upright_beyond_deg, align: as in `fit`.
    camera: optional `Perspective` intrinsics, leading shape () or (N,).
    init: optional `FitResult` with leading shape (N,), as in `fit`.

  Returns:
    A `FitResult` of arrays with leading shape (N,): sharded over `mesh`
    when N is a multiple of its size, else cut back from the padded batch
    (XLA may then gather them).
  """
  if mesh is None:
    mesh = jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))
  call = functools.partial(fit, keypoint_format=keypoint_format,
                           params=params, num_steps=num_steps,
                           min_confidence=min_confidence,
                           descent_iterations=descent_iterations,
                           upright_beyond_deg=upright_beyond_deg,
                           align=align)
  if mesh.size == 1:  # explicit shardings only slow XLA:CPU down here
    return call(keypoints, confidence, camera=camera, init=init)
  keypoints = _check_real(keypoints, "keypoints")
  if keypoints.ndim != 3:
    raise ValueError(f"keypoints must be (N, K, 2|3), got shape "
                     f"{keypoints.shape}")
  n = keypoints.shape[0]
  padding = -n % mesh.size
  batch = jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(mesh.axis_names))

  def place(a):
    """(N, ...) -> padded with zero rows (no points, confidence 0; zero
    intrinsics), float32, sharded over the batch axis."""
    xp = jnp if isinstance(a, jax.Array) else np  # device data stays there
    return jax.device_put(
        batching.pad_rows(xp.asarray(a, np.float32), n + padding, fill=0.0),
        batch)

  if camera is not None:
    _check_intrinsics(camera, (n,))
    # Per-person intrinsics are sharded like the people; shared ones stay.
    camera = jax.tree.map(lambda a: place(a) if jnp.ndim(a) == 2 else a,
                          camera)
  if confidence is None and keypoints.shape[-1] == 2:
    # Every given point counts, and the padded rows' none do.
    confidence = np.ones(keypoints.shape[:2], np.float32)
  if confidence is not None:
    confidence = place(_check_real(confidence, "confidence"))
  if init is not None:  # padded rows: fit_ok False, so they start cold
    init = jax.tree.map(lambda a: jax.device_put(batching.pad_rows(
        a, n + padding, fill=0), batch), init)
  result = call(place(keypoints), confidence, camera=camera, init=init)
  return result if padding == 0 else jax.tree.map(lambda a: a[:n], result)


def fitted_points(pose, betas, camera, *, keypoint_format: str,
                  params: Optional[Pretrained] = None,
                  chunk_size: Optional[int] = None):
  """The points `fit` reports for given parameters (e.g. smoothed ones).

  Args:
    pose: (..., 72); betas: (..., S).
    camera: `WeakPerspective` or `Perspective` in pixels, leading (...).
    keypoint_format: the keypoints' format.
    params: whose body model to use, as in `fit`; default: the bundled.
    chunk_size: when given, the people (all leading axes flattened; the
      camera broadcast to them) go through in calls of this many, so memory
      stays bounded for long videos; the result is then NumPy.

  Returns:
    (joints (..., 24, 3) as `FitResult.joints`, keypoints_2d (..., K, 2)
    projected by `camera`).
  """
  config = (params if params is not None else load_pretrained()).config
  call = functools.partial(_fitted_points,
                           load_body(config.body_model, config.num_betas),
                           keypoint_format=keypoint_format)
  if chunk_size is None:
    return call(jnp.asarray(pose, jnp.float32),
                jnp.asarray(betas, jnp.float32), camera)
  lead = np.shape(pose)[:-1]

  def flat(a, trailing: int):
    """(lead..., trailing dims) broadcast and flattened to (n, ...)."""
    a = np.asarray(a, np.float32)
    tail = a.shape[a.ndim - trailing:]
    return np.broadcast_to(a, lead + tail).reshape((-1,) + tail)

  if isinstance(camera, cameras.WeakPerspective):
    camera = cameras.WeakPerspective(flat(camera.scale, 0),
                                     flat(camera.translation, 1))
  else:
    camera = jax.tree.map(lambda a: flat(a, 1), camera)
  points = batching.in_chunks(call, (flat(pose, 1), flat(betas, 1), camera),
                              chunk_size)
  return tuple(a.reshape(lead + a.shape[1:]) for a in points)


@functools.partial(jax.jit, static_argnames=("keypoint_format",))
def _fitted_points(body, pose, betas, camera, *, keypoint_format):
  body = body.select(_output_points(keypoint_format))
  points = regress_keypoints(body.model, body.regressor, pose, betas)
  return (points[..., :NUM_JOINTS, :],
          cameras.project(camera, points[..., NUM_JOINTS:, :]))


@functools.partial(jax.jit, static_argnums=0,
                   static_argnames=("keypoint_format", "num_steps",
                                    "grad_scale", "num_starts",
                                    "descent_iterations",
                                    "upright_beyond_deg", "align"))
def _fit(network, network_params, body, keypoints, confidence, camera, init,
         min_confidence, *, keypoint_format, num_steps, grad_scale,
         num_starts, descent_iterations, upright_beyond_deg,
         align) -> FitResult:
  """`fit` on arrays: compiled once per network, format and shape."""
  keypoints = jnp.asarray(keypoints, jnp.float32)
  xy = keypoints[..., :2]
  if keypoints.shape[-1] == 3:
    confidence = keypoints[..., 2]
  elif confidence is None:
    confidence = jnp.ones(keypoints.shape[:-1], jnp.float32)
  confidence = (jnp.asarray(confidence, jnp.float32) > min_confidence).astype(
      jnp.float32)
  canon_xy, canon_conf = kp.to_canonical(xy, confidence, keypoint_format)
  norm = cameras.normalization(canon_xy, canon_conf)
  start = None if init is None else theta_lib.from_fit(
      init.pose, init.betas, init.camera, norm)
  loss_points = kp.get_format(keypoint_format).canonical_index
  unrolled = unroll_lib.unroll_best_start(
      network, network_params, body, norm.apply(canon_xy), canon_conf,
      num_steps, num_starts=num_starts, init=start,
      init_valid=None if init is None else init.fit_ok,
      upright_beyond_deg=upright_beyond_deg, grad_scale=grad_scale,
      loss_points=loss_points)
  points = (body.select(loss_points),
            norm.apply(canon_xy)[..., loss_points, :],
            canon_conf[..., loss_points])
  theta, loss_history = unrolled.thetas[-1], unrolled.losses
  if align:
    theta, final_loss = alignment.aligned_in_image(theta, loss_history[-1],
                                                   *points)
    loss_history = loss_history.at[-1].set(final_loss)
  if descent_iterations:
    descended = descent.descend(*points, theta, descent_iterations)
    # A descent that leaves the finite range keeps the learned fit.
    theta = jnp.where(jnp.all(jnp.isfinite(descended), -1, keepdims=True),
                      descended, theta)
    loss_history = jnp.concatenate(
        [loss_history, unroll_lib.inner_loss(theta, *points)[None]])

  def output_camera(theta):
    parts = theta_lib.split(theta, body.model.num_betas)
    pixel_camera = theta_lib.pixel_camera(parts.camera, norm)
    return parts, (pixel_camera if camera is None else
                   theta_lib.weak_to_perspective(pixel_camera, camera))

  # In pixels the camera can overflow (coordinates near float32's limit) or
  # be NaN (non-finite intrinsics) though Θ is finite: a failed fit too.
  ok = (norm.enough_visible & jnp.all(jnp.isfinite(theta), axis=-1) &
        _camera_finite(output_camera(theta)[1]))
  theta = jnp.where(ok[..., None], theta, 0.0)
  parts, out_camera = output_camera(theta)
  # Fits that are ok have a finite camera; failed ones with non-finite
  # intrinsics get zeros where it is not.
  out_camera = jax.tree.map(
      lambda leaf: jnp.where(jnp.isfinite(leaf), leaf, 0.0), out_camera)
  # Only the outputs' points: the SMPL joints, then the format's keypoints.
  points, projected = theta_lib.keypoints(
      theta, body.select(_output_points(keypoint_format)))
  # Reprojected by the camera returned, so project(result.camera, points)
  # is keypoints_2d: with intrinsics, full perspective (foreshortening
  # included), not the weak perspective the fit ran in.
  projected = (norm.invert(projected[..., NUM_JOINTS:, :]) if camera is None
               else cameras.project(out_camera, points[..., NUM_JOINTS:, :]))
  # The last overflow: points beyond float32's range in pixels.
  points_finite = jnp.all(jnp.isfinite(projected), axis=(-2, -1))
  ok = ok & points_finite
  return FitResult(
      pose=jnp.where(ok[..., None], parts.pose, 0.0),
      betas=jnp.where(ok[..., None], parts.betas, 0.0),
      camera=out_camera,
      joints=jnp.where(ok[..., None, None], points[..., :NUM_JOINTS, :],
                       0.0),
      keypoints_2d=jnp.where(points_finite[..., None, None], projected, 0.0),
      loss_history=jnp.moveaxis(jnp.where(ok, loss_history, 0.0), 0, -1),
      fit_ok=ok)


def _output_points(keypoint_format: str) -> np.ndarray:
  """What `fit` reports: the SMPL joints, then the format's keypoints."""
  return np.r_[np.arange(NUM_JOINTS),
               kp.get_format(keypoint_format).canonical_index]


def _camera_finite(camera) -> jax.Array:
  """(...) whether each person's camera is finite in every field."""
  if isinstance(camera, cameras.WeakPerspective):
    return jnp.isfinite(camera.scale) & jnp.all(
        jnp.isfinite(camera.translation), axis=-1)
  return functools.reduce(jnp.logical_and, [
      jnp.all(jnp.isfinite(leaf), axis=-1) for leaf in jax.tree.leaves(camera)])
