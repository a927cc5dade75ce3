"""Mesh export (OBJ/PLY) through trimesh."""

import numpy as np
import trimesh

from lgd_jax.files import atomic_path


def write_mesh(path, vertices, faces):
  """Writes one mesh; the format follows the suffix (.obj, .ply, ...).

  Args:
    path: output file; written atomically.
    vertices: (V, 3) metres.
    faces: (F, 3) vertex indices.
  """
  vertices = np.asarray(vertices, np.float64)
  faces = np.asarray(faces)
  if vertices.ndim != 2 or vertices.shape[1] != 3:
    raise ValueError(f"{path}: vertices must be (V, 3), got {vertices.shape}")
  if not np.all(np.isfinite(vertices)):
    raise ValueError(f"{path}: vertices contain NaN or infinite values")
  if faces.ndim != 2 or faces.shape[1] != 3 or (
      faces.size and (faces.min() < 0 or faces.max() >= len(vertices))):
    raise ValueError(f"{path}: faces must be (F, 3) indices into "
                     f"{len(vertices)} vertices")
  mesh = trimesh.Trimesh(vertices, faces, process=False)
  with atomic_path(path) as tmp:
    mesh.export(tmp, file_type=tmp.suffix.lstrip("."))
