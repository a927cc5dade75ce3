"""The README's first command: the demo writes a picture and a mesh."""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import trimesh

import lgd_jax
from lgd_jax.tool import demo
from lgd_jax.tool import meshes as mesh_io


def test_demo_writes_png_and_obj(tmp_path):
  paths = demo.run(tmp_path)
  image = matplotlib.image.imread(paths["png"])
  assert image.shape[0] > 200 and image.shape[1] > 600
  # Some pixels are skin-coloured, not only white background.
  assert np.mean(np.all(image[..., :3] < 0.9, axis=-1)) > 0.02
  mesh = trimesh.load(paths["obj"], process=False)
  model = lgd_jax.load_body_model()
  assert mesh.vertices.shape == (model.num_vertices, 3)
  posed = lgd_jax.smpl_forward(model, demo.demo_pose(), np.zeros(10))
  np.testing.assert_allclose(mesh.vertices, posed.vertices, atol=1e-5)
  # The left wrist is raised above the head in the demo pose.
  names = lgd_jax.SMPL_JOINT_NAMES
  joints = np.asarray(posed.joints)
  assert joints[names.index("left_wrist"), 1] > joints[names.index("head"), 1]
  assert not list(tmp_path.glob(".*partial*"))


def test_write_mesh_rejects_bad_meshes(tmp_path):
  with pytest.raises(ValueError, match="faces must be"):
    mesh_io.write_mesh(tmp_path / "bad.obj", np.zeros((3, 3)),
                       np.array([[0, 1, 7]]))
  with pytest.raises(ValueError, match="NaN"):
    mesh_io.write_mesh(tmp_path / "bad.obj", np.full((3, 3), np.nan),
                       np.array([[0, 1, 2]]))
  assert list(tmp_path.iterdir()) == []


def test_write_mesh_is_atomic(tmp_path, monkeypatch):
  target = tmp_path / "mesh.ply"
  mesh_io.write_mesh(target, np.eye(3), np.array([[0, 1, 2]]))
  before = target.read_bytes()

  def crash_midway(self, file_obj, file_type):
    with open(file_obj, "wb") as f:
      f.write(b"partial")
    raise KeyboardInterrupt

  monkeypatch.setattr(trimesh.Trimesh, "export", crash_midway)
  with pytest.raises(KeyboardInterrupt):
    mesh_io.write_mesh(target, np.eye(3) * 2, np.array([[0, 1, 2]]))
  assert target.read_bytes() == before  # the old file is intact
  assert [p.name for p in tmp_path.iterdir()] == ["mesh.ply"]


def test_demo_and_cli_import_together():
  """Flags are defined when a command runs, not at import: both modules
  (each with an --output) import into one process."""
  from lgd_jax.tool import cli  # pylint: disable=g-import-not-at-top
  assert cli.main and demo.main


def test_demo_command_hides_backend_probing(tmp_path):
  """`python -m lgd_jax.tool.demo` prints what it wrote, not JAX's INFO
  logs ("Unable to initialize backend 'tpu'")."""
  env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
  env.pop("JAX_PLATFORMS", None)  # the probing happens without it
  run = subprocess.run([sys.executable, "-m", "lgd_jax.tool.demo",
                        "--output", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=1800,
                       check=False)
  assert run.returncode == 0, run.stderr
  assert "Unable to initialize backend" not in run.stderr
  assert "wrote png" in run.stdout
