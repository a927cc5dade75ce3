"""Tests of the body model: loaders, forward pass, fast keypoint path."""

import dataclasses
import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lgd_jax
from lgd_jax.body import io as body_io
from lgd_jax.body.model import SMPL_PARENTS
from lgd_jax.body.synthetic import random_smpl_arrays
from lgd_jax.body import rotations
from smpl_files import write_official_pickle

TOL_M = 1e-5  # float32 agreement asked of every forward path, metres


def random_inputs(n, num_betas=10, seed=0, pose_scale=0.6):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, 72)).astype(np.float32) * pose_scale,
          rng.normal(size=(n, num_betas)).astype(np.float32))


def hand_parents(num_joints):
  """Kinematic tree of SMPL-H (52 joints) or SMPL-X (55 joints)."""
  parents = list(SMPL_PARENTS[:22])
  if num_joints == 55:
    parents += [15, 15, 15]  # jaw, eyes
  for wrist in (20, 21):
    for _ in range(5):  # index, middle, pinky, ring, thumb; 3 joints each
      first = len(parents)
      parents += [wrist, first, first + 1]
  return tuple(parents)


def reference_lbs(arrays, full_pose, betas):
  """Plain NumPy SMPL-family LBS over all joints of `arrays` (float64), a
  second implementation to check the library against."""
  parents = arrays["kintree_table"][0].astype(np.int64)
  num_joints = len(parents)
  v = arrays["v_template"] + arrays["shapedirs"][..., :len(betas)] @ betas
  rest = arrays["J_regressor"] @ v
  rots = Rotation.from_rotvec(full_pose.reshape(num_joints, 3)).as_matrix()
  feats = (rots[1:] - np.eye(3)).reshape(-1)
  v = v + arrays["posedirs"] @ feats
  world = np.zeros((num_joints, 4, 4))
  for k in range(num_joints):
    local = np.eye(4)
    local[:3, :3] = rots[k]
    local[:3, 3] = rest[k] - (rest[parents[k]] if k else 0)
    world[k] = local if k == 0 else world[parents[k]] @ local
  skin = world.copy()
  skin[:, :3, 3] -= np.einsum("kij,kj->ki", world[:, :3, :3], rest)
  blended = np.einsum("vk,kij->vij", arrays["weights"], skin)
  return (np.einsum("vij,vj->vi", blended[:, :3, :3], v) + blended[:, :3, 3],
          world[:, :3, 3])


@pytest.fixture(scope="module")
def bundled():
  return lgd_jax.load_body_model()


@pytest.fixture(scope="module")
def smpl_file(tmp_path_factory):
  """A random SMPL-layout model with non-zero posedirs, official pkl."""
  arrays = random_smpl_arrays(num_vertices=400, seed=3)
  path = tmp_path_factory.mktemp("smpl") / "basicmodel_neutral_lbs_10_207_0.pkl"
  write_official_pickle(path, arrays)
  return path, arrays


# --- Rotations --------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-7, 1e-3, 0.5, 3.0])
def test_axis_angle_matches_scipy(scale):
  rotvec = np.random.default_rng(0).normal(size=(64, 3)) * scale
  got = np.asarray(rotations.axis_angle_to_matrix(jnp.asarray(rotvec, jnp.float32)))
  np.testing.assert_allclose(got, Rotation.from_rotvec(rotvec).as_matrix(),
                             atol=2e-6)


def test_axis_angle_gradient_at_zero_is_the_cross_product_matrix():
  # d(R v)/d(rotvec) at rotvec = 0 is -[v]_x; LGD starts every fit there.
  v = jnp.array([0.3, -1.2, 0.7])
  jac = jax.jacobian(lambda r: rotations.axis_angle_to_matrix(r) @ v)(jnp.zeros(3))
  expected = -np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
  np.testing.assert_allclose(jac, expected, atol=1e-6)


# --- Loaders ------------------------------------------------------------------


def test_official_pickle_loads_exactly(smpl_file):
  path, arrays = smpl_file
  model = lgd_jax.load_body_model(path)
  np.testing.assert_allclose(model.v_template, arrays["v_template"], atol=1e-6)
  np.testing.assert_allclose(model.J_regressor, arrays["J_regressor"],
                             atol=1e-7)
  np.testing.assert_allclose(model.posedirs, arrays["posedirs"], atol=1e-7)
  np.testing.assert_array_equal(model.faces, arrays["f"])
  assert model.parents == SMPL_PARENTS
  chex.assert_shape(model.shapedirs, (400, 3, 10))


def test_npz_and_folder_lookup_by_gender(smpl_file, tmp_path):
  _, arrays = smpl_file
  np.savez(tmp_path / "SMPL_FEMALE.npz", **arrays)
  other = dict(arrays, v_template=arrays["v_template"] + 1.0)
  np.savez(tmp_path / "SMPL_MALE.npz", **other)
  female = lgd_jax.load_body_model(tmp_path, gender="female")
  male = lgd_jax.load_body_model(tmp_path, gender="male")
  np.testing.assert_allclose(female.v_template, arrays["v_template"],
                             atol=1e-6)
  np.testing.assert_allclose(male.v_template, other["v_template"], atol=1e-6)
  with pytest.raises(body_io.BodyModelFileError, match="no neutral body"):
    lgd_jax.load_body_model(tmp_path, gender="neutral")


def test_num_betas_truncates(smpl_file):
  model = lgd_jax.load_body_model(smpl_file[0], num_betas=4)
  np.testing.assert_allclose(model.shapedirs,
                             smpl_file[1]["shapedirs"][..., :4], atol=1e-7)


@pytest.mark.parametrize("num_joints", [52, 55])
def test_smplh_smplx_npz_reduce_to_body_joints(num_joints, tmp_path):
  arrays = random_smpl_arrays(num_vertices=500, num_joints=num_joints,
                              parents=hand_parents(num_joints), seed=7,
                              num_betas=16)
  arrays["kintree_table"][0, 0] = -1
  path = tmp_path / "SMPLX_NEUTRAL.npz"
  np.savez(path, **arrays, joint2num=np.array([{"a": 1}], dtype=object))
  model = lgd_jax.load_body_model(path)
  chex.assert_shape(model.weights, (500, 24))
  chex.assert_shape(model.posedirs, (500, 3, 207))
  pose, betas = random_inputs(3, seed=1)
  pose[:, 66:] = 0  # SMPL's hand joints: flat hands, as in the source model
  out = lgd_jax.smpl_forward(model, pose, betas)
  for i in range(3):
    full = np.zeros(num_joints * 3)
    full[:66] = pose[i, :66]
    vertices, _ = reference_lbs(arrays, full, betas[i])
    np.testing.assert_allclose(out.vertices[i], vertices, atol=TOL_M)


def _bad_arrays(change):
  arrays = random_smpl_arrays(num_vertices=50)
  change(arrays)
  return arrays


@pytest.mark.parametrize("change,message", [
    (lambda a: a.pop("weights"), "missing key 'weights'"),
    (lambda a: a.update(v_template=a["v_template"][:, :2]),
     r"v_template must be \(V, 3\)"),
    (lambda a: a.update(J_regressor=a["J_regressor"][:, :10]),
     "J_regressor must be"),
    (lambda a: a.update(posedirs=a["posedirs"][..., :200]),
     "posedirs must be"),
    (lambda a: a.update(weights=a["weights"] * 2), "do not sum to one"),
    (lambda a: a["shapedirs"].__setitem__((0, 0, 0), np.nan),
     "shapedirs contains NaN"),
    (lambda a: a["kintree_table"].__setitem__((0, 5), 0),
     "not SMPL's joint hierarchy"),
    (lambda a: a.update(f=a["f"].astype(np.float32)), "faces must be integer"),
    (lambda a: a.update(weights=np.ones((50, 30)) / 30),
     "30 joints: expected 24"),
])
def test_bad_npz_files_name_file_and_problem(tmp_path, change, message):
  path = tmp_path / "broken.npz"
  np.savez(path, **_bad_arrays(change))
  with pytest.raises(body_io.BodyModelFileError, match=message) as err:
    lgd_jax.load_body_model(path)
  assert str(path) in str(err.value)


def test_bad_pickles_and_requests(smpl_file, tmp_path):
  path, _ = smpl_file
  truncated = tmp_path / "truncated.pkl"
  truncated.write_bytes(path.read_bytes()[:5000])
  with pytest.raises(body_io.BodyModelFileError, match="truncated.pkl"):
    lgd_jax.load_body_model(truncated)
  evil = tmp_path / "evil.pkl"

  class Evil:

    def __reduce__(self):
      return (print, ("this must not run",))

  evil.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
  with pytest.raises(body_io.BodyModelFileError, match="refusing to load"):
    lgd_jax.load_body_model(evil)
  not_a_dict = tmp_path / "list.pkl"
  not_a_dict.write_bytes(pickle.dumps([1, 2], protocol=2))
  with pytest.raises(body_io.BodyModelFileError, match="expected a dict"):
    lgd_jax.load_body_model(not_a_dict)
  with pytest.raises(body_io.BodyModelFileError, match="no such file"):
    lgd_jax.load_body_model(tmp_path / "missing.pkl")
  with pytest.raises(body_io.BodyModelFileError, match="expected a .pkl"):
    (tmp_path / "model.obj").write_text("v 0 0 0")
    lgd_jax.load_body_model(tmp_path / "model.obj")
  with pytest.raises(body_io.BodyModelFileError, match="only 10 shape"):
    lgd_jax.load_body_model(path, num_betas=11)
  with pytest.raises(ValueError, match="gender must be one of"):
    lgd_jax.load_body_model(path, gender="other")
  with pytest.raises(ValueError, match="bundled body model is gender-neutral"):
    lgd_jax.load_body_model(gender="male")


# --- The bundled model ------------------------------------------------------


def test_bundled_model_is_smpl_layout_t_pose(bundled):
  chex.assert_shape(bundled.J_regressor, (24, bundled.num_vertices))
  assert bundled.posedirs is None and bundled.num_betas == 10
  assert len(bundled.keypoint_names) == bundled.keypoint_regressor.shape[0]
  joints = dict(zip(bundled.joint_names, np.asarray(bundled.joint_template)))
  keypoints = dict(zip(bundled.keypoint_names,
                       np.asarray(bundled.keypoint_regressor @
                                  bundled.v_template)))
  for side, sign in (("left", 1), ("right", -1)):  # the person's left is +x
    for part in ("hip", "shoulder", "wrist", "ankle"):
      assert sign * joints[f"{side}_{part}"][0] > 0.05, (side, part)
    # T-pose: arms horizontal, wrists at shoulder height.
    arm = joints[f"{side}_wrist"] - joints[f"{side}_shoulder"]
    assert abs(np.degrees(np.arctan2(arm[1], abs(arm[0])))) < 10
  assert joints["head"][1] > joints["neck"][1] > joints["pelvis"][1]
  assert keypoints["nose"][2] > joints["head"][2]  # facing +z
  height = np.ptp(np.asarray(bundled.v_template)[:, 1])
  assert 1.55 < height < 1.85, height


# --- Forward pass -----------------------------------------------------------


def _body_models_reference(path):
  from body_models.smpl.numpy import SMPL  # pylint: disable=g-import-not-at-top
  return SMPL(model_path=path)


def test_forward_matches_body_models_package(smpl_file, bundled, tmp_path):
  # The bundled model, written in the SMPL .npz layout for the reference.
  bundled_npz = tmp_path / "bundled_as_smpl.npz"
  np.savez(bundled_npz, v_template=bundled.v_template, f=bundled.faces,
           shapedirs=bundled.shapedirs, J_regressor=bundled.J_regressor,
           weights=bundled.weights,
           posedirs=np.zeros((bundled.num_vertices, 3, 207), np.float32),
           kintree_table=np.stack([SMPL_PARENTS, np.arange(24)]))
  pose, betas = random_inputs(100, seed=11)
  for path, model in ((smpl_file[0], lgd_jax.load_body_model(smpl_file[0])),
                      (bundled_npz, bundled)):
    reference = _body_models_reference(path)
    body_pose = pose[:, 3:].reshape(100, 23, 3)
    vertices = reference.forward_vertices(body_pose, pelvis_rotation=pose[:, :3],
                                          shape=betas)
    joints = reference.forward_skeleton(body_pose, pelvis_rotation=pose[:, :3],
                                        shape=betas)[..., :3, 3]
    out = jax.jit(lgd_jax.smpl_forward)(model, pose, betas)
    np.testing.assert_allclose(out.vertices, vertices, atol=TOL_M)
    np.testing.assert_allclose(out.joints, joints, atol=TOL_M)


def test_forward_matches_numpy_reference_with_posedirs(smpl_file):
  path, arrays = smpl_file
  model = lgd_jax.load_body_model(path)
  pose, betas = random_inputs(5, seed=2)
  out = lgd_jax.smpl_forward(model, pose, betas)
  for i in range(5):
    vertices, joints = reference_lbs(arrays, pose[i], betas[i])
    np.testing.assert_allclose(out.vertices[i], vertices, atol=TOL_M)
    np.testing.assert_allclose(out.joints[i], joints, atol=TOL_M)


def test_batching_broadcasting_vmap_and_jit(smpl_file):
  model = lgd_jax.load_body_model(smpl_file[0])
  pose, betas = random_inputs(6, seed=4)
  grid = lgd_jax.smpl_forward(model, pose.reshape(2, 3, 72), betas[0])
  chex.assert_shape(grid.vertices, (2, 3, 400, 3))
  chex.assert_shape(grid.joints, (2, 3, 24, 3))
  single = [lgd_jax.smpl_forward(model, pose[i], betas[0]) for i in range(6)]
  np.testing.assert_allclose(grid.vertices.reshape(6, 400, 3),
                             np.stack([s.vertices for s in single]),
                             atol=1e-6)
  mapped = jax.vmap(lgd_jax.smpl_forward, in_axes=(None, 0, 0))(model, pose,
                                                               betas)
  jitted = jax.jit(lgd_jax.smpl_forward)(model, pose, betas)
  eager = lgd_jax.smpl_forward(model, pose, betas)
  chex.assert_trees_all_close(mapped, eager, atol=1e-6)
  chex.assert_trees_all_close(jitted, eager, atol=1e-6)


@pytest.mark.parametrize("pose_shape,betas_shape,message", [
    ((69,), (10,), r"pose must have shape \(\.\.\., 72\)"),
    ((72,), (11,), r"betas must have shape \(\.\.\., 10\)"),
    ((3, 72), (2, 10), "do not broadcast"),
])
def test_bad_input_shapes(smpl_file, pose_shape, betas_shape, message):
  model = lgd_jax.load_body_model(smpl_file[0])
  with pytest.raises(ValueError, match=message):
    lgd_jax.smpl_forward(model, jnp.zeros(pose_shape), jnp.zeros(betas_shape))


def test_gradients_match_finite_differences(smpl_file):
  model = lgd_jax.load_body_model(smpl_file[0])
  pose, betas = random_inputs(1, seed=5, pose_scale=0.4)
  target = np.random.default_rng(0).normal(size=(400, 3)).astype(np.float32)

  def loss(pose, betas):
    return jnp.sum(
        (lgd_jax.smpl_forward(model, pose, betas).vertices - target)**2)

  for point in (pose[0], np.zeros(72, np.float32)):  # includes pose = 0
    grad_pose, grad_betas = jax.grad(loss, argnums=(0, 1))(point, betas[0])
    rng = np.random.default_rng(1)
    for grad, arg in ((grad_pose, 0), (grad_betas, 1)):
      direction = rng.normal(size=grad.shape).astype(np.float32)
      args = [point, betas[0]]
      eps = 1e-2
      plus, minus = list(args), list(args)
      plus[arg] = args[arg] + eps * direction
      minus[arg] = args[arg] - eps * direction
      numeric = (loss(*plus) - loss(*minus)) / (2 * eps)
      np.testing.assert_allclose(np.dot(grad, direction), numeric, rtol=2e-2)


# --- The fast keypoint path -------------------------------------------------


# Both forms of the path (bones gathered, or picked by a one-hot
# contraction) against the vertex path.
BONE_FORMS = pytest.mark.parametrize("one_hot", [False, True])


@BONE_FORMS
def test_keypoint_path_equals_vertex_path_with_posedirs(smpl_file, one_hot):
  model = lgd_jax.load_body_model(smpl_file[0])
  assert model.posedirs is not None
  regressor = dataclasses.replace(
      lgd_jax.make_keypoint_regressor(model, model.J_regressor),
      one_hot=one_hot)
  pose, betas = random_inputs(200, seed=6, pose_scale=1.0)
  fast = jax.jit(lgd_jax.regress_keypoints)(model, regressor, pose, betas)
  vertices = lgd_jax.smpl_forward(model, pose, betas).vertices
  slow = jnp.einsum("jv,nvc->njc", model.J_regressor, vertices)
  np.testing.assert_allclose(fast, slow, atol=TOL_M)


@BONE_FORMS
def test_keypoint_path_on_bundled_surface_keypoints(bundled, one_hot):
  regressor_matrix = jnp.concatenate(
      [bundled.J_regressor, bundled.keypoint_regressor])
  regressor = dataclasses.replace(
      lgd_jax.make_keypoint_regressor(bundled, regressor_matrix),
      one_hot=one_hot)
  # Far fewer bones per keypoint than 24 is what makes the path fast.
  assert regressor.bones.shape[1] < 12
  pose, betas = random_inputs(100, seed=8)
  fast = lgd_jax.regress_keypoints(bundled, regressor, pose.reshape(4, 25, 72),
                                   betas.reshape(4, 25, 10))
  chex.assert_shape(fast, (4, 25, regressor_matrix.shape[0], 3))
  vertices = lgd_jax.smpl_forward(bundled, pose, betas).vertices
  slow = jnp.einsum("jv,nvc->njc", regressor_matrix, vertices)
  np.testing.assert_allclose(fast.reshape(slow.shape), slow, atol=TOL_M)


@BONE_FORMS
def test_keypoint_path_gradients_equal_vertex_path(smpl_file, one_hot):
  model = lgd_jax.load_body_model(smpl_file[0])
  regressor = dataclasses.replace(
      lgd_jax.make_keypoint_regressor(model, model.J_regressor),
      one_hot=one_hot)
  pose, betas = random_inputs(3, seed=9)
  target = np.random.default_rng(2).normal(size=(3, 24, 2)).astype(np.float32)

  def loss_fast(pose, betas):
    x = lgd_jax.regress_keypoints(model, regressor, pose, betas)
    return jnp.sum((x[..., :2] - target)**2)

  def loss_slow(pose, betas):
    v = lgd_jax.smpl_forward(model, pose, betas).vertices
    x = jnp.einsum("jv,nvc->njc", model.J_regressor, v)
    return jnp.sum((x[..., :2] - target)**2)

  fast = jax.grad(loss_fast, argnums=(0, 1))(pose, betas)
  slow = jax.grad(loss_slow, argnums=(0, 1))(pose, betas)
  chex.assert_trees_all_close(fast, slow, atol=1e-4, rtol=1e-4)
  chex.assert_tree_all_finite(fast)


def test_keypoint_regressor_rejects_wrong_vertex_count(smpl_file):
  model = lgd_jax.load_body_model(smpl_file[0])
  with pytest.raises(ValueError, match=r"regressor must have shape \(K, 400\)"):
    lgd_jax.make_keypoint_regressor(model, np.ones((5, 399)))


@pytest.mark.parametrize("angle_scale", [0.0, 1e-4, 1.0, np.pi - 1e-3, np.pi])
def test_matrix_to_axis_angle_inverts_rodrigues(angle_scale):
  rng = np.random.default_rng(3)
  axes = rng.normal(size=(200, 3))
  axes /= np.linalg.norm(axes, axis=1, keepdims=True)
  rotvec = axes * angle_scale * rng.uniform(0.5, 1.0, (200, 1)) if (
      angle_scale not in (0.0, np.pi)) else axes * angle_scale
  matrix = Rotation.from_rotvec(rotvec).as_matrix().astype(np.float32)
  got = np.asarray(rotations.matrix_to_axis_angle(jnp.asarray(matrix)))
  # Same rotation (at pi, v and -v are both right), angle within [0, pi].
  np.testing.assert_allclose(Rotation.from_rotvec(got).as_matrix(), matrix,
                             atol=2e-5)
  assert np.all(np.linalg.norm(got, axis=1) <= np.pi + 1e-5)
