"""NumPy keypoint arrays: the reader (`READER`) of `.npy` files and of `.npz`
files with `keypoints` and optional `confidence` and `format`, recognised by
their leading bytes."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from lgd_jax.formats import FORMATS
from lgd_jax.readers.common import (KeypointFileError, Reader, Rows,
                                    check_point_count, check_points,
                                    format_by_point_count)

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"  # .npz files are zip archives


def _is_array_file(data: bytes) -> bool:
  return data.startswith((_NPY_MAGIC, _ZIP_MAGIC))


def read_array_file(file, data, keypoint_format) -> Rows:
  """(K, 2|3), (frames, K, 2|3) or (frames, people, K, 2|3) keypoints; a
  third column is the confidence."""
  arrays = _load(file, data)
  keypoints = arrays["keypoints"]
  for key in ("keypoints", "confidence"):
    if key in arrays and arrays[key].dtype.kind not in "fiu":
      raise KeypointFileError(file, f"`{key}` has dtype {arrays[key].dtype}"
                              ", not numbers")
  if not (2 <= keypoints.ndim <= 4 and keypoints.shape[-1] in (2, 3)):
    raise KeypointFileError(
        file, f"keypoints must be (K, 2|3), (frames, K, 2|3) or (frames, "
        f"people, K, 2|3); got shape {keypoints.shape}")
  lead, k = keypoints.shape[:-2], keypoints.shape[-2]
  confidence = _confidence(file, arrays)
  fmt = _format(file, arrays, keypoint_format, k)
  frame, person = np.indices(lead + (1,) * (2 - len(lead))).reshape(2, -1)

  def describe(i):
    return f"row {i} (frame {frame[i]}, person {person[i]})"

  n = len(frame)
  xy, confidence = check_points(
      file, keypoints[..., :2].reshape(n, k, 2).astype(float),
      confidence.reshape(n, k).astype(float), fmt, describe,
      finite_everywhere=True)
  return Rows(fmt, xy, confidence, frame, person, np.full(n, -1),
              [""] * n, np.zeros((n, 2), int))


def _load(file, data) -> dict[str, np.ndarray]:
  """The file's arrays by name; a .npy file's is `keypoints`."""
  try:
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile):
      arrays = {key: loaded[key] for key in loaded.files}
    else:
      arrays = {"keypoints": loaded}
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    raise KeypointFileError(file, f"not a readable .npy/.npz file: {e}"
                            ) from None
  if "keypoints" not in arrays:
    raise KeypointFileError(file, "no `keypoints` array in the .npz "
                            f"(found: {', '.join(arrays) or 'none'})")
  return arrays


def _confidence(file, arrays) -> np.ndarray:
  """The keypoints' third column, the `confidence` array, or 1."""
  keypoints = arrays["keypoints"]
  if keypoints.shape[-1] == 3:
    if "confidence" in arrays:
      raise KeypointFileError(file, "keypoints have a third (confidence) "
                              "column and there is a `confidence` array: "
                              "keep one")
    confidence = keypoints[..., 2]
  else:
    confidence = arrays.get("confidence", np.ones(keypoints.shape[:-1]))
  if confidence.shape != keypoints.shape[:-1]:
    raise KeypointFileError(file, f"confidence has shape {confidence.shape}"
                            f", keypoints {keypoints.shape}: expected "
                            f"{keypoints.shape[:-1]}")
  return confidence


def _format(file, arrays, keypoint_format, k) -> str:
  """The format asked for, else the .npz's `format`, else the only one with
  K points."""
  if keypoint_format is None and "format" in arrays:
    keypoint_format = str(arrays["format"])
    if keypoint_format not in FORMATS:
      raise KeypointFileError(file, f"unknown keypoint format "
                              f"{keypoint_format!r} in the .npz; known: "
                              f"{', '.join(FORMATS)}")
  if keypoint_format:
    return check_point_count(file, keypoint_format, k, "keypoints have")
  return format_by_point_count(file, k)


READER = Reader(
    expects="a .npy/.npz array of keypoints", recognises=_is_array_file,
    read=lambda file, data, keypoint_format, _position: read_array_file(
        file, data, keypoint_format),
    on_bytes=True)
