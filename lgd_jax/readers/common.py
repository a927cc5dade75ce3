"""What every keypoint reader shares: the error (`KeypointFileError`), the
table of people (`KeypointSet`), one file's rows (`Rows`), the entry a
reader kind registers (`Reader`), JSON decoding with truncated-file
detection, and the checks of point counts, numbers, [x, y, c] triplets and
points that name the file, the person and the keypoint at fault.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lgd_jax.errors import FileProblemError
from lgd_jax.formats import FORMATS, get_format

# Rows are stored as float32 and int32: larger values would become inf or
# wrap around silently.
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT32 = np.iinfo(np.int32)


class KeypointFileError(FileProblemError):
  """A keypoint file is missing, unreadable or not a keypoint file."""

  def __init__(self, path, problem: str):
    super().__init__(str(path), problem)


@dataclasses.dataclass(frozen=True)
class KeypointSet:
  """2D keypoints of people, one row per person per frame.

  Attributes:
    xy: (N, K, 2) float32 pixel coordinates.
    confidence: (N, K) float32 in [0, 1]; 0 for points not detected or not
      labelled.
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    frame: (N,) int32 frame of each row within its file: the file's position
      in its sorted folder for OpenPose (one file per frame), the image's
      index in `images` for COCO-style files, the image's order of first
      appearance for MPII lists, the index along the first leading axis for
      arrays.
    person: (N,) int32 index of the person within its frame.
    track: (N,) int32 track id where the file gives one (OpenPose
      `person_id` unless -1, PoseTrack `track_id`), else -1.
    image: N image file names: COCO's `file_name`, MPII's `image`, the
      OpenPose file's stem without `_keypoints`; "" for arrays; in a folder
      of video folders, after the subfolder's name and "/".
    image_size: (N, 2) int32 (width, height); 0 where the file does not say.
    source: N paths of the file each row came from.
    errors: (file, problem) of each file skipped with errors="report".
  """

  xy: np.ndarray
  confidence: np.ndarray
  keypoint_format: str
  frame: np.ndarray
  person: np.ndarray
  track: np.ndarray
  image: tuple[str, ...]
  image_size: np.ndarray
  source: tuple[str, ...]
  errors: tuple[tuple[str, str], ...] = ()

  def __len__(self) -> int:
    return len(self.xy)


@dataclasses.dataclass
class Rows:
  """One file's rows; `keypoint_format` is None for OpenPose frames without
  people, which do not tell the format."""

  keypoint_format: str | None
  xy: np.ndarray  # (n, K, 2) float64
  confidence: np.ndarray  # (n, K) float64
  frame: np.ndarray
  person: np.ndarray
  track: np.ndarray
  image: list[str]
  image_size: np.ndarray  # (n, 2)

  @classmethod
  def empty(cls, keypoint_format: str | None, k: int) -> Rows:
    """No rows, of K points each."""
    return cls(keypoint_format, np.zeros((0, k, 2)), np.zeros((0, k)),
               *np.zeros((3, 0), int), [], np.zeros((0, 2), int))


@dataclasses.dataclass(frozen=True)
class Reader:
  """One kind of keypoint file: how `read_keypoints` recognises and reads it.

  Attributes:
    expects: what a file of this kind holds, as the error for a file of no
      known kind lists it.
    recognises: whether a file is of this kind, from its decoded JSON, or
      from its raw bytes when `on_bytes`.
    read: (file, decoded JSON or raw bytes, keypoint format or None, the
      file's position in its folder) -> `Rows`.
    on_bytes: the kind is binary: recognised and read from the raw bytes,
      which are not JSON text.
  """

  expects: str
  recognises: Callable[[Any], bool]
  read: Callable[[Path, Any, str | None, int], Rows]
  on_bytes: bool = False


def decode_json(file, data: bytes):
  """A JSON file's content; errors say where it breaks and whether the file
  ends early."""
  if not data.strip():
    raise KeypointFileError(file, "empty file")
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise KeypointFileError(
        file, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
        f"{e.start}); keypoint JSON must be UTF-8") from None
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    ends_early = e.pos >= len(text.rstrip()) or _unclosed(text)
    # Some of json's messages ("Unterminated string starting at") end in the
    # "at" that the position below adds again.
    problem = e.msg.removesuffix(" at")
    raise KeypointFileError(
        file, f"not valid JSON: {problem[:1].lower()}{problem[1:]} at line "
        f"{e.lineno} column {e.colno}"
        + ("; the file ends early (truncated?)" if ends_early else "")
    ) from None


def _unclosed(text: str) -> bool:
  """Whether a JSON text opens more brackets than it closes (outside
  strings): the mark of a truncated file."""
  depth, in_string, escaped = 0, False, False
  for char in text:
    if escaped:
      escaped = False
    elif in_string:
      escaped = char == "\\"
      in_string = char != '"'
    elif char == '"':
      in_string = True
    elif char in "[{":
      depth += 1
    elif char in "]}":
      depth -= 1
  return depth > 0 or in_string


def check_point_count(file, keypoint_format, k, what) -> str:
  """`keypoint_format`, once it is known to have the file's K points (K None:
  the file has no rows to tell)."""
  expected = get_format(keypoint_format).num_keypoints
  if k is not None and k != expected:
    raise KeypointFileError(file, f"{what} {k} points; format "
                            f"{keypoint_format} has {expected}")
  return keypoint_format


def format_by_point_count(file, k) -> str:
  """The only format with K points; an error when none or several have."""
  names = [name for name, fmt in FORMATS.items() if fmt.num_keypoints == k]
  if len(names) == 1:
    return names[0]
  if names:
    raise KeypointFileError(file, f"{k} points per person could be "
                            f"{', '.join(names)}: pass format= to say which")
  known = ", ".join(f"{name} ({fmt.num_keypoints})"
                    for name, fmt in FORMATS.items())
  raise KeypointFileError(file, f"{k} points per person match no known "
                          f"format: {known}")


def parse_triplets(file, flats, field, describe, choose_format):
  """Flat [x, y, c] * K lists -> (format name, (n, K, 3) float64).

  `choose_format(K)` names the format from the commonest length (K is None
  when there are no rows); rows of other lengths are then errors.
  """
  lengths = [len(f) if isinstance(f, list) else -1 for f in flats]
  common = collections.Counter(lengths).most_common(1)
  k = common[0][0] // 3 if common and common[0][0] % 3 == 0 else None
  fmt = choose_format(k) if k is not None or not flats else None
  expected = 3 * get_format(fmt).num_keypoints if fmt else None
  for i, length in enumerate(lengths):
    if length != expected:
      raise KeypointFileError(
          file, f"{describe(i)}: `{field}` " +
          ("is not a list" if length < 0 else f"has {length} values") +
          (f"; expected {expected} ({expected // 3} points x 3) for {fmt}"
           if fmt else "; expected [x, y, c] * K, a multiple of 3"))
  points = parse_numbers(file, flats, field, describe)
  return fmt, points.reshape(len(flats), expected // 3, 3)


def parse_numbers(file, lists, field, describe) -> np.ndarray:
  """Nested JSON lists -> a regular float64 array; an error names the first
  row that is not numbers or not the others' shape."""
  try:
    numbers = np.asarray(lists)
  except (ValueError, TypeError):  # ragged
    numbers = None
  # NumPy would parse strings ("1.5") as numbers; JSON numbers are not
  # strings. Object arrays (None among numbers) go on to the float check.
  if numbers is not None and numbers.dtype.kind in "fiu":
    return numbers.astype(np.float64)
  if numbers is not None and numbers.dtype.kind == "O":
    try:
      return np.asarray(lists, dtype=np.float64)
    except (ValueError, TypeError):
      pass
  # Only on failure: find the row to blame.
  shapes = []
  for i, values in enumerate(lists):
    try:
      if np.asarray(values).dtype.kind not in "fiuO":
        raise TypeError("not numbers")
      shapes.append(np.asarray(values, dtype=np.float64).shape)
    except (ValueError, TypeError):
      raise KeypointFileError(file, f"{describe(i)}: `{field}` is not a "
                              "regular array of numbers") from None
  common = collections.Counter(shapes).most_common(1)[0][0]
  i = next(i for i, shape in enumerate(shapes) if shape != common)
  raise KeypointFileError(file, f"{describe(i)}: `{field}` has shape "
                          f"{shapes[i]}, the others {common}")


def check_points(file, xy, confidence, keypoint_format, describe,
                 finite_everywhere=False):
  """Checks (n, K, 2) points and (n, K) confidences; returns them cleaned:
  confidences clipped to 1, unused non-finite coordinates set to 0."""
  args = (keypoint_format, describe)
  bad = ~np.isfinite(confidence)
  if bad.any():
    raise point_error(file, bad, confidence, *args,
                      "confidence {value} is not finite")
  bad = confidence < 0
  if bad.any():
    raise point_error(file, bad, confidence, *args,
                      "confidence {value} is negative")
  # False for NaN and inf too.
  finite = (np.abs(xy) <= FLOAT32_MAX).all(axis=-1)
  bad = ~finite if finite_everywhere else ~finite & (confidence > 0)
  if bad.any():
    raise point_error(file, bad, xy, *args,
                      "coordinates {value} are NaN or infinite, or too "
                      "large for float32")
  return (np.where(finite[..., None], xy, 0.0), np.minimum(confidence, 1.0))


def point_error(file, bad, values, keypoint_format, describe, problem):
  """The error for the first `bad` (n, K) point: `problem` with its value,
  and how many more there are."""
  row, k = np.argwhere(bad)[0]
  count = int(bad.sum())
  name = get_format(keypoint_format).joint_names[k]
  more = f" ({count} such points in the file)" if count > 1 else ""
  return KeypointFileError(
      file, f"{describe(row)}, keypoint {k} ({name}): "
      f"{problem.format(value=values[row, k].tolist())}{more}")


def person_in_frame(frame) -> np.ndarray:
  """(n,) index of each row among the rows of its frame, in file order."""
  counts = collections.Counter()
  person = np.zeros(len(frame), int)
  for i, f in enumerate(frame.tolist()):
    person[i] = counts[f]
    counts[f] += 1
  return person
