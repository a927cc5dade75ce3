r"""Demo on the bundled defaults: load the body model, pose it, write pictures.

  python -m lgd_jax.tool.demo --output outputs/demo

Writes `body_model.png` (front and left-side views of the rest pose and of a
pose with the LEFT arm raised and the right knee bent, joints coloured red
for left and blue for right) and `posed.obj`.
"""

import functools
import os
from pathlib import Path

from absl import app
from absl import flags
import numpy as np

import lgd_jax
from lgd_jax.tool import console
from lgd_jax.tool import meshes as mesh_io
from lgd_jax.tool import render

# Axis-angle (radians) per SMPL joint for the demo pose. The left arm is
# raised so that left and right can be told apart in the picture.
DEMO_POSE = {
    "left_shoulder": (0.0, 0.0, 1.2),
    "right_shoulder": (0.0, 0.0, 1.1),
    "right_elbow": (0.0, -1.2, 0.0),
    "right_hip": (-0.6, 0.0, 0.0),
    "right_knee": (1.0, 0.0, 0.0),
    "spine2": (0.15, 0.0, 0.0),
    "head": (0.2, 0.3, 0.0),
}


def demo_pose() -> np.ndarray:
  """(72,) axis-angle pose built from `DEMO_POSE`."""
  pose = np.zeros((24, 3), np.float32)
  for name, rotvec in DEMO_POSE.items():
    pose[lgd_jax.SMPL_JOINT_NAMES.index(name)] = rotvec
  return pose.reshape(72)


def run(output: Path, body_model_path=None) -> dict:
  """Poses the model and writes the PNG and the OBJ; returns their paths."""
  model = lgd_jax.load_body_model(body_model_path)
  poses = np.stack([np.zeros(72, np.float32), demo_pose()])
  out = lgd_jax.smpl_forward(model, poses, np.zeros(model.num_betas))
  vertices, joints = np.asarray(out.vertices), np.asarray(out.joints)
  faces = np.asarray(model.faces)
  panels = [
      dict(vertices=vertices[i], faces=faces, view=view, joints=joints[i],
           joint_names=model.joint_names, title=f"{label}, {view}")
      for i, label in enumerate(["rest pose (θ = 0)", "left arm raised"])
      for view in render.VIEWS
  ]
  paths = dict(png=output / "body_model.png", obj=output / "posed.obj")
  render.save_views(paths["png"], panels,
                    title=f"{Path(model.name).name}: {model.num_vertices} "
                    "vertices (red = left joints, blue = right)")
  mesh_io.write_mesh(paths["obj"], vertices[1], faces)
  return paths


def _main(argv, output, body_model):
  del argv
  console.quiet_info_logs()
  for kind, path in run(Path(output.value), body_model.value).items():
    print(f"wrote {kind}: {path}")


def main():
  # Defined here, not at import: lgd_jax.tool.cli has an --output too.
  output = flags.DEFINE_string("output", "outputs/demo", "Output folder.")
  body_model = flags.DEFINE_string(
      "body_model", os.environ.get(lgd_jax.BODY_MODEL_ENV), "Body-model file "
      "or folder; default: the bundled free model (or "
      f"${lgd_jax.BODY_MODEL_ENV} when set).")
  app.run(functools.partial(_main, output=output, body_model=body_model))


if __name__ == "__main__":
  main()
