"""Mesh export (OBJ/PLY) through trimesh: one mesh, or the meshes of fits."""

from pathlib import Path

import numpy as np
import trimesh

from lgd_jax import batching
from lgd_jax.body import smpl_forward
from lgd_jax.body.model import BodyModel
from lgd_jax.files import atomic_path

CHUNK = 64  # people per body-model call: one shape, bounded memory


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
    # Named: the temporary file's suffix is not the target's.
    mesh.export(tmp, file_type=Path(path).suffix.lstrip("."))


def write_fit_meshes(model: BodyModel, result, paths) -> None:
  """One mesh per fitted person of `result` (a `FitResult`, leading axis
  matching `paths`) that has none yet, in the body frame (y up, metres, no
  translation); failed fits get none."""
  todo = [i for i, path in enumerate(paths)
          if result.fit_ok[i] and not path.exists()]
  if not todo:
    return
  vertices = batching.in_chunks(
      lambda pose, betas: smpl_forward(model, pose, betas).vertices,
      (np.asarray(result.pose)[todo], np.asarray(result.betas)[todo]), CHUNK,
      full_chunks=True)
  faces = np.asarray(model.faces)
  for person, mesh in zip(todo, vertices):
    write_mesh(paths[person], mesh, faces)
