"""Mesh export (OBJ/PLY) through trimesh."""

import numpy as np
import trimesh

from lgd_jax.io.files import atomic_path


def write_mesh(path, vertices, faces):
  """Writes one mesh; the format follows the suffix (.obj, .ply, ...).

  Args:
    path: output file; written atomically.
    vertices: (V, 3) metres.
    faces: (F, 3) vertex indices.
  """
  mesh = trimesh.Trimesh(np.asarray(vertices, np.float64),
                         np.asarray(faces), process=False)
  with atomic_path(path) as tmp:
    mesh.export(tmp, file_type=tmp.suffix.lstrip("."))
