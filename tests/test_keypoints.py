"""Keypoint formats, the canonical set and its regressors."""

import jax.numpy as jnp
import numpy as np
import pytest

import lgd_jax
from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax.body import io as body_io
from lgd_jax.body import synthetic


@pytest.fixture(scope="module")
def bundled():
  return lgd_jax.load_body_model()


@pytest.mark.parametrize("name", sorted(kp.FORMATS))
def test_round_trip_is_exact(name):
  fmt = kp.get_format(name)
  rng = np.random.default_rng(0)
  xy = rng.normal(size=(4, 3, fmt.num_keypoints, 2)).astype(np.float32) * 500
  conf = rng.random((4, 3, fmt.num_keypoints)).astype(np.float32)
  canon_xy, canon_conf = kp.to_canonical(xy, conf, name)
  assert canon_xy.shape == (4, 3, kp.NUM_CANONICAL, 2)
  np.testing.assert_array_equal(kp.from_canonical(canon_xy, name), xy)
  np.testing.assert_array_equal(kp.from_canonical(canon_conf[..., None],
                                                  name)[..., 0], conf)
  missing = np.setdiff1d(np.arange(kp.NUM_CANONICAL), fmt.canonical_index)
  assert np.all(canon_conf[..., missing] == 0)
  # The same under JAX.
  jax_xy, _ = kp.to_canonical(jnp.asarray(xy), jnp.asarray(conf), name)
  np.testing.assert_array_equal(jax_xy, canon_xy)


def test_nan_confidence_is_missing_without_spreading():
  conf = np.ones((17,), np.float32)
  conf[2] = np.nan
  _, canon_conf = kp.to_canonical(np.ones((17, 2), np.float32), conf,
                                  "coco17")
  back = kp.from_canonical(canon_conf[..., None], "coco17")[..., 0]
  assert np.all(np.isfinite(canon_conf)) and back[2] == 0 and back.sum() == 16


def test_non_finite_points_become_missing_without_spreading():
  xy = np.ones((2, 17, 2), np.float32)
  xy[0, 3] = np.nan
  xy[1, 4, 0] = np.inf
  canon_xy, canon_conf = kp.to_canonical(xy, np.ones((2, 17), np.float32),
                                         "coco17")
  assert np.all(np.isfinite(canon_xy))
  back = kp.from_canonical(canon_conf[..., None], "coco17")[..., 0]
  assert back[0, 3] == 0 and back[1, 4] == 0 and back.sum() == 2 * 17 - 2


def test_formats_have_the_published_orders():
  assert kp.get_format("coco17").joint_names[5:7] == ("left_shoulder",
                                                      "right_shoulder")
  body25 = kp.get_format("openpose25").joint_names
  assert body25[:2] == ("Nose", "Neck") and body25[8] == "MidHip"
  assert body25[2:5] == ("RShoulder", "RElbow", "RWrist")
  assert body25[19:] == ("LBigToe", "LSmallToe", "LHeel", "RBigToe",
                         "RSmallToe", "RHeel")
  h36m = kp.get_format("h36m17").joint_names
  assert h36m[1:4] == ("right_hip", "right_knee", "right_ankle")
  assert h36m[11] == "left_shoulder" and h36m[14] == "right_shoulder"


def test_definitions_that_differ_stay_different():
  coco = dict(zip(kp.COCO17.joint_names, kp.COCO17.canonical))
  smpl = dict(zip(kp.SMPL24.joint_names, kp.SMPL24.canonical))
  assert coco["left_hip"] != smpl["left_hip"]
  body25 = dict(zip(kp.OPENPOSE25.joint_names, kp.OPENPOSE25.canonical))
  assert body25["Neck"] == "neck_base" != smpl["neck"]
  assert body25["LHip"] == coco["left_hip"]  # OpenPose learnt COCO's hips


def test_flip_pairs_swap_left_and_right():
  for fmt in kp.FORMATS.values():
    for i, j in fmt.flip_pairs:
      assert kp.mirror(fmt.joint_names[i]) == fmt.joint_names[j]
    perm = fmt.flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(fmt.num_keypoints))
  assert len(kp.OPENPOSE25.flip_pairs) == 11 and len(kp.COCO17.flip_pairs) == 8


def test_unknown_format_and_wrong_k():
  with pytest.raises(ValueError, match="unknown keypoint format 'coco'"):
    kp.get_format("coco")
  with pytest.raises(ValueError, match=r"coco17 keypoints must be \(\.\.\., 17, 2\)"):
    kp.to_canonical(np.zeros((2, 25, 2)), np.zeros((2, 25)), "coco17")


def _front_view_u(model, name):
  """Image u of each canonical point of `model` at pose 0, by format."""
  regressor = lgd_jax.make_keypoint_regressor(model,
                                              kp.canonical_regressor(model))
  points = lgd_jax.regress_keypoints(model, regressor, jnp.zeros(72),
                                     jnp.zeros(model.num_betas))
  camera = cameras.WeakPerspective(jnp.array(100.0), jnp.zeros(2))
  image = np.asarray(cameras.project(camera, points))
  return dict(zip(kp.get_format(name).joint_names,
                  kp.from_canonical(image, name)))


@pytest.mark.parametrize("name,right,left", [
    ("h36m17", "right_hip", "left_hip"), ("coco17", "right_shoulder",
                                          "left_shoulder"),
    ("openpose25", "RAnkle", "LAnkle"), ("openpose18", "RWrist", "LWrist"),
    ("mpii16", "right_wrist", "left_wrist"), ("smpl24", "right_knee",
                                              "left_knee"),
    ("crowdpose14", "right_elbow", "left_elbow"),
    ("posetrack17", "right_ear", "left_ear")])
def test_left_right_convention_in_the_image(bundled, name, right, left):
  # A person facing the camera shows their right side on the image's left.
  u = _front_view_u(bundled, name)
  assert u[right][0] < u[left][0]
  assert u[right][1] == pytest.approx(u[left][1], abs=1.0)


def test_canonical_points_on_the_bundled_model(bundled):
  regressor = kp.canonical_regressor(bundled)
  assert regressor.shape == (kp.NUM_CANONICAL, bundled.num_vertices)
  np.testing.assert_allclose(regressor.sum(axis=1), 1.0, atol=1e-5)
  points = dict(zip(kp.CANONICAL_NAMES,
                    regressor @ np.asarray(bundled.v_template)))
  assert points["head_top"][1] > points["nose"][1] > points["neck_base"][1]
  assert points["nose"][2] > points["head"][2]
  # COCO's annotated hips are not SMPL's joint centres.
  assert np.linalg.norm(points["coco_left_hip"] - points["left_hip"]) > 0.01


def test_smpl_files_use_published_vertex_ids():
  arrays = synthetic.random_smpl_arrays(num_vertices=6890, seed=1)
  model = body_io.model_from_arrays(arrays)
  regressor = kp.canonical_regressor(model)
  nose = kp.CANONICAL_NAMES.index("nose")
  assert regressor[nose, 332] == 1.0 and regressor[nose].sum() == 1.0
  coco_knee = kp.CANONICAL_NAMES.index("coco_left_knee")
  knee = kp.CANONICAL_NAMES.index("left_knee")
  np.testing.assert_array_equal(regressor[coco_knee], regressor[knee])


def test_unknown_mesh_without_surface_regressor_is_an_error():
  model = body_io.model_from_arrays(synthetic.random_smpl_arrays(500))
  with pytest.raises(ValueError, match="no surface keypoint regressor"):
    kp.canonical_regressor(model)
