"""Pose and shape priors of the optimisation baselines (SMPLify's).

The pose prior is SMPLify's: a full-covariance Gaussian mixture over the 69
body-pose values (global orientation excluded), scored by its best
component ("max-mixture", as SMPLify-X/SPIN's `MaxMixturePrior`). Ours is
fitted by EM on the bundled pose set's train split, so it describes the
same poses (and the same body model's joint conventions) as LGD's training
data. The bend prior penalises elbows and knees bent the wrong way; the
shape prior is the squared norm of the (whitened) betas.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.special

NUM_BODY_POSE = 69  # pose[3:]: 23 joints × axis-angle

# SMPLify's bend prior: full-pose (72) indices of the elbows' bend about y
# and the knees' bend about x, with the sign that makes exp(sign · angle)
# grow in the direction people do not bend. Checked on the train split
# (percentiles 0.1 / 50 / 99.9, radians): left elbow y -2.47 / -0.78 /
# 0.001, right elbow y -0.002 / 0.69 / 2.50, left knee x -0.15 / 0.45 /
# 2.20, right knee x -0.15 / 0.45 / 2.48: the penalised directions (left
# elbow > 0, right elbow < 0, knees < 0) are the ones the mocap never uses
# beyond a few hundredths of a radian (knees: 1 % below -0.11).
BEND_INDICES = (55, 58, 12, 15)  # left elbow y, right elbow y, knees x
BEND_SIGNS = (1.0, -1.0, -1.0, -1.0)

# Added to every component's covariance (rad²; std 0.01 rad). The pose set
# never moves some joints (spine3 and both hands are exactly 0), so their
# sample covariance is singular; this keeps it invertible, holds those
# joints near 0 as the data does, and is below the variance of every value
# the data does move (>= 1.6e-4 rad² over the set, most > 1e-3).
COVARIANCE_REGULARIZER = 1e-4


class PosePrior(NamedTuple):
  """A Gaussian mixture over the body pose, in max-mixture form.

  Attributes:
    means: (K, 69) component means, radians.
    precision_chol: (K, 69, 69) lower-triangular L_k with Σ_k⁻¹ = L_k L_kᵀ.
    constants: (K,) −log w_k + ½ log det Σ_k, shifted so the smallest is 0
      (the loss is then ≥ 0, and 0 only at the best component's mean).
  """

  means: jax.Array
  precision_chol: jax.Array
  constants: jax.Array

  @property
  def num_components(self) -> int:
    return self.means.shape[0]


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator,
                      iterations: int = 10) -> np.ndarray:
  """(N,) labels of k-means with k-means++ seeding (EM's initialisation)."""
  centres = [x[rng.integers(len(x))]]
  sq_norms = (x**2).sum(1)
  for _ in range(1, k):
    d2 = np.min(sq_norms[:, None] - 2 * x @ np.array(centres).T +
                (np.array(centres)**2).sum(1)[None], axis=1)
    d2 = np.maximum(d2, 0)
    centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
  centres = np.array(centres)
  for _ in range(iterations):
    labels = np.argmin(-2 * x @ centres.T + (centres**2).sum(1)[None], axis=1)
    for j in range(k):
      if np.any(labels == j):  # an emptied cluster keeps its old centre
        centres[j] = x[labels == j].mean(0)
  return np.argmin(-2 * x @ centres.T + (centres**2).sum(1)[None], axis=1)


def _m_step(x: np.ndarray, resp: np.ndarray, regularizer: float):
  """Weights (K,), means (K, D), precision Cholesky factors (K, D, D)."""
  num, dim = x.shape
  k = resp.shape[1]
  counts = resp.sum(0) + 10 * np.finfo(np.float64).eps
  means = resp.T @ x / counts[:, None]
  # Every component's second moment in ONE matrix product: per-component
  # products with the long (N) inner dimension are ~30x slower in threaded
  # OpenBLAS when the cores are busy. E[x xᵀ] − μ μᵀ loses nothing that
  # matters in float64 (poses are O(1) rad, variances >= 1e-4).
  weighted = (resp.T[:, None, :] * x.T[None]).reshape(k * dim, num)
  second = (weighted @ x).reshape(k, dim, dim) / counts[:, None, None]
  cov = (second - means[:, :, None] * means[:, None, :] +
         regularizer * np.eye(dim))
  cov_chol = np.linalg.cholesky(cov)
  # Σ = C Cᵀ  =>  Σ⁻¹ = C⁻ᵀ C⁻¹ = L Lᵀ with L = C⁻ᵀ.
  prec_chol = np.stack([
      scipy.linalg.solve_triangular(c, np.eye(dim), lower=True).T
      for c in cov_chol])
  return counts / num, means, prec_chol


def _log_densities(x, weights, means, prec_chol):
  """(N, K) log w_k + log N(x | μ_k, Σ_k)."""
  k, dim, _ = prec_chol.shape
  log_det_prec = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1)
  # All components' whitening in one product (see `_m_step`).
  stacked = prec_chol.transpose(1, 0, 2).reshape(dim, k * dim)
  whitened = (x @ stacked).reshape(-1, k, dim) - np.einsum(
      "ki,kij->kj", means, prec_chol)
  maha = np.sum(whitened**2, axis=-1)
  return (np.log(weights) + log_det_prec - 0.5 * maha -
          0.5 * dim * np.log(2 * np.pi))


def fit_pose_prior(poses, num_components: int = 8, seed: int = 0,
                   iterations: int = 100, tolerance: float = 1e-3,
                   regularizer: float = COVARIANCE_REGULARIZER) -> PosePrior:
  """Fits the pose prior by EM (NumPy, float64; deterministic for a seed).

  Args:
    poses: (N, 72) full poses (global orientation first) or (N, 69) body
      poses, radians.
    num_components: K.
    seed: seeds the k-means++ initialisation.
    iterations: at most this many EM iterations.
    tolerance: stops when the mean log-likelihood per pose gains less than
      this (nats; sklearn's default).
    regularizer: added to each covariance's diagonal, rad².

  Returns:
    A `PosePrior`.
  """
  x = np.asarray(poses, np.float64)
  if x.shape[-1] == 72:
    x = x[:, 3:]
  if x.ndim != 2 or x.shape[1] != NUM_BODY_POSE:
    raise ValueError(f"poses must be (N, 72) or (N, {NUM_BODY_POSE}), got "
                     f"{np.shape(poses)}")
  labels = _kmeans_plus_plus(x, num_components, np.random.default_rng(seed))
  resp = np.eye(num_components)[labels]
  previous = -np.inf
  for _ in range(iterations):
    weights, means, prec_chol = _m_step(x, resp, regularizer)
    log_dens = _log_densities(x, weights, means, prec_chol)
    log_norm = scipy.special.logsumexp(log_dens, axis=1, keepdims=True)
    resp = np.exp(log_dens - log_norm)
    mean_log_likelihood = float(log_norm.mean())
    if mean_log_likelihood - previous < tolerance:
      break
    previous = mean_log_likelihood
  weights, means, prec_chol = _m_step(x, resp, regularizer)
  constants = -(np.log(weights) +
                np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1))
  return PosePrior(jnp.asarray(means, jnp.float32),
                   jnp.asarray(prec_chol, jnp.float32),
                   jnp.asarray(constants - constants.min(), jnp.float32))


def default_pose_prior(pose_set_path: Optional[str] = None) -> PosePrior:
  """The 8-component prior fitted on the pose set's train split (None: the
  bundled pose set). Fitted on first use (seconds), then cached."""
  # Concrete arrays even when first called under a trace: the result is
  # cached and must not hold tracers.
  with jax.ensure_compile_time_eval():
    return _default_pose_prior(pose_set_path)


@functools.lru_cache(maxsize=2)
def _default_pose_prior(pose_set_path) -> PosePrior:
  from lgd_jax.training import pose_set  # pylint: disable=g-import-not-at-top
  return fit_pose_prior(pose_set.load_pose_set("train", pose_set_path).poses)


def pose_prior_loss(prior: PosePrior, pose: jax.Array) -> jax.Array:
  """(..., 72) -> (...) max-mixture negative log-likelihood of pose[3:]:
  min_k ½ |L_kᵀ (x − μ_k)|² + constant_k, ≥ 0."""
  diff = pose[..., None, 3:] - prior.means  # (..., K, 69)
  whitened = jnp.einsum("...ki,kij->...kj", diff, prior.precision_chol)
  return jnp.min(0.5 * jnp.sum(whitened**2, -1) + prior.constants, axis=-1)


def bend_prior_loss(pose: jax.Array) -> jax.Array:
  """(..., 72) -> (...) Σ exp(sign · angle)² over elbows and knees: grows
  exponentially as they bend the wrong way."""
  angles = pose[..., np.array(BEND_INDICES)]
  return jnp.sum(jnp.exp(angles * jnp.asarray(BEND_SIGNS, pose.dtype))**2,
                 axis=-1)


def shape_prior_loss(betas: jax.Array) -> jax.Array:
  """(..., S) -> (...) Σ β²: betas are whitened, so this is −2 log N(β)."""
  return jnp.sum(betas**2, axis=-1)
