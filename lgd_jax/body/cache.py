"""A body ready to fit: the model with its canonical keypoint regressor,
loaded once per file."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax

from lgd_jax import formats
from lgd_jax.body import io as body_io
from lgd_jax.body import keypoint_path
from lgd_jax.body.model import BodyModel


class Body(NamedTuple):
  """A body model and its regressor of the canonical keypoints
  (`formats.CANONICAL_NAMES`: the 24 SMPL joints first)."""

  model: BodyModel
  regressor: keypoint_path.KeypointRegressor

  def select(self, points) -> "Body":
    """The same body regressing only the canonical `points`."""
    return Body(self.model, self.regressor.select(points))

  def with_one_hot_bones(self) -> "Body":
    """The same body, its keypoint path in the one-hot form
    (`keypoint_path.KeypointRegressor.one_hot`: for training)."""
    return Body(self.model, dataclasses.replace(self.regressor, one_hot=True))


def body_of(model: BodyModel) -> Body:
  """`model` with its canonical regressor."""
  return Body(model, keypoint_path.make_keypoint_regressor(
      model, formats.canonical_regressor(model)))


def load_body(body_model_path=None, num_betas: int = 10) -> Body:
  """The `Body` of a model file (None: the bundled model), loaded once per
  file; safe to call inside a trace (the cached arrays are concrete)."""
  with jax.ensure_compile_time_eval():
    return _load_body(body_model_path, num_betas)


@functools.lru_cache(maxsize=4)
def _load_body(body_model_path, num_betas: int) -> Body:
  return body_of(body_io.load_body_model(body_model_path,
                                         num_betas=num_betas))
