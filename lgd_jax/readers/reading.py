"""Reading 2D keypoint files into one table of people: OpenPose JSON,
COCO-style annotation files (COCO, OCHuman, CrowdPose, Human-Art,
PoseTrack), MMPose's MPII JSON and NumPy arrays; and writing OpenPose JSON
(`write_openpose`).

Files are recognised by their content, not their suffix. Every problem
raises `KeypointFileError` naming the file, the person where there is one,
and what is wrong; nothing is silently dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from lgd_jax.errors import FileProblemError
from lgd_jax.files import atomic_path
from lgd_jax.formats import FORMATS, get_format

ERROR_MODES = ("raise", "report")
# OpenPose's body models by their number of points.
_OPENPOSE_FORMATS = {25: "openpose25", 18: "openpose18"}
# What is written when every OpenPose frame is empty: its default model.
_OPENPOSE_DEFAULT = "openpose25"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"  # .npz files are zip archives
_COCO_FLAGS = (0, 1, 2)  # unlabelled, labelled but occluded, visible
# Rows are stored as float32 and int32: larger values would become inf or
# wrap around silently.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32 = np.iinfo(np.int32)
_EXPECTED = (
    "expected OpenPose JSON (a `people` list with `pose_keypoints_2d`), a "
    "COCO-style annotation file (`images`, `annotations` with `keypoints`, "
    "`categories`), MMPose's MPII list (`joints`, `joints_vis`, `image`), "
    "or a .npy/.npz array of keypoints")


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
      in the sorted folder for OpenPose (one file per frame), the image's
      index in `images` for COCO-style files, the image's order of first
      appearance for MPII lists, the index along the first leading axis for
      arrays.
    person: (N,) int32 index of the person within its frame.
    track: (N,) int32 track id where the file gives one (OpenPose
      `person_id` unless -1, PoseTrack `track_id`), else -1.
    image: N image file names: COCO's `file_name`, MPII's `image`, the
      OpenPose file's stem without `_keypoints`; "" for arrays.
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
class _Rows:
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


def read_keypoints(path, format=None,  # pylint: disable=redefined-builtin
                   errors="raise") -> KeypointSet:
  """Reads a keypoint file, or a folder of them, into a `KeypointSet`.

  Inputs, recognised by content:
  - OpenPose JSON (one file per frame; `pose_keypoints_2d` with 25 points
    is "openpose25", 18 is "openpose18"). Undetected points (x = y = c = 0)
    are kept with confidence 0; a frame without people adds no rows.
  - COCO-style annotation files (COCO, OCHuman, CrowdPose, Human-Art's
    17-point `keypoints`, PoseTrack with `track_id`): the format comes from
    the category's keypoint names; confidence is 1 for labelled points
    (visibility flag 1 or 2), 0 for flag 0. Annotations without labelled
    points are kept, with confidence 0.
  - MMPose's MPII JSON ("mpii16", confidence = `joints_vis`; unlabelled
    joints, stored as -1, get coordinates 0).
  - `.npy` arrays (..., K, 2 or 3) and `.npz` files with `keypoints` (same),
    optional `confidence` (..., K) and `format`; at most two leading axes,
    (frames, people). A third column is the confidence; without one,
    confidence is 1. The format is taken from the number of points when
    only one format has that many (17 is ambiguous).
  - A folder: its `*.json` files sorted by name (hidden files skipped), all
    in one keypoint format.

  Confidences above 1 (some detectors' scores) are clipped to 1.
  Coordinates of points with confidence 0 may be NaN or infinite in JSON
  files and are then stored as 0; arrays must be finite throughout.
  Coordinates beyond float32's range count as infinite; ids and image sizes
  must fit in int32 (an unusable image size is read as 0, unknown).

  Args:
    path: a file or a folder.
    format: a `FORMATS` name; overrides detection, but must have the file's
      number of points.
    errors: "raise" raises on any bad file, after reading all of a folder's
      files, one error listing every bad file; "report" returns the rows of
      the good files and lists the bad ones in `KeypointSet.errors` (and
      still raises when no file could be read).

  Returns:
    A `KeypointSet`.

  Raises:
    KeypointFileError: a missing path, an unknown format, an empty folder,
      or a bad file (see `errors`).
  """
  if errors not in ERROR_MODES:
    raise ValueError(f"errors must be one of {ERROR_MODES}, got {errors!r}")
  path = Path(path)
  if format is not None and format not in FORMATS:
    raise KeypointFileError(path, f"unknown keypoint format {format!r}; "
                            f"known: {', '.join(FORMATS)}")
  if path.is_dir():
    files = sorted((p for p in path.glob("*.json")
                    if not p.name.startswith(".")), key=lambda p: p.name)
    if not files:
      raise KeypointFileError(path, "folder has no .json files")
  elif path.exists():
    files = [path]
  else:
    raise KeypointFileError(path, "no such file or folder")

  parts, problems = [], {}
  for position, file in enumerate(files):
    try:
      parts.append((file, _read_file(file, format, position)))
    except KeypointFileError as e:
      problems[file] = e.problem
  keypoint_format = format or _majority_format(parts)
  for file, rows in parts:
    if rows.keypoint_format not in (None, keypoint_format):
      problems[file] = (f"keypoints are {rows.keypoint_format}, the other "
                        f"files' are {keypoint_format}")
  parts = [(file, rows) for file, rows in parts if file not in problems]
  problems = [(str(file), problems[file]) for file in files
              if file in problems]
  if problems and (errors == "raise" or not parts):
    if len(files) == 1:
      raise KeypointFileError(*problems[0])
    raise KeypointFileError(path, f"{len(problems)} of {len(files)} files "
                            "could not be read:\n" + "\n".join(
                                f"  {file}: {problem}"
                                for file, problem in problems))
  return _concatenate(keypoint_format, parts, tuple(problems))


def _majority_format(parts) -> str:
  found = [rows.keypoint_format for _, rows in parts if rows.keypoint_format]
  if not found:
    return _OPENPOSE_DEFAULT
  counts = collections.Counter(found)
  return max(counts, key=counts.get)  # ties: the first file's


def _concatenate(keypoint_format, parts, problems) -> KeypointSet:
  k = get_format(keypoint_format).num_keypoints
  empty = _Rows(keypoint_format, np.zeros((0, k, 2)), np.zeros((0, k)),
                *np.zeros((3, 0), int), [], np.zeros((0, 2), int))
  # Empty OpenPose frames may have K = 0: they add nothing anyway.
  all_rows = [empty] + [rows for _, rows in parts if len(rows.frame)]

  def cat(field, dtype):
    return np.concatenate([getattr(r, field) for r in all_rows]).astype(dtype)

  return KeypointSet(
      xy=cat("xy", np.float32), confidence=cat("confidence", np.float32),
      keypoint_format=keypoint_format, frame=cat("frame", np.int32),
      person=cat("person", np.int32), track=cat("track", np.int32),
      image=tuple(name for r in all_rows for name in r.image),
      image_size=cat("image_size", np.int32),
      source=tuple(str(file) for file, rows in parts
                   for _ in range(len(rows.frame))),
      errors=problems)


def _read_file(file: Path, keypoint_format, position: int) -> _Rows:
  try:
    data = file.read_bytes()
  except OSError as e:
    raise KeypointFileError(file, f"cannot read: {e.strerror}") from None
  if data.startswith((_NPY_MAGIC, _ZIP_MAGIC)):
    return _read_array(file, data, keypoint_format)
  if not data.strip():
    raise KeypointFileError(file, "empty file")
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise KeypointFileError(
        file, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
        f"{e.start}); keypoint JSON must be UTF-8") from None
  try:
    content = json.loads(text)
  except json.JSONDecodeError as e:
    ends_early = e.pos >= len(text.rstrip()) or _unclosed(text)
    raise KeypointFileError(
        file, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        + ("; the file ends early (truncated?)" if ends_early else "")
    ) from None
  if isinstance(content, dict) and "people" in content:
    return _read_openpose(file, content, keypoint_format, position)
  if isinstance(content, dict) and "annotations" in content:
    return _read_coco(file, content, keypoint_format)
  if (isinstance(content, list) and content and
      isinstance(content[0], dict) and "joints" in content[0]):
    return _read_mpii(file, content, keypoint_format)
  raise KeypointFileError(file, f"not a keypoint file: {_EXPECTED}; found "
                          f"{_describe_json(content)}")


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


def _describe_json(content) -> str:
  if isinstance(content, dict):
    keys = list(content)
    more = ", ..." if len(keys) > 10 else ""
    return f"an object with keys {', '.join(map(str, keys[:10]))}{more}"
  if isinstance(content, list):
    if (content and isinstance(content[0], dict) and "bbox" in content[0]
        and "keypoints" not in content[0]):
      return (f"a list of {len(content)} detection boxes (`bbox`, `score`) "
              "without keypoints")
    return f"a list of {len(content)} items"
  return f"a JSON {type(content).__name__}"


def _read_openpose(file, content, keypoint_format, position) -> _Rows:
  people = content["people"]
  if not isinstance(people, list):
    raise KeypointFileError(file, "`people` is not a list")
  for i, person in enumerate(people):
    if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
      raise KeypointFileError(file, f"person {i} has no `pose_keypoints_2d`")
  if not people:
    # An empty frame tells no format; it contributes no rows.
    k = get_format(keypoint_format).num_keypoints if keypoint_format else 0
    return _Rows(keypoint_format, np.zeros((0, k, 2)), np.zeros((0, k)),
                 *np.zeros((3, 0), int), [], np.zeros((0, 2), int))
  flats = [person["pose_keypoints_2d"] for person in people]

  def describe(i):
    return f"person {i}"

  def choose_format(k):
    if keypoint_format:
      return _check_count(file, keypoint_format, k, "people have")
    if k not in _OPENPOSE_FORMATS:
      raise KeypointFileError(
          file, f"people have {k} points; OpenPose's body models write 25 "
          "(BODY_25) or 18 (COCO); pass format= for another layout")
    return _OPENPOSE_FORMATS[k]

  fmt, points = _triplets(file, flats, "pose_keypoints_2d", describe,
                          choose_format)
  xy, confidence = _check_points(file, points[..., :2], points[..., 2], fmt,
                                 describe)
  n = len(people)
  track = np.array([_person_id(file, i, person.get("person_id", -1))
                    for i, person in enumerate(people)])
  return _Rows(fmt, xy, confidence, np.full(n, position), np.arange(n),
               track, [file.stem.removesuffix("_keypoints")] * n,
               np.zeros((n, 2), int))


def _person_id(file, i, value) -> int:
  # OpenPose writes `"person_id": [-1]`; -1 means not tracked.
  if isinstance(value, list) and value:
    value = value[0]
  if (isinstance(value, bool) or not isinstance(value, (int, float)) or
      not _INT32.min <= value <= _INT32.max or value != int(value)):
    raise KeypointFileError(file, f"person {i}: person_id {value!r} is not "
                            "a 32-bit integer")
  return int(value)


def _read_coco(file, content, keypoint_format) -> _Rows:
  annotations, images = content["annotations"], content.get("images")
  if not isinstance(annotations, list) or not isinstance(images, list):
    raise KeypointFileError(
        file, "a COCO-style file needs `annotations` and `images` lists")
  names = _category_names(file, content.get("categories", []))
  index = {}
  for i, image in enumerate(images):
    if not isinstance(image, dict) or "id" not in image:
      raise KeypointFileError(file, f"images[{i}] has no `id`")
    if isinstance(image["id"], bool) or not isinstance(image["id"],
                                                       (int, str)):
      raise KeypointFileError(file, f"images[{i}]: id {image['id']!r} is not "
                              "an integer or a string")
    index.setdefault(image["id"], i)

  def describe(i):
    ann = annotations[i]
    has_id = isinstance(ann, dict) and "id" in ann
    return f"annotation {i}" + (f" (id {ann['id']})" if has_id else "")

  flats = []
  for i, ann in enumerate(annotations):
    if not isinstance(ann, dict) or "keypoints" not in ann:
      raise KeypointFileError(file, f"{describe(i)} has no `keypoints`")
    image_id = ann.get("image_id")
    if not isinstance(image_id, (int, str)) or image_id not in index:
      raise KeypointFileError(file, f"{describe(i)}: image_id {image_id!r} "
                              "is not in `images`")
    flats.append(ann["keypoints"])

  def choose_format(k):
    if keypoint_format:
      return _check_count(file, keypoint_format, k, "annotations have")
    if not names:
      if k is None:
        raise KeypointFileError(file, "no keypoint names in `categories` "
                                "and no annotations: pass format=")
      return _format_by_count(file, k)
    k = len(names) if k is None else k
    if len(names) < k:
      raise KeypointFileError(file, f"`categories` name {len(names)} "
                              f"keypoints, annotations have {k}")
    # Human-Art names 21 points: COCO's 17 of `keypoints`, then the 4 extra
    # ones of `keypoints_21`, so the first K names are the ones that apply.
    for name, fmt in FORMATS.items():
      if fmt.joint_names == names[:k]:
        return name
    shown = ", ".join(names[:6]) + (", ..." if k > 6 else "")
    raise KeypointFileError(
        file, f"keypoint names ({k}: {shown}) match no known format "
        f"({', '.join(FORMATS)}); pass format= if they are one of these")

  fmt, points = _triplets(file, flats, "keypoints", describe, choose_format)
  flags = points[..., 2]
  bad = ~np.isin(flags, _COCO_FLAGS)
  if bad.any():
    raise _point_error(file, bad, flags, fmt, describe,
                       "visibility flag {value} is not 0 (unlabelled), 1 "
                       "(occluded) or 2 (visible)")
  xy, confidence = _check_points(file, points[..., :2],
                                 (flags > 0).astype(float), fmt, describe)
  frame = np.array([index[ann["image_id"]] for ann in annotations], int)
  rows = [images[f] for f in frame]
  track = np.array([_track_id(file, describe(i), ann.get("track_id"))
                    for i, ann in enumerate(annotations)], int)
  sizes = np.array([[_size(image.get("width")), _size(image.get("height"))]
                    for image in rows], int).reshape(-1, 2)
  return _Rows(fmt, xy, confidence, frame, _person_in_frame(frame), track,
               [str(image.get("file_name", "")) for image in rows], sizes)


def _category_names(file, categories) -> tuple[str, ...]:
  """The keypoint names of the file's keypoint category, () if none."""
  if not isinstance(categories, list):
    raise KeypointFileError(file, "`categories` is not a list")
  found = {tuple(map(str, c["keypoints"])) for c in categories
           if isinstance(c, dict) and isinstance(c.get("keypoints"), list)
           and c["keypoints"]}
  if len(found) > 1:
    raise KeypointFileError(file, f"{len(found)} categories with different "
                            "keypoint names; expected one")
  return found.pop() if found else ()


def _track_id(file, who, value) -> int:
  if value is None:
    return -1
  if (isinstance(value, bool) or not isinstance(value, int) or
      not _INT32.min <= value <= _INT32.max):
    raise KeypointFileError(file, f"{who}: track_id {value!r} is not a "
                            "32-bit integer")
  return value


def _size(value) -> int:
  number = isinstance(value, (int, float)) and not isinstance(value, bool)
  # Not a size a file could mean (NaN, inf, beyond int32): unknown, as when
  # the file does not say.
  return int(value) if number and 0 < value <= _INT32.max else 0


def _read_mpii(file, entries, keypoint_format) -> _Rows:
  for i, entry in enumerate(entries):
    if not isinstance(entry, dict) or not {"joints", "joints_vis",
                                           "image"} <= entry.keys():
      raise KeypointFileError(file, f"entry {i} lacks `joints`, "
                              "`joints_vis` or `image`")

  def describe(i):
    return f"entry {i} ({entries[i]['image']})"

  joints = _numbers(file, [e["joints"] for e in entries], "joints", describe)
  vis = _numbers(file, [e["joints_vis"] for e in entries], "joints_vis",
                 describe)
  n = len(entries)
  k = joints.shape[1] if joints.ndim == 3 else -1
  if joints.shape != (n, k, 2) or vis.shape != (n, k):
    raise KeypointFileError(
        file, f"joints must be (K, 2) and joints_vis (K,) per entry, the "
        f"same K in every entry; got {joints.shape[1:]} and {vis.shape[1:]}")
  if keypoint_format:
    fmt = _check_count(file, keypoint_format, k, "entries have")
  elif k == get_format("mpii16").num_keypoints:
    fmt = "mpii16"
  else:
    raise KeypointFileError(file, f"entries have {k} joints; MPII has 16: "
                            "pass format= for another layout")
  # MMPose writes unlabelled joints as (-1, -1) with joints_vis 0.
  joints = np.where(vis[..., None] > 0, joints, 0.0)
  xy, confidence = _check_points(file, joints, vis, fmt, describe)
  images = [str(e["image"]) for e in entries]
  order = {}
  frame = np.array([order.setdefault(name, len(order)) for name in images])
  return _Rows(fmt, xy, confidence, frame, _person_in_frame(frame),
               np.full(n, -1), images, np.zeros((n, 2), int))


def _read_array(file, data, keypoint_format) -> _Rows:
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
  if keypoint_format is None and "format" in arrays:
    keypoint_format = str(arrays["format"])
    if keypoint_format not in FORMATS:
      raise KeypointFileError(file, f"unknown keypoint format "
                              f"{keypoint_format!r} in the .npz; known: "
                              f"{', '.join(FORMATS)}")
  if keypoint_format:
    fmt = _check_count(file, keypoint_format, k, "keypoints have")
  else:
    fmt = _format_by_count(file, k)
  frame, person = np.indices(lead + (1,) * (2 - len(lead))).reshape(2, -1)

  def describe(i):
    return f"row {i} (frame {frame[i]}, person {person[i]})"

  n = len(frame)
  xy, confidence = _check_points(
      file, keypoints[..., :2].reshape(n, k, 2).astype(float),
      confidence.reshape(n, k).astype(float), fmt, describe,
      finite_everywhere=True)
  return _Rows(fmt, xy, confidence, frame, person, np.full(n, -1),
               [""] * n, np.zeros((n, 2), int))


def _check_count(file, keypoint_format, k, what) -> str:
  expected = get_format(keypoint_format).num_keypoints
  if k is not None and k != expected:
    raise KeypointFileError(file, f"{what} {k} points; format "
                            f"{keypoint_format} has {expected}")
  return keypoint_format


def _format_by_count(file, k) -> str:
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


def _triplets(file, flats, field, describe, choose_format):
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
  points = _numbers(file, flats, field, describe)
  return fmt, points.reshape(len(flats), expected // 3, 3)


def _numbers(file, lists, field, describe) -> np.ndarray:
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


def _check_points(file, xy, confidence, keypoint_format, describe,
                  finite_everywhere=False):
  """Checks (n, K, 2) points and (n, K) confidences; returns them cleaned:
  confidences clipped to 1, unused non-finite coordinates set to 0."""
  args = (keypoint_format, describe)
  bad = ~np.isfinite(confidence)
  if bad.any():
    raise _point_error(file, bad, confidence, *args,
                       "confidence {value} is not finite")
  bad = confidence < 0
  if bad.any():
    raise _point_error(file, bad, confidence, *args,
                       "confidence {value} is negative")
  # False for NaN and inf too.
  finite = (np.abs(xy) <= _FLOAT32_MAX).all(axis=-1)
  bad = ~finite if finite_everywhere else ~finite & (confidence > 0)
  if bad.any():
    raise _point_error(file, bad, xy, *args,
                       "coordinates {value} are NaN or infinite, or too "
                       "large for float32")
  return (np.where(finite[..., None], xy, 0.0), np.minimum(confidence, 1.0))


def _point_error(file, bad, values, keypoint_format, describe, problem):
  row, k = np.argwhere(bad)[0]
  count = int(bad.sum())
  name = get_format(keypoint_format).joint_names[k]
  more = f" ({count} such points in the file)" if count > 1 else ""
  return KeypointFileError(
      file, f"{describe(row)}, keypoint {k} ({name}): "
      f"{problem.format(value=values[row, k].tolist())}{more}")


def _person_in_frame(frame) -> np.ndarray:
  """(n,) index of each row among the rows of its frame, in file order."""
  counts = collections.Counter()
  person = np.zeros(len(frame), int)
  for i, f in enumerate(frame.tolist()):
    person[i] = counts[f]
    counts[f] += 1
  return person


def write_openpose(path, xy, confidence, person_ids=None) -> None:
  """Writes one frame as OpenPose JSON (`pose_keypoints_2d` of each person),
  atomically; `read_keypoints` reads it back (format by the point count).

  Args:
    path: the `.json` file (OpenPose names them `{frame}_keypoints.json`).
    xy: (P, K, 2) pixels; confidence: (P, K). Points with confidence 0 are
      written as 0, 0, 0, as OpenPose does.
    person_ids: optional (P,) track ids (`person_id`); default -1.
  """
  xy = np.asarray(xy, np.float64)
  confidence = np.asarray(confidence, np.float64)
  triplets = np.concatenate([xy, confidence[..., None]], -1)
  triplets[confidence <= 0] = 0.0
  ids = [-1] * len(xy) if person_ids is None else person_ids
  people = [{"person_id": [int(i)],
             "pose_keypoints_2d": [round(float(v), 2) for v in flat]}
            for i, flat in zip(ids, triplets.reshape(len(xy), -1))]
  with atomic_path(path) as tmp:
    tmp.write_text(json.dumps({"version": 1.3, "people": people}))
