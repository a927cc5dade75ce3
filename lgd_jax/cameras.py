"""Cameras and the person-centred normalisation of 2D keypoints.

Frames. Bodies live in the SMPL frame: metres, y up, and at pose 0 the person
faces +z, i.e. looks at the camera. Cameras use the OpenCV image convention:
u to the right, v down, depth z away from the camera. The body-to-camera
rotation is the half turn about x, (x, y, z) -> (x, -y, -z), so pose 0 is an
upright person facing the camera whose left side appears on the image's
right, and a fit's global orientation stays near 0 for upright people.

All functions are pure and take any leading batch shape.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np

MIN_VISIBLE = 6  # fewer visible keypoints: too few to fit (as in the paper)
MIN_DEPTH = 1e-3  # metres; points nearer (or behind) the camera are clamped


def to_camera_axes(points: jax.Array) -> jax.Array:
  """(..., 3) SMPL-frame points -> OpenCV camera axes (x, -y, -z)."""
  return points * jnp.array([1.0, -1.0, -1.0], points.dtype)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class WeakPerspective:
  """The paper's camera: x = s · Π(X) + t, Π orthographic onto (x, -y).

  Attributes:
    scale: (...) pixels (or normalised units) per metre.
    translation: (..., 2) image position of the body's origin (the pelvis at
      pose 0).
  """

  scale: jax.Array
  translation: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Perspective:
  """A pinhole camera with known intrinsics.

  Attributes:
    focal_length: (..., 2) fx, fy in pixels.
    principal_point: (..., 2) cx, cy in pixels.
    translation: (..., 3) metres; the body's origin in camera coordinates
      (so z > 0 is the distance in front of the camera).
  """

  focal_length: jax.Array
  principal_point: jax.Array
  translation: jax.Array


Camera = Union[WeakPerspective, Perspective]


def project(camera: Camera, points: jax.Array) -> jax.Array:
  """Projects (..., K, 3) SMPL-frame points to (..., K, 2) image points.

  The camera's leading shape broadcasts with the points' leading shape.
  """
  cam = to_camera_axes(points)
  if isinstance(camera, WeakPerspective):
    return (camera.scale[..., None, None] * cam[..., :2] +
            camera.translation[..., None, :])
  if isinstance(camera, Perspective):
    cam = cam + camera.translation[..., None, :]
    # Clamping the depth keeps points behind the camera finite (and their
    # gradient zero in depth) instead of dividing by ~0.
    depth = jnp.maximum(cam[..., 2:], MIN_DEPTH)
    return (camera.focal_length[..., None, :] * cam[..., :2] / depth +
            camera.principal_point[..., None, :])
  raise TypeError(f"not a camera: {type(camera).__name__}")


def default_focal_length(image_width, image_height):
  """Focal length in pixels when the user gives none: the image diagonal,
  sqrt(W^2 + H^2), i.e. a ~53 degree diagonal field of view (the convention
  of CLIFF and many phone cameras)."""
  return jnp.sqrt(jnp.asarray(image_width, jnp.float32)**2 +
                  jnp.asarray(image_height, jnp.float32)**2)


def intrinsics_camera(image_width, image_height, translation=None,
                      focal_length=None) -> Perspective:
  """A `Perspective` camera with the principal point at the image centre.

  Args:
    image_width, image_height: pixels (scalars or (...) arrays).
    translation: (..., 3) metres; default 0 (`fit` takes only the
      intrinsics and returns the translation it finds).
    focal_length: pixels, scalar or (..., 2); default `default_focal_length`.
  """
  width = jnp.asarray(image_width, jnp.float32)
  height = jnp.asarray(image_height, jnp.float32)
  if focal_length is None:  # (...): one per image, the same in x and y
    focal = default_focal_length(width, height)
    focal = jnp.stack([focal, focal], axis=-1)
  else:
    focal = jnp.asarray(focal_length, jnp.float32)
    if focal.ndim == 0 or focal.shape[-1:] != (2,):
      focal = jnp.stack([focal, focal], axis=-1)
  principal_point = jnp.stack([width / 2, height / 2], axis=-1)
  if translation is None:
    translation = jnp.zeros(principal_point.shape[:-1] + (3,))
  return Perspective(focal, principal_point,
                     jnp.asarray(translation, jnp.float32))


class Normalization(NamedTuple):
  """Maps pixels to person-centred units: (xy - centre) / scale.

  The visible keypoints then lie in [-1, 1] along the box's longer side.

  Attributes:
    center: (..., 2) pixels, centre of the visible keypoints' box.
    scale: (...) pixels, half the box's longer side (1 when it is ~0).
    num_visible: (...) int, keypoints with confidence > 0.
    enough_visible: (...) bool, num_visible >= MIN_VISIBLE.
  """

  center: jax.Array
  scale: jax.Array
  num_visible: jax.Array
  enough_visible: jax.Array

  def apply(self, xy: jax.Array) -> jax.Array:
    """(..., K, 2) pixels -> person-centred units."""
    return (xy - self.center[..., None, :]) / self.scale[..., None, None]

  def invert(self, xy: jax.Array) -> jax.Array:
    """(..., K, 2) person-centred units -> pixels."""
    return xy * self.scale[..., None, None] + self.center[..., None, :]


def normalization(xy: jax.Array, confidence: jax.Array) -> Normalization:
  """The person-centred frame of (..., K, 2) keypoints with (..., K)
  confidences, from the box of the visible (confidence > 0, finite) ones.

  Always finite: with no visible keypoint the centre is 0 and the scale 1;
  with one (or coincident ones) the scale is 1, so any unit works (pixels or
  coordinates normalised to the image).
  """
  visible = (confidence > 0) & jnp.all(jnp.isfinite(xy), axis=-1)
  safe = jnp.where(visible[..., None], xy, 0.0)
  big = jnp.finfo(xy.dtype).max
  lo = jnp.min(jnp.where(visible[..., None], safe, big), axis=-2)
  hi = jnp.max(jnp.where(visible[..., None], safe, -big), axis=-2)
  any_visible = jnp.any(visible, axis=-1)
  # Halves first: hi - lo could overflow for huge coordinates.
  center = jnp.where(any_visible[..., None], lo / 2 + hi / 2, 0.0)
  scale = jnp.max(jnp.where(any_visible[..., None], hi / 2 - lo / 2, 1.0),
                  axis=-1)
  scale = jnp.where(scale > 1e-6, scale, 1.0)
  num_visible = jnp.sum(visible, axis=-1)
  return Normalization(center, scale, num_visible,
                       enough_visible(visible))


def person_size(xy, visible):
  """(..., K, 2) points, (..., K) visibilities -> (...) the person's size:
  the long side of the visible points' box (0 with fewer than two). NumPy
  in, NumPy out (the tracker's float64 bookkeeping); JAX arrays otherwise.
  `normalization`'s scale is half of it."""
  xp = np if isinstance(xy, np.ndarray) else jnp
  visible = xp.asarray(visible, bool)
  lo = xp.min(xp.where(visible[..., None], xy, xp.inf), axis=-2)
  hi = xp.max(xp.where(visible[..., None], xy, -xp.inf), axis=-2)
  return xp.where(visible.sum(-1) >= 2, xp.max(hi - lo, axis=-1), 0.0)


def enough_visible(visible: jax.Array) -> jax.Array:
  """(..., K) visibilities -> (...) whether there are enough to fit."""
  return jnp.sum(visible > 0, axis=-1) >= MIN_VISIBLE
