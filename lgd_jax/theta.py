"""Θ, the vector the learned optimizer updates: its layout and conversions.

Θ = (pose (72), betas (S), camera (3)) lives in the person-centred frame of
`cameras.normalization`: the camera is weak perspective with scale
exp(Θ[-3]) and translation Θ[-2:], so Θ = 0 is a T-posed mean body facing
the camera at about the person's size. Every module that reads or writes Θ
goes through this one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lgd_jax import cameras
from lgd_jax.body import keypoint_path
from lgd_jax.body import lbs
from lgd_jax.body import rotations
from lgd_jax.body.cache import Body
from lgd_jax.body.model import NUM_JOINTS

NUM_POSE = 72
NUM_CAMERA = 3  # weak perspective: log scale, tx, ty (normalised units)
_MIN_SCALE = 1e-6


def size(num_betas: int) -> int:
  return NUM_POSE + num_betas + NUM_CAMERA


class Theta(NamedTuple):
  pose: jax.Array  # (..., 72)
  betas: jax.Array  # (..., S)
  camera: cameras.WeakPerspective  # normalised units


def split(theta: jax.Array, num_betas: int) -> Theta:
  pose = theta[..., :NUM_POSE]
  betas = theta[..., NUM_POSE:NUM_POSE + num_betas]
  camera = theta[..., -NUM_CAMERA:]
  return Theta(pose, betas,
               cameras.WeakPerspective(jnp.exp(camera[..., 0]),
                                       camera[..., 1:]))


def join(pose: jax.Array, betas: jax.Array,
         camera: jax.Array) -> jax.Array:
  """Θ from pose, betas and the (..., 3) camera (log scale, tx, ty)."""
  return jnp.concatenate([pose, betas, camera], axis=-1)


def keypoints(theta: jax.Array, body: Body):
  """Θ (..., P) -> (3D keypoints (..., C, 3) in metres, their projection
  (..., C, 2) by Θ's camera, in normalised units), C = the regressor's."""
  params = split(theta, body.model.num_betas)
  points = keypoint_path.regress_keypoints(body.model, body.regressor,
                                           params.pose, params.betas)
  return points, cameras.project(params.camera, points)


def turned_half_round(theta: jax.Array) -> jax.Array:
  """Θ with the body turned 180° about its vertical (y) axis, facing away:
  from 2D points alone a body facing the camera and one facing away are
  often equally plausible (the second start of `fit(num_starts=2)` and of
  SMPLify)."""
  half_turn = jnp.diag(jnp.array([-1.0, 1.0, -1.0], theta.dtype))
  turned = half_turn @ rotations.axis_angle_to_matrix(theta[..., :3])
  return theta.at[..., :3].set(rotations.matrix_to_axis_angle(turned))


def turned_in_image(theta: jax.Array, angle: jax.Array, body: Body
                    ) -> jax.Array:
  """Θ (..., P) whose projection is Θ's turned by `angle` (...) radians
  about the person-centred origin, from the image's x axis towards its y
  axis: the body turned about the camera's optical axis and the camera's
  translation with it (`unroll_best_start`'s upright frame)."""
  angle = jnp.asarray(angle, theta.dtype)
  # The image's y axis points down and the body's up, so the body turns
  # the other way about its z axis.
  body_turn = rotations.axis_angle_to_matrix(
      jnp.stack([0.0 * angle, 0.0 * angle, -angle], axis=-1))
  orientation = body_turn @ rotations.axis_angle_to_matrix(theta[..., :3])
  # The global rotation turns the body about its root joint, which moves
  # with the shape; the translation makes up for the root's own turn.
  params = split(theta, body.model.num_betas)
  root = lbs.rest_joints(body.model, params.betas)[..., 0, :]
  root_shift = jnp.einsum("...ij,...j->...i", body_turn, root) - root
  translation = (rotations.turned_2d(theta[..., -2:], angle) +
                 params.camera.scale[..., None] *
                 cameras.to_camera_axes(root_shift)[..., :2])
  turned = theta.at[..., :3].set(
      rotations.matrix_to_axis_angle(orientation)).at[..., -2:].set(
          translation)
  # Unturned, Θ keeps its own axis-angle: a refiner reads Θ, and the
  # round trip through a matrix would rewrite rotations beyond π.
  return jnp.where((angle == 0)[..., None], theta, turned)


def smpl_joints(theta: jax.Array, body: Body) -> jax.Array:
  """Θ (..., P) -> (..., 24, 3) SMPL joints regressed from the posed mesh
  (W·M, the first canonical points), metres."""
  return keypoints(theta, body)[0][..., :NUM_JOINTS, :]


def pixel_camera(camera: cameras.WeakPerspective,
                 norm: cameras.Normalization) -> cameras.WeakPerspective:
  """Θ's normalised weak camera -> the same camera in pixels."""
  return cameras.WeakPerspective(
      camera.scale * norm.scale,
      norm.center + camera.translation * norm.scale[..., None])


def weak_to_perspective(weak: cameras.WeakPerspective,
                        intrinsics: cameras.Perspective) -> cameras.Perspective:
  """The perspective camera that weak perspective approximates: a body at
  depth z images at f / z pixels per metre."""
  focal = jnp.asarray(intrinsics.focal_length, jnp.float32)
  centre = jnp.asarray(intrinsics.principal_point, jnp.float32)
  depth = focal[..., 0] / jnp.maximum(weak.scale, _MIN_SCALE)
  xy = (weak.translation - centre) / jnp.maximum(weak.scale,
                                                 _MIN_SCALE)[..., None]
  return cameras.Perspective(
      jnp.broadcast_to(focal, xy.shape), jnp.broadcast_to(centre, xy.shape),
      jnp.concatenate([xy, depth[..., None]], axis=-1))


def perspective_to_weak(camera: cameras.Perspective) -> cameras.WeakPerspective:
  """The inverse of `weak_to_perspective`."""
  scale = camera.focal_length[..., 0] / camera.translation[..., 2]
  return cameras.WeakPerspective(
      scale, camera.translation[..., :2] * scale[..., None] +
      camera.principal_point)


def from_fit(pose: jax.Array, betas: jax.Array, camera,
             norm: cameras.Normalization) -> jax.Array:
  """Θ in the person-centred units of `norm` from a fit's pose, betas and
  pixel camera (weak or perspective), e.g. to warm start the next frame."""
  weak = (perspective_to_weak(camera)
          if isinstance(camera, cameras.Perspective) else camera)
  scale = weak.scale / norm.scale
  translation = (weak.translation - norm.center) / norm.scale[..., None]
  return join(pose, betas,
              jnp.concatenate([jnp.log(jnp.maximum(scale, _MIN_SCALE))[
                  ..., None], translation], axis=-1))


def camera_vector(camera) -> np.ndarray:
  """A pixel camera as a (..., 3) vector to average over time: the weak
  camera as (log scale, translation); a perspective one as where the body
  origin images, (x/z, y/z), and log z, the perspective counterpart, so an
  outlying depth cannot drag a neighbour's depth through zero."""
  if isinstance(camera, cameras.WeakPerspective):
    return np.concatenate([
        np.log(np.maximum(np.asarray(camera.scale), 1e-9))[..., None],
        np.asarray(camera.translation)], -1)
  translation = np.asarray(camera.translation, np.float64)
  depth = np.maximum(translation[..., 2:], _MIN_SCALE)
  return np.concatenate([translation[..., :2] / depth, np.log(depth)], -1)


def camera_from_vector(vector: np.ndarray, like):
  """The inverse of `camera_vector`; a perspective camera keeps `like`'s
  focal length and principal point."""
  if isinstance(like, cameras.WeakPerspective):
    return cameras.WeakPerspective(np.exp(vector[..., 0]), vector[..., 1:])
  depth = np.exp(vector[..., 2:])
  return cameras.Perspective(
      like.focal_length, like.principal_point,
      np.concatenate([vector[..., :2] * depth, depth], -1).astype(np.float32))
