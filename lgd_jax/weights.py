"""Trained weights of the update network: `Pretrained`, its file format,
saving and loading (the bundled default included)."""

from __future__ import annotations

import functools
import importlib.resources
import json
from pathlib import Path
from typing import Any, NamedTuple

import flax.traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lgd_jax import network as network_lib
from lgd_jax.files import atomic_path

BUNDLED_WEIGHTS = "lgd_default.npz"


class Pretrained(NamedTuple):
  """A trained network with the config it was trained with."""

  network: network_lib.UpdateNetwork
  params: Any
  config: ml_collections.ConfigDict


@functools.cache
def bundled_weights_path() -> Path:
  return Path(str(importlib.resources.files("lgd_jax") / "assets" /
                  BUNDLED_WEIGHTS)).resolve()


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
  path = Path(path).resolve() if path is not None else bundled_weights_path()
  if not path.is_file():
    raise FileNotFoundError(
        f"{path}: no pretrained weights (train them with `python -m "
        "experiments.train`, or pass params=)")
  # Concrete arrays even when first called inside a user's jit: the result
  # is cached and must not hold tracers.
  with jax.ensure_compile_time_eval():
    return _load_pretrained(path, path.stat().st_mtime_ns)


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
