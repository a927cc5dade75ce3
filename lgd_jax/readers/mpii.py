"""MMPose's MPII JSON, a list of entries with `joints`, `joints_vis` and
`image`: its reader (`READER`)."""

from __future__ import annotations

import numpy as np

from lgd_jax.formats import get_format
from lgd_jax.readers.common import (KeypointFileError, Reader, Rows,
                                    check_point_count, check_points,
                                    parse_numbers, person_in_frame)

_FORMAT = "mpii16"


def _is_mpii(content) -> bool:
  return (isinstance(content, list) and bool(content) and
          isinstance(content[0], dict) and "joints" in content[0])


def read_mpii(file, entries, keypoint_format) -> Rows:
  """One row per entry; images are numbered as frames in order of first
  appearance."""
  for i, entry in enumerate(entries):
    if not isinstance(entry, dict) or not {"joints", "joints_vis",
                                           "image"} <= entry.keys():
      raise KeypointFileError(file, f"entry {i} lacks `joints`, "
                              "`joints_vis` or `image`")

  def describe(i):
    return f"entry {i} ({entries[i]['image']})"

  joints = parse_numbers(file, [e["joints"] for e in entries], "joints",
                         describe)
  vis = parse_numbers(file, [e["joints_vis"] for e in entries], "joints_vis",
                      describe)
  n = len(entries)
  k = joints.shape[1] if joints.ndim == 3 else -1
  if joints.shape != (n, k, 2) or vis.shape != (n, k):
    raise KeypointFileError(
        file, f"joints must be (K, 2) and joints_vis (K,) per entry, the "
        f"same K in every entry; got {joints.shape[1:]} and {vis.shape[1:]}")
  if keypoint_format:
    fmt = check_point_count(file, keypoint_format, k, "entries have")
  elif k == get_format(_FORMAT).num_keypoints:
    fmt = _FORMAT
  else:
    raise KeypointFileError(file, f"entries have {k} joints; MPII has 16: "
                            "pass format= for another layout")
  # MMPose writes unlabelled joints as (-1, -1) with joints_vis 0.
  joints = np.where(vis[..., None] > 0, joints, 0.0)
  xy, confidence = check_points(file, joints, vis, fmt, describe)
  images = [str(e["image"]) for e in entries]
  order = {}
  frame = np.array([order.setdefault(name, len(order)) for name in images])
  return Rows(fmt, xy, confidence, frame, person_in_frame(frame),
              np.full(n, -1), images, np.zeros((n, 2), int))


READER = Reader(
    expects="MMPose's MPII list (`joints`, `joints_vis`, `image`)",
    recognises=_is_mpii,
    read=lambda file, entries, keypoint_format, _position: read_mpii(
        file, entries, keypoint_format))
