"""An Acclaim ASF (skeleton) / AMC (motion) reader, as in the CMU database.

Our own small reader: the PyPI candidates (asfamc-parser 0.0.2, 2021;
pyacclaim 0.0.1, 2023) are single unmaintained releases.

Acclaim conventions: a bone's `direction` and `length` are given in the world
frame of the rest pose, where every bone frame is world-aligned; `axis a b c
XYZ` defines the bone's rotation frame C (rotations applied in the listed
order, x first); a frame's `dof` angles M (applied in the `dof` order) act
in that frame, so the bone's rotation relative to its parent is C M C^T.
`:units length 0.45` means lengths * (1 / 0.45) are inches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lgd_jax.build.skeleton import (AXES, MocapFileError, Motion,
                                   euler_to_matrix)

METRES_PER_INCH = 0.0254


def _text(path: Path) -> str:
  """The file as text: UTF-8, or Latin-1 where it is not valid UTF-8 (the
  HDM05 AMC headers hold Latin-1 bytes in a comment, e.g. a path with
  "f\xfcr"); Latin-1 maps every byte, so decoding cannot fail, and the
  values that matter are ASCII in both."""
  try:
    raw = path.read_bytes()
  except OSError as e:
    raise MocapFileError(path, f"cannot read: {e}") from None
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError:
    return raw.decode("latin-1")


def _lines(path):
  path = Path(path)
  text = _text(path)
  return path, [(n, line.split()) for n, line in enumerate(text.splitlines(),
                                                           1)
                if line.strip() and not line.lstrip().startswith("#")]


def _numbers(path, number, tokens, count, what):
  if len(tokens) < count:
    raise MocapFileError(path, f"{what} needs {count} numbers", number)
  try:
    return [float(t) for t in tokens[:count]]
  except ValueError:
    raise MocapFileError(path, f"{what} has a value that is not a number: "
                         f"{' '.join(tokens)!r}", number) from None


def _axis_order(path, number, token):
  if sorted(token.lower()) != sorted(AXES):
    raise MocapFileError(path, f"bad rotation order {token!r}", number)
  return [AXES.index(c) for c in token.lower()]


def _frame_rotation(angles, order) -> np.ndarray:
  """Acclaim applies the first listed axis first: R = R_last ... R_first."""
  return euler_to_matrix(np.asarray(angles)[..., ::-1],
                         np.asarray(order)[..., ::-1])


def read_asf(path) -> dict:
  """Reads an ASF skeleton.

  Returns:
    A dict: `bones` (name -> dict with `direction` (3,), `length` in file
    units, `axis` (3, 3) frame C, `dof` list of axis indices), `root`
    (dict with `order`, the root's dof list, `axis` (3, 3) and `position`
    (3,)), `children` (name -> list of child names, "root" included),
    `metres_per_unit` and `radians_per_unit`.

  Raises:
    MocapFileError: naming the file and line of any problem.
  """
  path, lines = _lines(path)
  section, bones, bone, root, children = None, {}, None, {}, {}
  length_unit, radians = 1.0, np.pi / 180
  for number, tokens in lines:
    key = tokens[0].lower()
    if key.startswith(":"):
      section = key
      if section in (":version", ":name", ":documentation"):
        section = None
      continue
    if section == ":units":
      if key == "length":
        length_unit = _numbers(path, number, tokens[1:], 1, "length")[0]
      elif key == "angle":
        radians = 1.0 if tokens[1].lower().startswith("rad") else np.pi / 180
    elif section == ":root":
      if key == "order":
        root["order"] = [(t[0].lower(), AXES.index(t[1].lower()))
                         for t in tokens[1:]]
      elif key == "axis":
        root["axis_order"] = _axis_order(path, number, tokens[1])
      elif key in ("position", "orientation"):
        root[key] = _numbers(path, number, tokens[1:], 3, key)
    elif section == ":bonedata":
      if key == "begin":
        bone = dict(line=number, dof=[])
      elif key == "end":
        if "name" not in bone or "direction" not in bone:
          raise MocapFileError(path, "bone without name or direction",
                               bone["line"])
        bones[bone["name"]] = bone
        bone = None
      elif bone is None:
        raise MocapFileError(path, f"{tokens[0]!r} outside begin/end", number)
      elif key == "name":
        bone["name"] = tokens[1]
      elif key == "direction":
        bone["direction"] = _numbers(path, number, tokens[1:], 3, key)
      elif key == "length":
        bone["length"] = _numbers(path, number, tokens[1:], 1, key)[0]
      elif key == "axis":
        angles = _numbers(path, number, tokens[1:], 3, key)
        order = _axis_order(path, number, tokens[4] if len(tokens) > 4
                            else "xyz")
        bone["axis"] = [angles[i] for i in order], order
      elif key == "dof":
        if any(t.lower() not in ("rx", "ry", "rz") for t in tokens[1:]):
          raise MocapFileError(path, "only rotational dofs (rx, ry, rz) are "
                               "supported", number)
        bone["dof"] = [AXES.index(t[1].lower()) for t in tokens[1:]]
    elif section == ":hierarchy":
      if key in ("begin", "end"):
        continue
      for name in tokens:
        if name != "root" and name not in bones:
          raise MocapFileError(path, f"hierarchy names unknown bone {name!r}",
                               number)
      children.setdefault(tokens[0], []).extend(tokens[1:])
  if "order" not in root or not bones:
    raise MocapFileError(path, "missing :root or :bonedata section")
  for name, b in bones.items():
    angles, order = b.pop("axis", ([0.0, 0.0, 0.0], [0, 1, 2]))
    b["axis"] = _frame_rotation(np.asarray(angles) * radians, order)
    b["direction"] = np.asarray(b["direction"]) / np.linalg.norm(
        b["direction"])
  orientation = np.asarray(root.get("orientation", [0.0, 0.0, 0.0]))
  root_order = root.get("axis_order", [0, 1, 2])
  root["axis"] = _frame_rotation(orientation[root_order] * radians,
                                 root_order)
  root["position"] = np.asarray(root.get("position", [0.0, 0.0, 0.0]))
  return dict(bones=bones, root=root, children=children,
              metres_per_unit=METRES_PER_INCH / length_unit,
              radians_per_unit=radians)


def _tree(skeleton):
  """Bones parents-first, each with its parent's index, from "root"."""
  names, parents, stack = ["root"], [-1], [(0, "root")]
  while stack:
    index, name = stack.pop()
    for child in reversed(skeleton["children"].get(name, [])):
      names.append(child)
      parents.append(index)
      stack.append((len(names) - 1, child))
  return names, parents


def read_amc(path, skeleton: dict, fps: float = 120.0) -> Motion:
  """Reads an AMC motion for a skeleton from `read_asf`.

  Args:
    path: the `.amc` file.
    skeleton: its `read_asf` skeleton.
    fps: its frame rate, which AMC files do not store (120: CMU's; the
      staged HDM05 files were thinned to 30).

  Returns:
    A `Motion` in metres at `fps`. Joints are the root, then the bones
    (each at its start), then "<bone>_end" joints at the ends of leaf bones.

  Raises:
    MocapFileError: naming the file and line, for an unknown bone, a wrong
      number of values, a non-numeric value or non-consecutive frames.
  """
  path, lines = _lines(path)
  bones, root = skeleton["bones"], skeleton["root"]
  dof_count = {name: len(b["dof"]) for name, b in bones.items()}
  dof_count["root"] = len(root["order"])
  frames, current = [], None
  for number, tokens in lines:
    if tokens[0].startswith(":"):
      continue
    if len(tokens) == 1 and tokens[0].isdigit():
      if int(tokens[0]) != len(frames) + 1:
        raise MocapFileError(path, f"frame {tokens[0]} follows frame "
                             f"{len(frames)}", number)
      current = {}
      frames.append(current)
      continue
    name = tokens[0]
    if current is None:
      raise MocapFileError(path, f"{name!r} before the first frame number",
                           number)
    if name not in dof_count:
      raise MocapFileError(path, f"unknown bone {name!r} (not in the ASF)",
                           number)
    if len(tokens) - 1 != dof_count[name]:
      raise MocapFileError(path, f"{name} has {len(tokens) - 1} values, its "
                           f"dof declares {dof_count[name]}", number)
    current[name] = _numbers(path, number, tokens[1:], dof_count[name], name)
  if not frames:
    raise MocapFileError(path, "no frames")
  return _to_motion(path, skeleton, frames, fps)


def _to_motion(path, skeleton, frames, fps) -> Motion:
  bones, root = skeleton["bones"], skeleton["root"]
  names, parents = _tree(skeleton)
  num_bones = len(names)
  for j in range(1, num_bones):
    if j not in parents:
      names.append(f"{names[j]}_end")
      parents.append(j)
  num_frames, num_joints = len(frames), len(names)
  unit, radians = skeleton["metres_per_unit"], skeleton["radians_per_unit"]
  # A joint sits at the end of its parent bone (the root's children at the
  # root): its translation is the parent bone's rest vector, which is also
  # its vector in the parent's frame since rest frames are world-aligned.
  translations = np.zeros((num_frames, num_joints, 3))
  for j in range(1, num_joints):
    if names[parents[j]] != "root":
      b = bones[names[parents[j]]]
      translations[:, j] = b["direction"] * b["length"] * unit
  root_values = np.array([f.get("root", [0.0] * len(root["order"]))
                          for f in frames])
  for slot, (kind, axis) in enumerate(root["order"]):
    if kind == "t":
      translations[:, 0, axis] = (root["position"][axis] +
                                  root_values[:, slot]) * unit
  rot_slots = [s for s, (kind, _) in enumerate(root["order"]) if kind == "r"]
  dofs = [[root["order"][s][1] for s in rot_slots]]
  values = [root_values[:, rot_slots]]
  axes = [root["axis"]]
  for j, name in enumerate(names[1:], 1):
    bone = bones[name] if j < num_bones else None  # end joints: no dofs
    dofs.append(bone["dof"] if bone else [])
    values.append(np.array([f.get(name, [0.0] * len(dofs[-1]))
                            for f in frames]).reshape(num_frames, -1))
    axes.append(bone["axis"] if bone else np.eye(3))
  local = np.empty((num_frames, num_joints, 3, 3))
  for count in sorted({len(d) for d in dofs}):
    sel = [j for j, d in enumerate(dofs) if len(d) == count]
    angles = np.stack([values[j] for j in sel], axis=1) * radians
    c = np.stack([axes[j] for j in sel])
    local[:, sel] = c @ _frame_rotation(
        angles, np.array([dofs[j] for j in sel], np.int64).reshape(
            len(sel), count)) @ np.swapaxes(c, -1, -2)
  return Motion(names=tuple(names), parents=tuple(parents),
                local_rotations=local, local_translations=translations,
                fps=fps, source=str(path))
