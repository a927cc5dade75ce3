"""Fitted meshes drawn over images: projection for both camera types, the
painter's order, and the overlay PNG."""

import jax.numpy as jnp
import matplotlib.colors
from matplotlib.figure import Figure
import matplotlib.image
import numpy as np
import pytest

import lgd_jax
from lgd_jax.tool.render import (MESH_COLOURS, draw_mesh_overlay,
                               project_fit_mesh, save_fit_overlay,
                               save_keypoint_overlay)

HEIGHT, WIDTH = 100, 80
# The rest pose (a T-pose) about 60 pixels tall and wide, in the middle.
CAMERAS = {
    "weak": lgd_jax.WeakPerspective(jnp.array(35.0), jnp.array([40.0, 45.0])),
    "perspective": lgd_jax.Perspective(
        jnp.array([120.0, 120.0]), jnp.array([40.0, 50.0]),
        jnp.array([0.0, -0.1, 3.5])),
}


@pytest.fixture(scope="module")
def model():
  return lgd_jax.load_body_model()


def _grey_image():
  return np.full((HEIGHT, WIDTH, 3), 128, np.uint8)


@pytest.mark.parametrize("kind", list(CAMERAS))
def test_projected_mesh_matches_the_camera(model, kind):
  camera = CAMERAS[kind]
  pose = np.zeros((2, 72), np.float32)
  pose[1, 3 * 16 + 2] = 1.0  # the second body raises its left arm
  pixels, camera_points = project_fit_mesh(
      model, pose, np.zeros(model.num_betas, np.float32), camera)
  assert pixels.shape == (2, model.num_vertices, 2)
  assert camera_points.shape == (2, model.num_vertices, 3)
  # The camera points image to the pixels by the camera's own model.
  if kind == "weak":
    expected = camera.scale * camera_points[..., :2] + camera.translation
    # The body faces the camera: the nose is nearer than the back.
    assert np.ptp(camera_points[..., 2]) < 0.5
  else:
    expected = (camera.focal_length * camera_points[..., :2] /
                camera_points[..., 2:] + camera.principal_point)
    assert np.all(np.abs(camera_points[..., 2] - 3.5) < 0.5)
  np.testing.assert_allclose(pixels, expected, atol=1e-3)
  # Upright and inside the image: the top of the head is on the midline.
  assert np.all((pixels >= 0) & (pixels < (WIDTH, HEIGHT)))
  head = pixels[0, np.argmin(pixels[0, :, 1])]
  assert abs(head[0] - WIDTH / 2) < 3 and head[1] < HEIGHT / 3


@pytest.mark.parametrize("kind", list(CAMERAS))
def test_mesh_is_drawn_inside_its_box_only(model, kind, tmp_path):
  pixels, camera_points = project_fit_mesh(
      model, np.zeros(72, np.float32), np.zeros(model.num_betas, np.float32),
      CAMERAS[kind])
  image = _grey_image()
  out = tmp_path / "fit.png"
  save_fit_overlay(out, image, [(pixels, camera_points)], model.faces,
                   np.zeros((1, 17, 2)), np.zeros((1, 17)), "coco17")
  overlay = matplotlib.image.imread(out)[..., :3]
  assert overlay.shape == (HEIGHT, WIDTH, 3)
  changed = np.abs(overlay - image / 255).sum(-1) > 0.02
  (left, top), (right, bottom) = pixels.min(0), pixels.max(0)
  rows, columns = np.mgrid[:HEIGHT, :WIDTH]
  inside = ((columns >= left) & (columns <= right) & (rows >= top) &
            (rows <= bottom))
  # A T-pose covers a fifth of its box, and nothing beyond a pixel of
  # antialiasing around it.
  assert changed[inside].mean() > 0.15
  near = ((columns >= left - 1) & (columns <= right + 1) & (rows >= top - 1)
          & (rows <= bottom + 1))
  assert not changed[~near].any()
  # Semi-transparent in the person's colour: the torso's centre mixes the
  # photo's grey with orange.
  centre = overlay[round((top + bottom) / 2), round((left + right) / 2)]
  orange = np.array(matplotlib.colors.to_rgb(MESH_COLOURS[0]))
  assert np.argmax(centre) == 0 and 0.05 < centre[2] < 0.45
  assert np.all(np.abs(centre - orange) > 0.05)


def test_near_faces_cover_far_ones(tmp_path):
  """Two overlapping triangles given near first: the near one, facing the
  camera (full shade), is what shows where they overlap."""
  pixels = np.array([[10, 10], [70, 10], [10, 70],  # far, tilted
                     [20, 20], [50, 20], [20, 50]], np.float64)  # near
  camera_points = np.array([[0, 0, 5], [1, 0, 6], [0, 1, 5],
                            [0, 0, 2], [1, 0, 2], [0, 1, 2]], np.float64)
  faces = np.array([[3, 4, 5], [0, 1, 2]])
  fig = Figure(figsize=(0.8, 0.8), dpi=100)
  ax = fig.add_axes((0, 0, 1, 1))
  ax.imshow(np.full((80, 80, 3), 255, np.uint8), interpolation="none")
  ax.axis("off")
  draw_mesh_overlay(ax, pixels, camera_points, faces, colour="#0000ff",
                    alpha=1.0)
  fig.savefig(tmp_path / "o.png", dpi=100)
  overlay = matplotlib.image.imread(tmp_path / "o.png")[..., :3]
  tilt = 0.25 + 0.75 / np.sqrt(2)  # the far face's normal is at 45 degrees
  np.testing.assert_allclose(overlay[30, 30], (0, 0, 1), atol=0.01)
  np.testing.assert_allclose(overlay[15, 50], (0, 0, tilt), atol=0.01)
  np.testing.assert_allclose(overlay[75, 75], (1, 1, 1))


def test_without_meshes_the_keypoint_overlay_is_unchanged(tmp_path):
  rng = np.random.default_rng(0)
  xy = rng.uniform(5, 75, (2, 17, 2))
  confidence = (rng.uniform(size=(2, 17)) > 0.3).astype(np.float32)
  save_keypoint_overlay(tmp_path / "keypoints.png", _grey_image(), xy,
                        confidence, "coco17")
  save_fit_overlay(tmp_path / "fit.png", _grey_image(), [None, None],
                   np.zeros((0, 3), int), xy, confidence, "coco17")
  np.testing.assert_array_equal(
      matplotlib.image.imread(tmp_path / "fit.png"),
      matplotlib.image.imread(tmp_path / "keypoints.png"))
  with pytest.raises(ValueError, match="1 meshes for 2 people"):
    save_fit_overlay(tmp_path / "bad.png", _grey_image(), [None],
                     np.zeros((0, 3), int), xy, confidence, "coco17")


def test_labels_are_written_above_the_keypoints(tmp_path):
  xy = np.zeros((1, 17, 2)) + (40, 70)
  confidence = np.zeros((1, 17))
  confidence[0, :2] = 1
  paths = [tmp_path / "plain.png", tmp_path / "label.png"]
  for path, labels in zip(paths, (None, ["2D err 3.1%"])):
    save_fit_overlay(path, _grey_image(), [None], np.zeros((0, 3), int), xy,
                     confidence, "coco17", labels=labels)
  plain, label = (matplotlib.image.imread(p)[..., :3] for p in paths)
  changed = np.abs(label - plain).sum(-1) > 0.1
  assert changed[45:68].any() and not changed[72:].any()
