"""Software rendering of body meshes with matplotlib (no GPU, no display).

Orthographic views with flat Lambert shading, drawn back to front (painter's
algorithm): enough to check a fit by eye, with no OpenGL dependency.
"""

# Figures are made without pyplot, so importing this module never changes
# the user's matplotlib backend (Jupyter, GUI); savefig renders with Agg.
from matplotlib.collections import LineCollection
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
import numpy as np

from lgd_jax.io.files import atomic_path
from lgd_jax.keypoints import get_format

# Viewing directions in the SMPL frame (y up, the body faces +z): the image
# x axis, and the axis pointing at the viewer.
VIEWS = {
    "front": (np.array([1.0, 0, 0]), np.array([0, 0, 1.0])),
    "left side": (np.array([0, 0, -1.0]), np.array([1.0, 0, 0])),
}
SIDE_COLOURS = {"left": "#d62728", "right": "#1f77b4", "": "#555555"}


def draw_mesh(ax, vertices, faces, view="front", joints=None,
              joint_names=None, colour=(0.78, 0.72, 0.64)):
  """Draws one shaded view of a mesh (and optional joints) on `ax`.

  Args:
    ax: a matplotlib Axes.
    vertices: (V, 3) metres; faces: (F, 3) indices.
    view: a key of `VIEWS`.
    joints: optional (J, 3) points drawn on top, red for names starting with
      "left", blue for "right".
    joint_names: names of `joints`, for the colours.
    colour: RGB base colour of the skin.
  """
  right, toward = VIEWS[view]
  up = np.array([0, 1.0, 0])
  vertices = np.asarray(vertices, np.float64)
  faces = np.asarray(faces)
  tri = vertices[faces]  # (F, 3, 3)
  normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
  shade = 0.25 + 0.75 * np.abs(normals @ toward)
  order = np.argsort(tri.mean(axis=1) @ toward)  # far to near
  polys = np.stack([tri @ right, tri @ up], axis=-1)[order]
  colours = np.clip(shade[order, None] * np.asarray(colour)[None], 0, 1)
  ax.add_collection(PolyCollection(polys, facecolors=colours,
                                   edgecolors="none"))
  if joints is not None:
    joints = np.asarray(joints)
    names = joint_names or [""] * len(joints)
    side = [n.split("_")[0] if n.startswith(("left", "right")) else ""
            for n in names]
    ax.scatter(joints @ right, joints @ up, s=10, zorder=3,
               c=[SIDE_COLOURS[s] for s in side])
  lo, hi = polys.reshape(-1, 2).min(0), polys.reshape(-1, 2).max(0)
  pad = 0.05 * (hi - lo).max()
  ax.set_xlim(lo[0] - pad, hi[0] + pad)
  ax.set_ylim(lo[1] - pad, hi[1] + pad)
  ax.set_aspect("equal")
  ax.set_xticks([])
  ax.set_yticks([])


def save_views(path, panels, title=None, panel_size=3.0):
  """Saves a row of rendered panels as a PNG (written atomically).

  Args:
    path: output PNG.
    panels: list of dicts with keys `vertices`, `faces`, `view`, `title` and
      optionally `joints`, `joint_names`.
    title: optional figure title.
  """
  fig = Figure(figsize=(panel_size * len(panels), panel_size * 1.6))
  axes = fig.subplots(1, len(panels))
  for ax, panel in zip(np.atleast_1d(axes), panels):
    draw_mesh(ax, panel["vertices"], panel["faces"], panel["view"],
              panel.get("joints"), panel.get("joint_names"))
    ax.set_title(panel["title"], fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=110)


def save_keypoint_overlay(path, image, xy, confidence, keypoint_format,
                          min_confidence=0.0):
  """Saves a PNG of `image` with people's keypoints and skeletons drawn on
  it, at the image's own pixel size (written atomically).

  Left-side points and limbs are red, right-side blue, the rest grey.

  Args:
    path: output PNG.
    image: (H, W, 3) or (H, W, 4) array (uint8 or floats in [0, 1]), or
      (H, W) grey levels, e.g. from `matplotlib.image.imread`.
    xy: (P, K, 2) or (K, 2) pixel coordinates of P people.
    confidence: (P, K) or (K,); points with confidence <= `min_confidence`
      are not drawn, nor are edges touching them.
    keypoint_format: a `lgd_jax.keypoints.FORMATS` name.
    min_confidence: the drawing threshold.
  """
  fmt = get_format(keypoint_format)
  k = fmt.num_keypoints
  image = np.asarray(image)
  height, width = image.shape[:2]
  xy = np.asarray(xy, np.float64).reshape(-1, k, 2)
  shown = np.asarray(confidence).reshape(len(xy), k) > min_confidence
  side = [""] * k
  for left, right in fmt.flip_pairs:
    side[left], side[right] = "left", "right"
  segments, segment_colours = [], []
  for points, visible in zip(xy, shown):
    for i, j in fmt.edges:
      if visible[i] and visible[j]:
        segments.append(points[[i, j]])
        segment_colours.append(SIDE_COLOURS[side[i] if side[i] == side[j]
                                            else ""])
  people, joints = np.nonzero(shown)
  # One figure inch per 100 pixels at dpi 100: the PNG is H x W pixels, and
  # pixel (0, 0) is centred at coordinates (0, 0).
  dpi = 100
  scale = max(1.0, max(height, width) / 640)  # marks grow with the photo
  fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
  ax = fig.add_axes((0, 0, 1, 1))
  ax.imshow(image, cmap="gray", interpolation="none")  # pixels as they are
  ax.add_collection(LineCollection(segments, colors=segment_colours,
                                   linewidths=2 * scale, alpha=0.9))
  ax.scatter(xy[people, joints, 0], xy[people, joints, 1], s=30 * scale**2,
             c=[SIDE_COLOURS[side[j]] for j in joints], edgecolors="white",
             linewidths=0.8 * scale, zorder=3)
  ax.set_xlim(-0.5, width - 0.5)
  ax.set_ylim(height - 0.5, -0.5)
  ax.axis("off")
  with atomic_path(path) as tmp:
    # Light compression: twice as fast on video frames, 10 % larger files.
    fig.savefig(tmp, dpi=dpi, pil_kwargs={"compress_level": 1})
