"""OpenPose JSON, one file per frame: its reader (`READER`, the BODY_25 and
COCO-18 body models) and `write_openpose`, which writes one frame."""

from __future__ import annotations

import json

import numpy as np

from lgd_jax.files import atomic_path
from lgd_jax.formats import get_format
from lgd_jax.readers.common import (INT32, KeypointFileError, Reader, Rows,
                                    check_point_count, check_points,
                                    parse_triplets)

# OpenPose's body models by their number of points.
_FORMATS = {25: "openpose25", 18: "openpose18"}
# The format of a folder whose frames are all empty: OpenPose's default
# model.
DEFAULT_FORMAT = "openpose25"


def _is_openpose(content) -> bool:
  return isinstance(content, dict) and "people" in content


def read_openpose(file, content, keypoint_format, position) -> Rows:
  """One frame's people; `position`, the file's place in its folder, is
  their frame."""
  people = content["people"]
  if not isinstance(people, list):
    raise KeypointFileError(file, "`people` is not a list")
  for i, person in enumerate(people):
    if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
      raise KeypointFileError(file, f"person {i} has no `pose_keypoints_2d`")
  if not people:
    # An empty frame tells no format; it contributes no rows.
    k = get_format(keypoint_format).num_keypoints if keypoint_format else 0
    return Rows.empty(keypoint_format, k)
  flats = [person["pose_keypoints_2d"] for person in people]

  def describe(i):
    return f"person {i}"

  def choose_format(k):
    if keypoint_format:
      return check_point_count(file, keypoint_format, k, "people have")
    if k not in _FORMATS:
      raise KeypointFileError(
          file, f"people have {k} points; OpenPose's body models write 25 "
          "(BODY_25) or 18 (COCO); pass format= for another layout")
    return _FORMATS[k]

  fmt, points = parse_triplets(file, flats, "pose_keypoints_2d", describe,
                               choose_format)
  xy, confidence = check_points(file, points[..., :2], points[..., 2], fmt,
                                describe)
  n = len(people)
  track = np.array([_person_id(file, i, person.get("person_id", -1))
                    for i, person in enumerate(people)])
  return Rows(fmt, xy, confidence, np.full(n, position), np.arange(n),
              track, [file.stem.removesuffix("_keypoints")] * n,
              np.zeros((n, 2), int))


def _person_id(file, i, value) -> int:
  # OpenPose writes `"person_id": [-1]`; -1 means not tracked.
  if isinstance(value, list) and value:
    value = value[0]
  if (isinstance(value, bool) or not isinstance(value, (int, float)) or
      not INT32.min <= value <= INT32.max or value != int(value)):
    raise KeypointFileError(file, f"person {i}: person_id {value!r} is not "
                            "a 32-bit integer")
  return int(value)


READER = Reader(
    expects="OpenPose JSON (a `people` list with `pose_keypoints_2d`)",
    recognises=_is_openpose, read=read_openpose)


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
