"""A BVH (Biovision hierarchy) reader.

Our own small reader: the maintained PyPI parsers either reject position
channels on non-root joints (pybvh 0.9.0; every Bandai-Namco joint has six
channels) or build per-frame Python objects and pull pinned native
dependencies (bvhio 1.5.4 with PyGLM); this one parses with NumPy and names
the file and line of every problem.

Conventions: a joint's rotation channels compose in the listed order
(`Zrotation Xrotation Yrotation` is R = Rz Rx Ry); position channels, where
a joint has them, replace its OFFSET (as the Bandai-Namco files need: their
root-most `Hips` OFFSET is a rest placement, its channels the world
position); lengths are multiplied by `scale` to give metres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lgd_jax.build.skeleton import (AXES, MocapFileError, Motion,
                                   euler_to_matrix)

_POSITION = {f"{a}position": i for i, a in enumerate(AXES)}
_ROTATION = {f"{a}rotation": i for i, a in enumerate(AXES)}


class _Lines:
  """Non-blank lines with their 1-based numbers, read front to back."""

  def __init__(self, path, lines):
    self.path = path
    self.items = [(n, line.split()) for n, line in enumerate(lines, 1)
                  if line.strip()]
    self.pos = 0

  def next(self, what: str):
    if self.pos >= len(self.items):
      raise MocapFileError(self.path, f"file ends while expecting {what}")
    self.pos += 1
    return self.items[self.pos - 1]

  def expect(self, keyword: str, what: str | None = None):
    number, tokens = self.next(what or keyword)
    if tokens[0].lower() != keyword.lower():
      raise MocapFileError(
          self.path, f"expected {what or keyword!r}, found {tokens[0]!r}",
          number)
    return number, tokens

  def error(self, problem: str, number: int):
    return MocapFileError(self.path, problem, number)


def _floats(lines: _Lines, tokens, number, count, what):
  if len(tokens) != count:
    raise lines.error(f"{what} needs {count} numbers, found {len(tokens)}",
                      number)
  try:
    return [float(t) for t in tokens]
  except ValueError:
    raise lines.error(f"{what} has a value that is not a number: "
                      f"{' '.join(tokens)!r}", number) from None


def _read_joint(lines: _Lines, name, parent, joints):
  """Reads one `{ OFFSET ... CHANNELS ... children }` block into `joints`."""
  lines.expect("{")
  number, tokens = lines.expect("OFFSET")
  index = len(joints)
  joint = dict(name=name, parent=parent, line=number,
               offset=_floats(lines, tokens[1:], number, 3, "OFFSET"),
               channels=[])
  joints.append(joint)
  if name.endswith("_end"):  # an End Site: no channels, no children
    lines.expect("}")
    return
  number, tokens = lines.expect("CHANNELS")
  try:
    count = int(tokens[1])
  except (IndexError, ValueError):
    raise lines.error("CHANNELS needs a channel count", number) from None
  if count != len(tokens) - 2:
    raise lines.error(
        f"CHANNELS says {count} channels but lists {len(tokens) - 2}", number)
  for channel in tokens[2:]:
    if channel.lower() not in _POSITION and channel.lower() not in _ROTATION:
      raise lines.error(f"unknown channel {channel!r}", number)
  joint["channels"] = [c.lower() for c in tokens[2:]]
  while True:
    number, tokens = lines.next(f"JOINT, End Site or '}}' in {name}")
    keyword = tokens[0].lower()
    if keyword == "}":
      return
    if keyword == "joint" and len(tokens) == 2:
      _read_joint(lines, tokens[1], index, joints)
    elif keyword == "end":
      _read_joint(lines, f"{name}_end", index, joints)
    else:
      raise lines.error(
          f"expected JOINT, End Site or '}}' in {name}, found "
          f"{' '.join(tokens)!r}", number)


def read_bvh(path, scale: float = 0.01) -> Motion:
  """Reads a BVH file.

  Args:
    path: the `.bvh` file.
    scale: metres per file length unit (0.01 for centimetres).

  Returns:
    A `Motion` in metres (end sites are joints named "<parent>_end").

  Raises:
    MocapFileError: naming the file and line, for a malformed hierarchy, a
      wrong number of values on a frame line, a non-numeric value, or a
      frame count that differs from the `Frames:` header (truncated file).
  """
  path = Path(path)
  try:
    text = path.read_text(encoding="utf-8", errors="strict")
  except (OSError, UnicodeDecodeError) as e:
    raise MocapFileError(path, f"cannot read: {e}") from None
  all_lines = text.splitlines()
  try:
    motion_at = next(i for i, line in enumerate(all_lines)
                     if line.strip().upper() == "MOTION")
  except StopIteration:
    raise MocapFileError(path, "no MOTION section") from None
  lines = _Lines(path, all_lines[:motion_at])
  lines.expect("HIERARCHY")
  number, tokens = lines.expect("ROOT")
  if len(tokens) != 2:
    raise lines.error("ROOT needs one name", number)
  joints = []
  _read_joint(lines, tokens[1], -1, joints)
  if lines.pos != len(lines.items):
    number, tokens = lines.items[lines.pos]
    raise lines.error(f"unexpected {' '.join(tokens)!r} after the hierarchy "
                      "(one ROOT per file)", number)

  header = _Lines(path, [""] * (motion_at + 1) + all_lines[motion_at + 1:])
  number, tokens = header.expect("Frames:")
  try:
    num_frames = int(tokens[1])
  except (IndexError, ValueError):
    raise header.error("Frames: needs an integer", number) from None
  number, tokens = header.expect("Frame", "Frame Time:")
  try:
    frame_time = float(tokens[2])
  except (IndexError, ValueError):
    frame_time = 0.0
  if not frame_time > 0:
    raise header.error("Frame Time: needs a positive number", number)
  rows = header.items[header.pos:]
  num_channels = sum(len(j["channels"]) for j in joints)
  if len(rows) != num_frames:
    raise MocapFileError(
        path, f"the header declares {num_frames} frames but the file has "
        f"{len(rows)} frame lines (truncated or padded file)")
  for number, values in rows:
    if len(values) != num_channels:
      raise MocapFileError(
          path, f"frame line has {len(values)} values, the hierarchy "
          f"declares {num_channels} channels", number)
  try:
    data = np.array([v for _, values in rows for v in values], np.float64)
  except ValueError:
    for number, values in rows:
      try:
        [float(v) for v in values]
      except ValueError:
        raise MocapFileError(path, "frame line has a value that is not a "
                             "number", number) from None
    raise
  data = data.reshape(num_frames, num_channels)
  return _to_motion(path, joints, data, 1.0 / frame_time, scale)


def _to_motion(path, joints, data, fps, scale) -> Motion:
  num_frames, num_joints = data.shape[0], len(joints)
  translations = np.empty((num_frames, num_joints, 3))
  angles = np.zeros((num_frames, num_joints, 3))
  axes = np.zeros((num_joints, 3), np.int64)
  column = 0
  for j, joint in enumerate(joints):
    translations[:, j] = np.asarray(joint["offset"])
    rotation_slot = 0
    for channel in joint["channels"]:
      if channel in _POSITION:
        translations[:, j, _POSITION[channel]] = data[:, column]
      else:
        if rotation_slot == 3:
          raise MocapFileError(path, f"{joint['name']} has more than three "
                               "rotation channels", joint["line"])
        axes[j, rotation_slot] = _ROTATION[channel]
        angles[:, j, rotation_slot] = np.deg2rad(data[:, column])
        rotation_slot += 1
      column += 1
  return Motion(names=tuple(j["name"] for j in joints),
                parents=tuple(j["parent"] for j in joints),
                local_rotations=euler_to_matrix(angles, axes),
                local_translations=translations * scale, fps=fps,
                source=str(path))
