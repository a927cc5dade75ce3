"""Software rendering of body meshes with matplotlib (no GPU, no display).

Orthographic views, and fitted meshes over photos, with flat Lambert shading,
drawn back to front (painter's algorithm): enough to check a fit by eye, with
no OpenGL dependency.
"""

from pathlib import Path

# Figures are made without pyplot, so importing this module never changes
# the user's matplotlib backend (Jupyter, GUI); savefig renders with Agg.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.collections import PolyCollection
import matplotlib.colors
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
import numpy as np

from lgd_jax import cameras
from lgd_jax.body.lbs import smpl_forward
from lgd_jax.files import atomic_path
from lgd_jax.formats import get_format

# Viewing directions in the SMPL frame (y up, the body faces +z): the image
# x axis, and the axis pointing at the viewer.
VIEWS = {
    "front": (np.array([1.0, 0, 0]), np.array([0, 0, 1.0])),
    "left side": (np.array([0, 0, -1.0]), np.array([1.0, 0, 0])),
}
SIDE_COLOURS = {"left": "#d62728", "right": "#1f77b4", "": "#555555"}
# One per person on photos, none of them the keypoints' red, blue or grey.
MESH_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#e377c2", "#bcbd22",
                "#17becf", "#8c564b")
# Overlays: pixels per figure inch, so that the PNG has the image's size.
_DPI = 100


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
  order, colours = _shaded_faces(tri, toward, colour)
  polys = np.stack([tri @ right, tri @ up], axis=-1)[order]
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


def _shaded_faces(tri, toward, colour):
  """Flat Lambert shading and painter's order of triangles.

  Args:
    tri: (F, 3, 3) triangle corners.
    toward: (3,) unit vector pointing from the mesh at the viewer.
    colour: any matplotlib colour, the base colour.

  Returns:
    (F,) face indices from far to near, and (F, 3) RGB colours in that order.
  """
  normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
  shade = 0.25 + 0.75 * np.abs(normals @ toward)
  order = np.argsort(tri.mean(axis=1) @ toward)  # far to near
  rgb = np.asarray(matplotlib.colors.to_rgb(colour))
  return order, np.clip(shade[order, None] * rgb[None], 0, 1)


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
  save_figure(fig, path, dpi=110)


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
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    min_confidence: the drawing threshold.
  """
  fig, ax, scale = _image_figure(image)
  _draw_keypoints(ax, xy, confidence, keypoint_format, min_confidence, scale)
  _save_png(fig, path)


def project_fit_mesh(model, pose, betas, camera):
  """A fitted body's mesh in the image, for `save_fit_overlay`.

  Here rather than in `lgd_jax.cameras`, which does not evaluate the body
  model.

  Args:
    model: the `BodyModel` the fit used.
    pose: (..., 72) and betas: (..., S), e.g. from a `FitResult`.
    camera: the fit's `WeakPerspective` or `Perspective`, leading shape (...).

  Returns:
    (..., V, 2) pixel positions of the vertices and (..., V, 3) their
    positions in camera axes (x right, y down, z away from the camera;
    without the translation for weak perspective, whose depth is relative),
    as NumPy arrays.
  """
  vertices = smpl_forward(model, pose, betas).vertices
  camera_points = cameras.to_camera_axes(vertices)
  if isinstance(camera, cameras.Perspective):
    camera_points = camera_points + camera.translation[..., None, :]
  return (np.asarray(cameras.project(camera, vertices)),
          np.asarray(camera_points))


def draw_mesh_overlay(ax, pixels, camera_points, faces,
                      colour=MESH_COLOURS[0], alpha=0.6):
  """Draws a projected body mesh, semi-transparent, on an image's axes.

  The mesh is drawn opaque (flat Lambert shading, far faces first) into a
  layer at the axes' pixel size, and the layer is blended as one image, so
  hidden faces never show through the visible ones. Call it once the axes'
  limits are set (e.g. after `imshow`).

  Args:
    ax: a matplotlib Axes in pixel coordinates.
    pixels: (V, 2) the vertices projected to the image.
    camera_points: (V, 3) the vertices in camera axes (z away from the
      camera), for the shading and the depth order.
    faces: (F, 3) vertex indices.
    colour: any matplotlib colour.
    alpha: the mesh's opacity.
  """
  faces = np.asarray(faces)
  order, colours = _shaded_faces(
      np.asarray(camera_points, np.float64)[faces], np.array([0, 0, -1.0]),
      colour)
  polys = np.asarray(pixels, np.float64)[faces][order]
  dpi = ax.figure.dpi
  width, height = ax.bbox.size
  layer_fig = Figure(figsize=(round(width) / dpi, round(height) / dpi),
                     dpi=dpi)
  layer_fig.patch.set_alpha(0)
  layer_ax = layer_fig.add_axes((0, 0, 1, 1))
  layer_ax.axis("off")
  extent = (*ax.get_xlim(), *ax.get_ylim())
  layer_ax.set_xlim(extent[:2])
  layer_ax.set_ylim(extent[2:])
  layer_ax.add_collection(PolyCollection(polys, facecolors=colours,
                                         edgecolors="none"))
  canvas = FigureCanvasAgg(layer_fig)
  canvas.draw()
  # The buffer's first row is the top of the axes, i.e. the y limit [1].
  layer = AxesImage(ax, extent=extent, interpolation="none", alpha=alpha,
                    zorder=1)
  layer.set_data(np.array(canvas.buffer_rgba()))
  ax.add_image(layer)


def save_fit_overlay(path, image, meshes, faces, xy, confidence,
                     keypoint_format, labels=None, min_confidence=0.0,
                     alpha=0.6):
  """Saves a PNG of `image` with fitted meshes and the keypoints they were
  fitted to, at the image's own pixel size (written atomically).

  Person i's mesh and label are in `MESH_COLOURS[i % 7]`. Meshes are drawn
  in the given order (later ones on top), then the keypoints and skeletons
  exactly as `save_keypoint_overlay` draws them.

  Args:
    path: output PNG.
    image: as in `save_keypoint_overlay`.
    meshes: P items, each (pixels (V, 2), camera_points (V, 3)) from
      `project_fit_mesh`, or None for no mesh (e.g. a failed fit).
    faces: (F, 3) the body model's faces.
    xy: (P, K, 2) pixel coordinates of the same P people.
    confidence: (P, K).
    keypoint_format: a `lgd_jax.formats.FORMATS` name.
    labels: optional P short texts (e.g. the fit's error), written above
      each person's box of shown keypoints (of the mesh if none is shown).
    min_confidence: the keypoints' drawing threshold.
    alpha: the meshes' opacity.
  """
  fig, ax, scale = _image_figure(image)
  # The keypoints' z-order puts them over the meshes, drawn after them.
  xy, shown = _draw_keypoints(ax, xy, confidence, keypoint_format,
                              min_confidence, scale)
  if len(xy) != len(meshes):
    raise ValueError(f"{len(meshes)} meshes for {len(xy)} people")
  colours = [MESH_COLOURS[i % len(MESH_COLOURS)] for i in range(len(meshes))]
  for mesh, colour in zip(meshes, colours):
    if mesh is not None:
      draw_mesh_overlay(ax, *mesh, faces, colour=colour, alpha=alpha)
  for i, label in enumerate(labels or ()):
    points = xy[i][shown[i]] if shown[i].any() else (
        None if meshes[i] is None else np.asarray(meshes[i][0]))
    if points is None:
      continue
    left, top = points.min(axis=0)
    # Above the box, but inside the image when the box touches its top.
    ax.text(max(left, 0), max(top - 4 * scale, 16 * scale), label,
            fontsize=8 * scale, color="white", va="bottom", zorder=4,
            bbox=dict(facecolor=colours[i], alpha=0.8, edgecolor="none",
                      pad=1.5))
  _save_png(fig, path)


def _image_figure(image):
  """A figure showing `image` at its own pixel size, with pixel (0, 0)
  centred at coordinates (0, 0).

  Returns:
    The figure, its axes, and the scale of the marks drawn on it (they grow
    with the photo).
  """
  image = np.asarray(image)
  height, width = image.shape[:2]
  # One figure inch per _DPI pixels, saved at _DPI: the PNG is H x W pixels.
  fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
  ax = fig.add_axes((0, 0, 1, 1))
  ax.imshow(image, cmap="gray", interpolation="none")  # pixels as they are
  ax.set_xlim(-0.5, width - 0.5)
  ax.set_ylim(height - 0.5, -0.5)
  ax.axis("off")
  return fig, ax, max(1.0, max(height, width) / 640)


def _draw_keypoints(ax, xy, confidence, keypoint_format, min_confidence,
                    scale):
  """Draws the keypoints and skeletons of `save_keypoint_overlay`.

  Returns:
    xy as (P, K, 2) and the (P, K) mask of the points drawn.
  """
  fmt = get_format(keypoint_format)
  k = fmt.num_keypoints
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
  ax.add_collection(LineCollection(segments, colors=segment_colours,
                                   linewidths=2 * scale, alpha=0.9))
  ax.scatter(xy[people, joints, 0], xy[people, joints, 1], s=30 * scale**2,
             c=[SIDE_COLOURS[side[j]] for j in joints], edgecolors="white",
             linewidths=0.8 * scale, zorder=3)
  return xy, shown


def _save_png(fig, path):
  # Light compression: twice as fast on video frames, 10 % larger files.
  save_figure(fig, path, dpi=_DPI, pil_kwargs={"compress_level": 1})


def save_figure(fig, path, **kwargs):
  """`fig.savefig` to `path`, atomically; the format comes from `path`'s
  suffix (the temporary file's suffix is not the target's)."""
  with atomic_path(path) as tmp:
    fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
