"""Keypoint files: reading OpenPose, COCO-style, MPII and array files into
one table of people (`read_keypoints`), and writing OpenPose JSON
(`write_openpose`).

This module holds `read_keypoints` (a file or a folder's files, one table
of their rows in the format most of them have, the error modes) and the
registry of readers (`READERS`) that picks each file's reader by its
content, not its suffix. Each kind of file has its module:
`openpose`, `coco`, `mpii`, `arrays`; `common` holds what they share. Every
problem raises `KeypointFileError` naming the file, the person where there
is one, and what is wrong; nothing is silently dropped.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from lgd_jax.formats import FORMATS, get_format
from lgd_jax.readers import arrays, coco, mpii, openpose
from lgd_jax.readers.common import (KeypointFileError, KeypointSet, Reader,
                                    Rows, decode_json)
from lgd_jax.readers.openpose import write_openpose

__all__ = ["ERROR_MODES", "READERS", "KeypointFileError", "KeypointSet",
           "Reader", "read_keypoints", "write_openpose"]

ERROR_MODES = ("raise", "report")
# The kinds of keypoint file, asked in this order: the first that recognises
# a file reads it. Binary kinds (`Reader.on_bytes`) are asked before the
# file is decoded as JSON, which they are not.
READERS = (openpose.READER, coco.READER, mpii.READER, arrays.READER)


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
    in one keypoint format. A folder without any is a folder of video
    folders: each subfolder's files as above (subfolders by name, hidden
    ones skipped), OpenPose frames numbered within their subfolder, and
    image names prefixed with the subfolder's name ("clip_a/000001").

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
  files = _files(path)
  parts, problems = [], {}
  for file, position, folder in files:
    try:
      rows = _read_file(file, format, position)
    except KeypointFileError as e:
      problems[file] = e.problem
      continue
    if folder:  # a video folder's images are named within it
      rows.image = [f"{folder}/{name}" for name in rows.image]
    parts.append((file, rows))
  keypoint_format = format or _majority_format(parts)
  for file, rows in parts:
    if rows.keypoint_format not in (None, keypoint_format):
      problems[file] = (f"keypoints are {rows.keypoint_format}, the other "
                        f"files' are {keypoint_format}")
  parts = [(file, rows) for file, rows in parts if file not in problems]
  problems = [(str(file), problems[file]) for file, _, _ in files
              if file in problems]
  if problems and (errors == "raise" or not parts):
    if len(files) == 1:
      raise KeypointFileError(*problems[0])
    raise KeypointFileError(path, f"{len(problems)} of {len(files)} files "
                            "could not be read:\n" + "\n".join(
                                f"  {file}: {problem}"
                                for file, problem in problems))
  return _concatenate(keypoint_format, parts, tuple(problems))


def _files(path: Path) -> list[tuple[Path, int, str]]:
  """The files to read, each with its position in its folder and, in a
  folder of video folders, its folder's name: the file; a folder's `*.json`
  files by name; or, in a folder without any, each subfolder's (subfolders
  by name). Hidden files and folders are skipped."""
  if path.is_dir():
    files = [(file, position, "")
             for position, file in enumerate(_json_files(path))]
    if not files:
      folders = sorted((p for p in path.iterdir()
                        if p.is_dir() and not p.name.startswith(".")),
                       key=lambda p: p.name)
      files = [(file, position, folder.name) for folder in folders
               for position, file in enumerate(_json_files(folder))]
    if not files:
      raise KeypointFileError(path, "folder has no .json files, nor "
                              "subfolders with any")
    return files
  if path.exists():
    return [(path, 0, "")]
  raise KeypointFileError(path, "no such file or folder")


def _json_files(folder: Path) -> list[Path]:
  return sorted((p for p in folder.glob("*.json")
                 if not p.name.startswith(".")), key=lambda p: p.name)


def _majority_format(parts) -> str:
  found = [rows.keypoint_format for _, rows in parts if rows.keypoint_format]
  if not found:
    return openpose.DEFAULT_FORMAT
  counts = collections.Counter(found)
  return max(counts, key=counts.get)  # ties: the first file's


def _concatenate(keypoint_format, parts, problems) -> KeypointSet:
  empty = Rows.empty(keypoint_format,
                     get_format(keypoint_format).num_keypoints)
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


def _read_file(file: Path, keypoint_format, position: int) -> Rows:
  try:
    data = file.read_bytes()
  except OSError as e:
    raise KeypointFileError(file, f"cannot read: {e.strerror}") from None
  reader, loaded = _recognise(file, data)
  return reader.read(file, loaded, keypoint_format, position)


def _recognise(file, data: bytes) -> tuple[Reader, object]:
  """The first of `READERS` to recognise the file, and what it reads: the
  raw bytes or the decoded JSON."""
  for reader in READERS:
    if reader.on_bytes and reader.recognises(data):
      return reader, data
  content = decode_json(file, data)
  for reader in READERS:
    if not reader.on_bytes and reader.recognises(content):
      return reader, content
  kinds = [reader.expects for reader in READERS]
  raise KeypointFileError(
      file, f"not a keypoint file: expected {', '.join(kinds[:-1])}, or "
      f"{kinds[-1]}; found {_describe_json(content)}")


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
