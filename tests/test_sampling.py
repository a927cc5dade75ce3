"""On-device training batches."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import lgd_jax
import lgd_jax.body.rotations
import lgd_jax.cameras
import lgd_jax.theta
from lgd_jax.body import lbs
from lgd_jax.body.model import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax import formats as kp
from lgd_jax import unroll as optimizer
from lgd_jax.body.cache import body_of
from lgd_jax.training import sampling
from configs import default


@pytest.fixture(scope="module")
def setup():
  poses = jnp.asarray(load_pose_set("val").poses[:500])
  return body_of(lgd_jax.load_body_model()), poses


def _config(**changes):
  config = default.get_config().data
  config.batch_size = 256
  config.update(changes)
  return config


def test_batch_shapes_and_determinism_under_jit(setup):
  body, poses = setup
  sample = jax.jit(lambda key: sampling.sample_batch(key, poses, body, _config()))
  batch = sample(jax.random.PRNGKey(0))
  chex.assert_shape(batch.keypoints, (256, kp.NUM_CANONICAL, 2))
  chex.assert_shape(batch.confidence, (256, kp.NUM_CANONICAL))
  chex.assert_shape((batch.pose, batch.betas, batch.camera),
                    [(256, 72), (256, 10), (256, 3)])
  chex.assert_tree_all_finite(batch)
  chex.assert_trees_all_equal(batch, sample(jax.random.PRNGKey(0)))
  assert not np.array_equal(batch.keypoints,
                            sample(jax.random.PRNGKey(1)).keypoints)
  # Visible points span [-1, 1] along the longer side of their box.
  visible = np.asarray(batch.confidence) > 0
  xy = np.asarray(batch.keypoints)
  extent = [np.ptp(xy[i][visible[i]], axis=0).max() for i in range(256)
            if visible[i].sum() >= 2]
  np.testing.assert_allclose(extent, 2.0, atol=1e-4)
  assert np.all(np.abs(np.asarray(batch.betas)) <= 2.5)


def test_dropout_follows_the_format_masks(setup):
  body, poses = setup
  config = _config(formats=("coco17",), format_weights=(1,), keep_prob=0.8,
                   batch_size=2048)
  batch = sampling.sample_batch(jax.random.PRNGKey(2), poses, body, config)
  visible = np.asarray(batch.confidence) > 0
  coco = kp.get_format("coco17").canonical_index
  outside = np.setdiff1d(np.arange(kp.NUM_CANONICAL), coco)
  assert not visible[:, outside].any()
  assert visible[:, coco].mean() == pytest.approx(0.8, abs=0.01)


def test_occlusion_hides_one_whole_limb(setup):
  body, poses = setup
  key = jax.random.PRNGKey(3)
  config = _config(formats=("openpose25",), format_weights=(1,),
                   keep_prob=1.0)
  full = sampling.sample_batch(key, poses, body, config)
  config.occlude_prob = 0.5
  occluded = sampling.sample_batch(key, poses, body, config)
  # Only the occlusion differs: the same people and views.
  # (The camera is fitted to the visible points, so it may differ.)
  chex.assert_trees_all_equal((occluded.pose, occluded.betas),
                              (full.pose, full.betas))
  # Configs saved before the field existed sample what occlude_prob = 0 does.
  del config.occlude_prob
  chex.assert_trees_all_equal(
      sampling.sample_batch(key, poses, body, config), full)
  hidden = (np.asarray(full.confidence) > 0) & ~(
      np.asarray(occluded.confidence) > 0)
  openpose = set(kp.get_format("openpose25").canonical_index)
  limbs = [set(points) & openpose for points in kp.LIMB_CHAINS.values()]
  assert all(limbs)
  people = np.flatnonzero(hidden.any(-1))
  assert len(people) / len(hidden) == pytest.approx(0.5, abs=0.08)
  for i in people:
    assert set(np.flatnonzero(hidden[i])) in limbs


@pytest.mark.parametrize("perspective_prob", [0.0, 1.0])
def test_ground_truth_explains_the_clean_keypoints(setup, perspective_prob):
  body, poses = setup
  config = _config(noise=(0.0, 0.0), perspective_prob=perspective_prob,
                   keep_prob=1.0)
  batch = sampling.sample_batch(jax.random.PRNGKey(3), poses, body, config)
  theta = jnp.concatenate([batch.pose, batch.betas, batch.camera], -1)
  loss = optimizer.inner_loss(theta, body, batch.keypoints,
                              batch.confidence)
  # Weak perspective reproduces itself. Perspective views (2-12 m, up to
  # 17 degrees off-axis) differ from their best weak-perspective fit: body
  # depth ±0.25 m at 2 m is ±12% of scale, ~0.1 box units per point.
  if perspective_prob == 0:
    assert float(jnp.max(loss)) < 1e-8
  else:
    assert float(jnp.median(loss)) < 1e-2 and float(jnp.max(loss)) < 5e-2
  start = optimizer.inner_loss(jnp.zeros_like(theta), body,
                               batch.keypoints, batch.confidence)
  assert float(jnp.median(start)) > 20 * float(jnp.median(loss)) + 1e-3


def test_noise_is_a_fraction_of_the_person_height(setup):
  body, poses = setup
  key = jax.random.PRNGKey(4)
  base = dict(formats=("smpl24",), format_weights=(1,), keep_prob=1.0,
              perspective_prob=0.0)
  clean = sampling.sample_batch(key, poses, body,
                                _config(noise=(0.0, 0.0), **base))
  noisy = sampling.sample_batch(key, poses, body,
                                _config(noise=(0.05, 0.05), **base))
  # In box units (height ~ 2), a 5% noise moves points by ~0.1 on average.
  shift = np.linalg.norm(np.asarray(noisy.keypoints - clean.keypoints),
                         axis=-1)[np.asarray(clean.confidence) > 0]
  assert 0.05 < shift.mean() < 0.25


# The new options, at what turns them off.
_OFF = dict(pitch_range_deg=None, roll_range_deg=None, truncate_prob=0.0,
            detector=False, swap_prob=0.0, mirror_prob=0.0, mix_prob=0.0,
            body_tilt_prob=0.0, body_tilt_deg=90.0, bent_legs_prob=0.0,
            bent_legs_uneven_prob=0.0, bent_spine_prob=0.0)
_COCO_CLEAN = dict(formats=("coco17",), format_weights=(1,), keep_prob=1.0,
                   noise=(0.0, 0.0), perspective_prob=0.0)


def _without_and_with(setup, seed, batch_size, **option):
  """Clean COCO-17 batches of one key without and with `option`, and the
  config with it."""
  body, poses = setup
  key = jax.random.PRNGKey(seed)
  config = _config(**_COCO_CLEAN, batch_size=batch_size)
  without = sampling.sample_batch(key, poses, body, config)
  config.update(option)
  return without, sampling.sample_batch(key, poses, body, config), config


def test_options_off_sample_what_configs_without_them_do(setup):
  body, poses = setup
  key = jax.random.PRNGKey(5)
  config = _config(**_OFF)
  batch = sampling.sample_batch(key, poses, body, config)
  # Weight files saved before the fields existed hold configs without them.
  for name in _OFF:
    del config[name]
  chex.assert_trees_all_equal(
      sampling.sample_batch(key, poses, body, config), batch)


def test_every_option_on_is_deterministic_under_jit(setup):
  body, poses = setup
  config = ml_collections.FrozenConfigDict(_config(
      pitch_range_deg=(-20.0, 60.0), roll_range_deg=(-10.0, 10.0),
      truncate_prob=0.5, detector=True, swap_prob=0.2, mirror_prob=0.5,
      mix_prob=0.5, occlude_prob=0.2, body_tilt_prob=0.3,
      bent_legs_prob=0.3, bent_legs_uneven_prob=0.5, bent_spine_prob=0.3))
  sample = jax.jit(lambda key: sampling.sample_batch(key, poses, body,
                                                     config))
  batch = sample(jax.random.PRNGKey(6))
  chex.assert_tree_all_finite(batch)
  chex.assert_trees_all_equal(batch, sample(jax.random.PRNGKey(6)))
  assert set(np.unique(np.asarray(batch.confidence))) <= {0.0, 1.0}


def _standing_people():
  """A pose set of one person standing upright, facing +z: the batch's
  global orientation is then the view itself."""
  return jnp.zeros((1, 72))


def test_elevated_views_tilt_uniformly_within_the_range(setup):
  body, _ = setup
  config = _config(pitch_range_deg=(-20.0, 60.0),
                   roll_range_deg=(-10.0, 10.0), batch_size=2048)
  batch = sampling.sample_batch(jax.random.PRNGKey(7), _standing_people(),
                                body, config)
  view = np.asarray(lgd_jax.body.rotations.axis_angle_to_matrix(
      batch.pose[:, :3]))
  # view = R_x(pitch) R_z(roll) R_y(yaw) takes up (0, 1, 0) to
  # (-sin roll, cos roll cos pitch, cos roll sin pitch).
  up = view[:, :, 1]
  pitch = np.rad2deg(np.arctan2(up[:, 2], up[:, 1]))
  roll = np.rad2deg(np.arcsin(-up[:, 0]))
  assert pitch.min() >= -20.0 - 1e-3 and pitch.max() <= 60.0 + 1e-3
  assert roll.min() >= -10.0 - 1e-3 and roll.max() <= 10.0 + 1e-3
  assert pitch.min() < -18 and pitch.max() > 58
  assert np.mean(pitch) == pytest.approx(20.0, abs=1.5)


def test_elevated_views_for_a_share_of_the_people(setup):
  body, _ = setup
  key = jax.random.PRNGKey(8)
  ranged = dict(pitch_range_deg=(-20.0, 60.0), roll_range_deg=(-10.0, 10.0),
                batch_size=4096)
  sample = lambda **kw: sampling.sample_batch(
      key, _standing_people(), body, _config(**ranged, **kw))
  chex.assert_trees_all_equal(sample(tilt_range_prob=1.0), sample())
  up = np.asarray(lgd_jax.body.rotations.axis_angle_to_matrix(
      sample(tilt_range_prob=0.3).pose[:, :3]))[:, :, 1]
  pitch = np.rad2deg(np.arctan2(up[:, 2], up[:, 1]))
  # Gaussian tilts (σ = 10°) almost never pass 35°; uniform ones in
  # (-20°, 60°) do a 25/80 share of the time.
  assert np.mean(pitch > 35.0) == pytest.approx(0.3 * 25 / 80, abs=0.02)
  assert np.mean(np.abs(pitch) < 10.0) > 0.5


def test_body_tilt_turns_a_share_of_the_bodies_off_upright(setup):
  """Standing people, a level camera (no pitch or roll): the body's up axis
  in the view is off the vertical by the body tilt alone."""
  body, _ = setup
  config = _config(pitch_deg=0.0, roll_deg=0.0, body_tilt_prob=0.4,
                   body_tilt_deg=90.0, batch_size=4096)
  batch = sampling.sample_batch(jax.random.PRNGKey(9), _standing_people(),
                                body, config)
  up = np.asarray(lgd_jax.body.rotations.axis_angle_to_matrix(
      batch.pose[:, :3]))[:, :, 1]
  off_vertical = np.rad2deg(np.arccos(np.clip(up[:, 1], -1.0, 1.0)))
  assert off_vertical.max() <= 90.0 + 1e-3
  # The untilted 60 % stand upright; the tilted angles are uniform in
  # ±90°, so a third of them are beyond 60°.
  assert np.mean(off_vertical < 1e-3) == pytest.approx(0.6, abs=0.03)
  assert np.mean(off_vertical > 60.0) == pytest.approx(0.4 / 3, abs=0.03)


def test_upright_turn_keeps_the_truth_on_the_keypoints(setup):
  """People lying across the image are turned upright as `fit` turns
  them; the turned truth still reprojects onto the turned points."""
  body, poses = setup
  config = _config(**_COCO_CLEAN, batch_size=512, body_tilt_prob=0.6)
  without = sampling.sample_batch(jax.random.PRNGKey(10), poses, body, config)
  config.upright_beyond_deg = 30.0
  turned = sampling.sample_batch(jax.random.PRNGKey(10), poses, body, config)
  angle = np.rad2deg(np.asarray(optimizer.body_axis_angle(
      without.keypoints, without.confidence)))
  beyond = np.abs(angle) > 30.0
  assert 0.1 < beyond.mean() < 0.9
  after = np.rad2deg(np.asarray(optimizer.body_axis_angle(
      turned.keypoints, turned.confidence)))
  np.testing.assert_allclose(after[beyond], 0.0, atol=1e-3)
  # The others are the batch as sampled without the turn.
  for field in ("keypoints", "pose", "camera"):
    np.testing.assert_array_equal(np.asarray(getattr(turned, field))[~beyond],
                                  np.asarray(getattr(without, field))[~beyond])
  assert not np.allclose(np.asarray(turned.pose)[beyond, :3],
                         np.asarray(without.pose)[beyond, :3], atol=1e-2)
  loss = optimizer.inner_loss(sampling.target_theta(turned), body,
                              turned.keypoints, turned.confidence)
  assert float(jnp.max(loss)) < 1e-8


def test_positive_pitch_looks_down_at_the_person(setup):
  body, _ = setup

  def standing(pitch):
    config = _config(**dict(_COCO_CLEAN, formats=("smpl24",)),
                     pitch_range_deg=(pitch, pitch), roll_range_deg=(0, 0))
    config.perspective_prob, config.distance = 1.0, (2.0, 2.0)
    batch = sampling.sample_batch(jax.random.PRNGKey(8), _standing_people(),
                                  body, config)
    points = lgd_jax.cameras.to_camera_axes(lgd_jax.theta.keypoints(
        sampling.target_theta(batch), body)[0])
    return batch, points

  index = kp.CANONICAL_NAMES.index
  for pitch, head_nearer in ((30.0, True), (-30.0, False)):
    batch, points = standing(pitch)
    # Depth (camera z) of the head against the ankles: a camera above the
    # person is nearer its head.
    depth = np.asarray(points[..., 2])
    ankles = depth[:, [index("left_ankle"), index("right_ankle")]].mean(-1)
    assert np.all((depth[:, index("head")] < ankles) == head_nearer)
    # Upright in the image either way: the head above (lower y) the feet.
    xy = np.asarray(batch.keypoints)
    assert np.all(xy[:, index("head"), 1] < xy[:, index("left_ankle"), 1])
  # So from above, perspective enlarges the shoulders against the hips.

  def shoulders_over_hips(pitch):
    xy = np.asarray(standing(pitch)[0].keypoints)
    width = lambda joint: np.linalg.norm(
        xy[:, index(f"left_{joint}")] - xy[:, index(f"right_{joint}")], axis=-1)
    return np.median(width("shoulder") / width("hip"))

  assert shoulders_over_hips(30.0) > 1.05 * shoulders_over_hips(-30.0)


# Image directions of the frame edges (y down): bottom, top, right, left.
_EDGES = ((0, 1), (0, -1), (1, 0), (-1, 0))


def test_truncation_cuts_beyond_one_image_edge(setup):
  full, truncated, config = _without_and_with(setup, 9, 1024,
                                             truncate_prob=0.5)
  seen, kept = (np.asarray(b.confidence) > 0 for b in (full, truncated))
  assert not np.any(kept & ~seen)
  hidden = seen & ~kept
  people = np.flatnonzero(hidden.any(-1))
  assert len(people) / len(hidden) == pytest.approx(0.5, abs=0.06)
  xy = np.asarray(full.keypoints)
  for i in people:
    # Some edge has every cut point beyond every kept one.
    along = xy[i] @ np.asarray(_EDGES, np.float32).T  # (C, 4)
    assert np.any(along[hidden[i]].min(0) > along[kept[i]].max(0)), i
  index = kp.CANONICAL_NAMES.index
  legs = [index(f"coco_{side}_{joint}") for side in ("left", "right")
          for joint in ("knee", "ankle")]
  assert np.mean(hidden[people][:, legs].all(-1)) > 0.3
  # The frame cuts the clean positions: noise moves no point across it.
  config.noise = (0.02, 0.02)
  body, poses = setup
  chex.assert_trees_all_equal(
      sampling.sample_batch(jax.random.PRNGKey(9), poses, body,
                            config).confidence,
      truncated.confidence)


def test_detector_misses_extremities_and_the_far_side(setup):
  body, poses = setup
  key = jax.random.PRNGKey(10)
  config = _config(**_COCO_CLEAN, batch_size=2048, detector=True)
  batch = sampling.sample_batch(key, poses, body, config)
  visible = np.asarray(batch.confidence) > 0
  rate = lambda *names: visible[:, [kp.CANONICAL_NAMES.index(
      f"coco_{side}_{name}") for name in names
      for side in ("left", "right")]].mean()
  assert rate("wrist", "ankle") < rate("hip", "shoulder") - 0.1
  assert rate("hip", "shoulder") > 0.85
  # The side turned away from the camera is missed more often.
  points = lgd_jax.cameras.to_camera_axes(lgd_jax.theta.keypoints(
      sampling.target_theta(batch), body)[0])
  away = np.asarray(sampling.left_side_away(points))
  left, right = (visible[:, kp.CANONICAL_NAMES.index(f"coco_{side}_wrist")]
                 for side in ("left", "right"))
  assert left[away > 0.7].mean() < right[away > 0.7].mean() - 0.3
  assert right[away < -0.7].mean() < left[away < -0.7].mean() - 0.3
  scores = np.asarray(sampling.detector_scores(key, points))
  assert np.all((scores > 0) & (scores <= 1))
  assert len(np.unique(scores)) > scores.size // 2  # continuous
  # The noise grows towards the extremities.
  config.noise = (0.02, 0.02)
  noisy = sampling.sample_batch(key, poses, body, config)
  shift = np.linalg.norm(np.asarray(noisy.keypoints - batch.keypoints), axis=-1)
  moved = lambda name: np.mean(shift[:, kp.CANONICAL_NAMES.index(name)][
      visible[:, kp.CANONICAL_NAMES.index(name)]])
  assert moved("coco_left_wrist") > 1.3 * moved("coco_left_hip")


def test_swaps_trade_one_limb_pair_at_the_configured_rate(setup):
  full, swapped, _ = _without_and_with(setup, 11, 2048, swap_prob=0.2)
  differs = np.any(np.asarray(swapped.keypoints != full.keypoints), (1, 2))
  assert differs.mean() == pytest.approx(0.2, abs=0.03)
  swaps = sampling._limb_swap_index()  # arms, legs
  for i in np.flatnonzero(differs):
    assert any(
        np.array_equal(swapped.keypoints[i], full.keypoints[i][index]) and
        np.array_equal(swapped.confidence[i], full.confidence[i][index])
        for index in swaps), i


def _symmetric_rest_joints():
  """The bundled model's rest joints made exactly left/right symmetric."""
  joints = np.asarray(lgd_jax.load_body_model().joint_template)
  mirror = [SMPL_JOINT_NAMES.index(kp.mirror(n)) for n in SMPL_JOINT_NAMES]
  return (joints + joints[mirror] * [-1, 1, 1]) / 2, mirror


def test_mirror_pose_mirrors_the_body(setup):
  _, poses = setup
  pose = jnp.concatenate([poses[:50], 0.5 * jax.random.normal(
      jax.random.PRNGKey(12), (50, 72))])
  mirrored = sampling.mirror_pose(pose)
  chex.assert_trees_all_close(sampling.mirror_pose(mirrored), pose)
  rest, mirror = _symmetric_rest_joints()

  def joints(p):
    local = lgd_jax.body.rotations.axis_angle_to_matrix(p.reshape(-1, 24, 3))
    return lbs.forward_kinematics(local, jnp.asarray(rest, jnp.float32),
                                  SMPL_PARENTS).positions

  expected = np.asarray(joints(pose))[:, mirror] * [-1, 1, 1]
  np.testing.assert_allclose(joints(mirrored), expected, atol=1e-5)
  # The bundled model is symmetric to a few millimetres.
  model = lgd_jax.load_body_model()
  betas = jnp.zeros((len(pose), model.num_betas))
  np.testing.assert_allclose(
      lgd_jax.smpl_forward(model, mirrored, betas).joints,
      np.asarray(lgd_jax.smpl_forward(model, pose, betas).joints)[:, mirror] *
      [-1, 1, 1], atol=0.01)


def test_mirror_prob_mirrors_that_share_of_the_poses(setup):
  full, batch, _ = _without_and_with(setup, 13, 1024, mirror_prob=0.3)
  body_pose, full_pose = np.asarray(batch.pose[:, 3:]), np.asarray(
      full.pose[:, 3:])
  flipped = np.asarray(sampling.mirror_pose(full.pose))[:, 3:]
  mirrored = np.all(body_pose == flipped, -1) & ~np.all(
      body_pose == full_pose, -1)
  assert np.all(mirrored | np.all(body_pose == full_pose, -1))
  assert mirrored.mean() == pytest.approx(0.3, abs=0.05)


def _only_these_joints_moved(before, after, joints):
  """Asserts that the two batches' poses differ at most at `joints` (SMPL
  joint names): the global orientation (so the view) and the rest stay.
  Returns the (72,) pose entries of those joints and the (B,) people whose
  entries changed."""
  moved = np.zeros((NUM_JOINTS, 3), bool)
  moved[[SMPL_JOINT_NAMES.index(name) for name in joints]] = True
  moved = moved.reshape(-1)
  np.testing.assert_array_equal(after.pose[:, ~moved], before.pose[:, ~moved])
  return moved, np.any(np.asarray(after.pose[:, moved] !=
                                  before.pose[:, moved]), -1)


def _leg_joints(*joints):
  return [f"{side}_{joint}" for side in ("left", "right") for joint in joints]


def test_mix_takes_the_legs_of_another_pose(setup):
  full, mixed, _ = _without_and_with(setup, 14, 1024, mix_prob=0.5)
  poses = setup[1]
  legs, changed = _only_these_joints_moved(
      full, mixed, _leg_joints("hip", "knee", "ankle", "foot"))
  assert changed.mean() == pytest.approx(0.5, abs=0.06)
  # The new legs are one pose's of the set, whole.
  leg_set = np.asarray(poses)[:, legs]
  for i in np.flatnonzero(changed):
    assert np.any(np.all(leg_set == np.asarray(mixed.pose[i, legs]), -1)), i


def _leg_angles_deg(model, pose):
  """(N, 72) -> per leg (N, 2): the thigh's swing forward from hanging
  straight down and the knee's bend, signed (positive: the shin back), both
  in the pelvis's side view, the knee's angle between thigh and shin in 3D,
  and the knee's sideways offset from the hip (m, positive: outward), from
  the posed joints with the global orientation removed."""
  pose = jnp.asarray(pose).at[:, :3].set(0.0)
  joints = np.asarray(lgd_jax.smpl_forward(
      model, pose, jnp.zeros((len(pose), model.num_betas))).joints)
  index = lambda joint: [SMPL_JOINT_NAMES.index(f"{side}_{joint}")
                         for side in ("left", "right")]
  hip, knee, ankle = (joints[:, index(j)] for j in ("hip", "knee", "ankle"))
  thigh, shin = knee - hip, ankle - knee
  # SMPL faces +z with y up, its left at +x.
  swing = np.degrees(np.arctan2(thigh[..., 2], -thigh[..., 1]))
  side_bend = np.degrees(np.arctan2(
      thigh[..., 1] * shin[..., 2] - thigh[..., 2] * shin[..., 1],
      thigh[..., 1] * shin[..., 1] + thigh[..., 2] * shin[..., 2]))
  cosine = np.sum(thigh * shin, -1) / (np.linalg.norm(thigh, axis=-1) *
                                      np.linalg.norm(shin, axis=-1))
  bend = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
  return swing, side_bend, bend, thigh[..., 0] * np.array([1.0, -1.0])


def test_bent_legs_bend_that_share_at_hip_and_knee(setup):
  full, bent, _ = _without_and_with(setup, 15, 1024, bent_legs_prob=0.5)
  model = setup[0].model
  # The upper body and the toes stay too.
  _, changed = _only_these_joints_moved(full, bent,
                                        _leg_joints("hip", "knee", "ankle"))
  assert changed.mean() == pytest.approx(0.5, abs=0.06)
  # Drawn: each hip's flexion uniform in 0-120° and each knee's in 0-140°,
  # moved by N(0, 15°) per leg, clipped to -10-130° and 0-150°: means about
  # 60° and 70°, on top of the rest pose's own bend; each thigh spread
  # outward by -5-30°.
  rest_swing, _, rest_knee, _ = _leg_angles_deg(model, jnp.zeros((1, 72)))
  swing, side_bend, knee, outward = _leg_angles_deg(model,
                                                    bent.pose[changed])
  assert np.mean(swing > 0) > 0.85
  assert np.mean(swing - rest_swing) == pytest.approx(60.0, abs=6.0)
  assert np.mean(knee - rest_knee) == pytest.approx(70.0, abs=6.0)
  assert knee.max() < 150.0 + rest_knee.max() + 1.0
  assert np.mean(knee - rest_knee > 100.0) > 0.2
  assert np.mean(side_bend > 0) > 0.9  # the shin bends back, not forward
  assert np.mean(outward > 0) > 0.75


def test_uneven_bent_legs_bend_each_leg_its_own_way(setup):
  body, poses = setup
  draw = lambda **option: sampling.sample_batch(
      jax.random.PRNGKey(16), poses, body,
      _config(**_COCO_CLEAN, batch_size=1024, bent_legs_prob=1.0, **option))
  even, uneven = draw(), draw(bent_legs_uneven_prob=0.5)
  # Only the hips' and knees' flexion is drawn anew, for half the people;
  # the other half keep the even draw, person for person.
  _, changed = _only_these_joints_moved(even, uneven,
                                        _leg_joints("hip", "knee"))
  assert changed.mean() == pytest.approx(0.5, abs=0.06)
  model = body.model
  rest_swing, _, rest_knee, _ = _leg_angles_deg(model, jnp.zeros((1, 72)))
  angles = {name: _leg_angles_deg(model, batch.pose[changed])
            for name, batch in (("even", even), ("uneven", uneven))}
  # Even legs differ by the per-leg N(0, 15°) alone. Own bases, drawn as
  # documented (uniform in 0-120° and 0-140°, that Gaussian, the limits),
  # put the two legs more than 45° apart for these shares of the people:
  rng = np.random.default_rng(0)
  drawn = lambda span, limits: np.clip(rng.uniform(*span, (100_000, 2)) +
                                       15.0 * rng.normal(size=(100_000, 2)),
                                       *limits)
  apart = lambda legs: np.mean(np.abs(legs[:, 0] - legs[:, 1]) > 45.0)
  for index, span, limits in ((0, (0.0, 120.0), (-10.0, 130.0)),
                              (2, (0.0, 140.0), (0.0, 150.0))):  # hip, knee
    assert apart(angles["even"][index]) < 0.05
    assert apart(angles["uneven"][index]) == pytest.approx(
        apart(drawn(span, limits)), abs=0.06)
  assert np.mean(angles["uneven"][0] - rest_swing) == pytest.approx(
      60.0, abs=6.0)
  assert np.mean(angles["uneven"][2] - rest_knee) == pytest.approx(
      70.0, abs=6.0)


def test_bent_spine_leans_that_share_forward(setup):
  full, bent, _ = _without_and_with(setup, 17, 1024, bent_spine_prob=0.5)
  spine = [f"spine{i}" for i in (1, 2, 3)]
  _, changed = _only_these_joints_moved(full, bent, spine)
  assert changed.mean() == pytest.approx(0.5, abs=0.06)
  matrices = lambda batch: lgd_jax.body.rotations.axis_angle_to_matrix(
      batch.pose[changed].reshape(-1, NUM_JOINTS, 3)[
          :, [SMPL_JOINT_NAMES.index(name) for name in spine]])
  # Each spine joint turns by the same rotation on top of its own.
  added = np.asarray(matrices(bent) @ jnp.swapaxes(matrices(full), -1, -2))
  np.testing.assert_allclose(added[:, 1:], added[:, :2], atol=1e-4)
  # Drawn: forward -10-90° in all (mean 40°), sideways and twist N(0, 10°).
  whole = added[:, 0] @ added[:, 0] @ added[:, 0]
  up = whole[:, :, 1]  # where the trunk's +y goes; SMPL faces +z
  forward = np.degrees(np.arctan2(up[:, 2], up[:, 1]))
  assert np.mean(forward) == pytest.approx(40.0, abs=4.0)
  assert forward.min() > -10.0 - 5.0 and forward.max() < 90.0 + 5.0
  sideways = np.degrees(np.arcsin(np.clip(up[:, 0], -1.0, 1.0)))
  assert np.std(sideways) == pytest.approx(10.0, abs=2.5)
  # The posed neck moves forward of the pelvis.
  model = setup[0].model
  neck = lambda batch: np.asarray(lgd_jax.smpl_forward(
      model, batch.pose[changed].at[:, :3].set(0.0),
      jnp.zeros((int(changed.sum()), model.num_betas))).joints[
          :, SMPL_JOINT_NAMES.index("neck")])
  assert np.mean(neck(bent)[:, 2] > neck(full)[:, 2]) > 0.8
