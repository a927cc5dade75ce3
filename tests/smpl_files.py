"""Writes random body-model files in the layouts users have (test fixtures).

The official SMPL `.pkl` is a Python-2 pickle of a dict holding chumpy
arrays and a scipy sparse `J_regressor`; `write_official_pickle` reproduces
that layout with a stand-in chumpy class, since chumpy is not installed.
"""

import contextlib
import pickle
import sys
import types

import numpy as np
import scipy.sparse


class _Ch:
  """Pickles like chumpy.ch.Ch: state {'x': array, ...}."""

  def __init__(self, value):
    self.x = value
    self._dirty_vars = set()


@contextlib.contextmanager
def _fake_chumpy():
  chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
  _Ch.__module__, _Ch.__qualname__, _Ch.__name__ = "chumpy.ch", "Ch", "Ch"
  ch.Ch, chumpy.ch = _Ch, ch
  saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
  sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
  try:
    yield
  finally:
    for k, v in saved.items():
      if v is None:
        sys.modules.pop(k)
      else:
        sys.modules[k] = v


def write_official_pickle(path, arrays):
  """Writes `arrays` like the official SMPL pkl (chumpy + sparse)."""
  data = dict(arrays)
  data["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
  data["bs_style"], data["bs_type"] = "lbs", "lrotmin"
  with _fake_chumpy():
    for key in ("v_template", "shapedirs", "weights"):
      data[key] = _Ch(np.asarray(arrays[key]))
    with open(path, "wb") as f:
      pickle.dump(data, f, protocol=2)
