"""COCO-style annotation files (COCO, OCHuman, CrowdPose, Human-Art,
PoseTrack): their reader (`READER`), which takes the format from the
category's keypoint names, confidences from the visibility flags, and
PoseTrack's `track_id`s."""

from __future__ import annotations

import numpy as np

from lgd_jax.formats import FORMATS
from lgd_jax.readers.common import (INT32, KeypointFileError, Reader, Rows,
                                    check_point_count, check_points,
                                    format_by_point_count, parse_triplets,
                                    person_in_frame, point_error)

_FLAGS = (0, 1, 2)  # unlabelled, labelled but occluded, visible


def _is_coco(content) -> bool:
  return isinstance(content, dict) and "annotations" in content


def read_coco(file, content, keypoint_format) -> Rows:
  """One row per annotation; its frame is its image's index in `images`."""
  annotations, images = content["annotations"], content.get("images")
  if not isinstance(annotations, list) or not isinstance(images, list):
    raise KeypointFileError(
        file, "a COCO-style file needs `annotations` and `images` lists")
  names = _category_names(file, content.get("categories", []))
  index = _image_index(file, images)

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
      return check_point_count(file, keypoint_format, k, "annotations have")
    return _format_by_names(file, names, k)

  fmt, points = parse_triplets(file, flats, "keypoints", describe,
                               choose_format)
  flags = points[..., 2]
  bad = ~np.isin(flags, _FLAGS)
  if bad.any():
    raise point_error(file, bad, flags, fmt, describe,
                      "visibility flag {value} is not 0 (unlabelled), 1 "
                      "(occluded) or 2 (visible)")
  xy, confidence = check_points(file, points[..., :2],
                                (flags > 0).astype(float), fmt, describe)
  frame = np.array([index[ann["image_id"]] for ann in annotations], int)
  rows = [images[f] for f in frame]
  track = np.array([_track_id(file, describe(i), ann.get("track_id"))
                    for i, ann in enumerate(annotations)], int)
  sizes = np.array([[_size(image.get("width")), _size(image.get("height"))]
                    for image in rows], int).reshape(-1, 2)
  return Rows(fmt, xy, confidence, frame, person_in_frame(frame), track,
              [str(image.get("file_name", "")) for image in rows], sizes)


def _image_index(file, images) -> dict:
  """Image id -> the image's index in `images` (the first, if repeated)."""
  index = {}
  for i, image in enumerate(images):
    if not isinstance(image, dict) or "id" not in image:
      raise KeypointFileError(file, f"images[{i}] has no `id`")
    if isinstance(image["id"], bool) or not isinstance(image["id"],
                                                       (int, str)):
      raise KeypointFileError(file, f"images[{i}]: id {image['id']!r} is not "
                              "an integer or a string")
    index.setdefault(image["id"], i)
  return index


def _format_by_names(file, names, k) -> str:
  """The format whose joint names are the category's first K keypoint names
  (K None: no annotations); by the point count if the file names none."""
  if not names:
    if k is None:
      raise KeypointFileError(file, "no keypoint names in `categories` "
                              "and no annotations: pass format=")
    return format_by_point_count(file, k)
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
      not INT32.min <= value <= INT32.max):
    raise KeypointFileError(file, f"{who}: track_id {value!r} is not a "
                            "32-bit integer")
  return value


def _size(value) -> int:
  number = isinstance(value, (int, float)) and not isinstance(value, bool)
  # Not a size a file could mean (NaN, inf, beyond int32): unknown, as when
  # the file does not say.
  return int(value) if number and 0 < value <= INT32.max else 0


READER = Reader(
    expects="a COCO-style annotation file (`images`, `annotations` with "
    "`keypoints`, `categories`)",
    recognises=_is_coco,
    read=lambda file, content, keypoint_format, _position: read_coco(
        file, content, keypoint_format))
