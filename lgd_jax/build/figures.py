"""Pictures of retargeted frames: the source skeleton beside our body."""

import jax.numpy as jnp
from matplotlib.figure import Figure
import numpy as np

from lgd_jax.body.lbs import smpl_forward
from lgd_jax.body.model import SMPL_JOINT_NAMES
from lgd_jax.build import retarget
from lgd_jax.tool.render import SIDE_COLOURS, VIEWS, draw_mesh, save_figure


def _table(sample):
  """The sample's `skeleton` table, else the pose set's rule: CMU's for
  the "cmu" dataset, Bandai-Namco's for the others."""
  default = "cmu" if sample["dataset"] == "cmu" else "bandai-namco"
  return retarget.SKELETONS[sample.get("skeleton", default)]


def _source_sides(table, names) -> list[str]:
  """"left", "right" or "" per source joint, from the retargeting table."""
  side = {}
  for row in table:
    if row.smpl.startswith(("left", "right")):
      for joint in (row.source,) + (row.direction or ()):
        side[joint] = row.smpl.split("_")[0]
  return [side.get(n, side.get(n.removesuffix("_end"), "")) for n in names]


def _facing_yaw(joints) -> float:
  """Rotation about y that turns the body's hips to face +z."""
  lateral = joints[1] - joints[2]  # right hip -> left hip
  return float(np.arctan2(-lateral[2], lateral[0]))


def _turn(points, yaw):
  c, s = np.cos(yaw), np.sin(yaw)
  return points @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def save_retarget_figure(path, samples, model, columns: int = 4):
  """Saves source skeletons (lines) beside the retargeted bodies.

  Both are seen from the front of the body (the same rotation about y for
  the pair, so the mocap's facing is removed but nothing else), pelvis at
  the origin; red is the left side, blue the right.

  Args:
    path: output PNG (written atomically).
    samples: dicts from `lgd_jax.build.pose_set.build_pose_set`: `pose`
      (72,), `world` (a one-frame source `WorldPose`), `dataset`, `clip`,
      `frame`, and optionally `skeleton` (a `retarget.SKELETONS` key).
    model: the body model the poses were made for.
    columns: samples per row.
  """
  poses = jnp.asarray(np.stack([s["pose"] for s in samples]), jnp.float32)
  out = smpl_forward(model, poses, jnp.zeros((len(samples),
                                              model.num_betas)))
  vertices, joints = np.asarray(out.vertices), np.asarray(out.joints)
  rows = -(-len(samples) // columns)
  fig = Figure(figsize=(2.0 * 2 * columns, 3.3 * rows))
  axes = fig.subplots(rows, 2 * columns)
  axes = np.atleast_2d(axes)
  right = VIEWS["front"][0]
  for i, sample in enumerate(samples):
    ax_src, ax_body = axes[i // columns, 2 * (i % columns):][:2]
    yaw = _facing_yaw(joints[i])
    world = sample["world"]
    pelvis = joints[i, 0]
    body = _turn(vertices[i] - pelvis, yaw)
    draw_mesh(ax_body, body, np.asarray(model.faces), "front",
              _turn(joints[i] - pelvis, yaw), list(SMPL_JOINT_NAMES))
    table = _table(sample)
    hips = [world.index(n) for n in table[0].direction]  # the pelvis row
    points = world.positions[0]
    points = _turn(points - points[hips].mean(0), yaw)
    sides = _source_sides(table, world.names)
    # A root joint that drives no SMPL joint (Bandai-Namco's joint_Root, on
    # the floor) only places the skeleton: its bones are not drawn.
    placement = world.names[0] not in {row.source for row in table}
    for j, p in enumerate(world.parents):
      if p > 0 or (p == 0 and not placement):
        ax_src.plot(points[[p, j]] @ right, points[[p, j], 1], lw=2,
                    color=SIDE_COLOURS[sides[j] or sides[p]])
    ax_src.set_xlim(ax_body.get_xlim())
    ax_src.set_ylim(ax_body.get_ylim())
    ax_src.set_aspect("equal")
    ax_src.set_xticks([])
    ax_src.set_yticks([])
    ax_src.set_title(f"{sample['clip']}\nframe {sample['frame']}",
                     fontsize=6)
    ax_body.set_title("retargeted", fontsize=6)
  for ax in axes.ravel()[2 * len(samples):]:
    ax.axis("off")
  fig.tight_layout()
  save_figure(fig, path, dpi=100)


def save_pose_grid(path, rows, model, extent: float = 1.0):
  """Saves a grid of bodies: one row per (label, poses (n, 72)) of `rows`.

  Each body is seen from the front of its hips (its heading removed, world
  up kept, so lying and upside-down poses show as such), pelvis at the
  centre of a square of +-`extent` metres, the same for every panel so
  heights compare.
  """
  columns = max(len(poses) for _, poses in rows)
  fig = Figure(figsize=(1.6 * columns, 1.8 * len(rows)))
  axes = np.atleast_2d(fig.subplots(len(rows), columns))
  for (label, poses), row_axes in zip(rows, axes):
    poses = jnp.asarray(poses, jnp.float32)
    out = smpl_forward(model, poses, jnp.zeros((len(poses),
                                                model.num_betas)))
    for ax, vertices, joints in zip(row_axes, np.asarray(out.vertices),
                                    np.asarray(out.joints)):
      draw_mesh(ax, _turn(vertices - joints[0], _facing_yaw(joints)),
                np.asarray(model.faces), "front")
      ax.set_xlim(-extent, extent)
      ax.set_ylim(-extent, extent)
    row_axes[0].set_ylabel(label, fontsize=8)
    for ax in row_axes[len(poses):]:
      ax.axis("off")
  fig.tight_layout()
  save_figure(fig, path, dpi=90)
