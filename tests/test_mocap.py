"""Tests of the mocap readers, retargeting, the pose set and AMASS loading."""

import re
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lgd_jax
from lgd_jax.body.model import SMPL_JOINT_NAMES, SMPL_PARENTS
from lgd_jax.body.shapes import sample_betas
from lgd_jax.build import pose_set, retarget
from lgd_jax.build.amass import (AmassFileError, build_pose_set_from_amass,
                                 load_amass)
from lgd_jax.build.asf_amc import read_amc, read_asf
from lgd_jax.build.bvh import read_bvh
from lgd_jax.build.skeleton import MocapFileError, WorldPose
from lgd_jax.training import pose_set as runtime_pose_set
from lgd_jax.training.pose_set import load_pose_set

MOCAP = Path(__file__).parents[1] / ".." / "shared" / "data" / "mocap"
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(),
                                 reason="../shared/data/mocap not present")


@pytest.fixture(scope="module")
def model():
  return lgd_jax.load_body_model()


def _check_plausible(world: WorldPose, feet, hips):
  """Feet near the ground, bones rigid, the left side on the left."""
  # Bones from the root joint place the skeleton; they are not bones.
  child = [j for j, p in enumerate(world.parents) if p > 0]
  assert world.bone_lengths()[:, child].std(0).max() < 1e-4
  lowest = world.positions[:, [world.index(n) for n in feet], 1].min()
  assert -0.03 < lowest < 0.08, lowest
  pos = world.positions
  lateral = pos[:, world.index(hips[1])] - pos[:, world.index(hips[0])]
  toes, ankles = (pos[:, [world.index(n) for n in feet[k::2]]].mean(1)
                  for k in (1, 0))
  # Facing +z with the left at +x means left = up x forward.
  left = np.cross([0.0, 1.0, 0.0], toes - ankles)
  assert np.mean(np.sum(left * lateral, axis=-1) > 0) > 0.95


@needs_mocap
@pytest.mark.parametrize("folder", ["bandai-namco-1", "bandai-namco-2"])
def test_bvh_real_files(folder):
  files = sorted((MOCAP / folder).glob("*.bvh"))
  for path in files[::len(files) // 3][:3]:  # the full set: the build report
    motion = read_bvh(path)
    header = int(re.search(r"Frames:\s*(\d+)", path.read_text()).group(1))
    assert motion.num_frames == header
    assert motion.fps == pytest.approx(30.0, rel=1e-4)
    _check_plausible(motion.forward_kinematics(),
                     ("Foot_L", "Toes_L", "Foot_R", "Toes_R"),
                     ("UpperLeg_R", "UpperLeg_L"))


@needs_mocap
def test_asf_amc_real_files():
  skeleton = read_asf(MOCAP / "cmu" / "02" / "02.asf")
  path = MOCAP / "cmu" / "02" / "02_03.amc"
  motion = read_amc(path, skeleton)
  markers = re.findall(r"^\d+\s*$", path.read_text(), flags=re.M)
  assert motion.num_frames == len(markers) == 173
  world = motion.forward_kinematics()
  _check_plausible(world, ("lfoot", "ltoes", "rfoot", "rtoes"),
                   ("rfemur", "lfemur"))
  # The femur's length is the ASF's, converted from 1/0.45 inch units.
  femur = world.positions[:, world.index("ltibia")] - world.positions[
      :, world.index("lfemur")]
  assert np.linalg.norm(femur, axis=-1) == pytest.approx(
      7.59371 / 0.45 * 0.0254, rel=1e-5)


def _bvh_text(rotations="90 90 0", frames=1, channels=6, values=None):
  lines = [
      "HIERARCHY", "ROOT hips", "{", "  OFFSET 0 0 0",
      f"  CHANNELS {channels} Xposition Yposition Zposition Zrotation "
      "Xrotation Yrotation", "  JOINT chest", "  {", "    OFFSET 0 0 10",
      "    CHANNELS 3 Zrotation Xrotation Yrotation", "    End Site",
      "    {", "      OFFSET 0 20 0", "    }", "  }", "}", "MOTION",
      f"Frames: {frames}", "Frame Time: 0.0333333"]
  return "\n".join(lines + (values or [f"1 2 3 {rotations} 0 0 0"] * frames))


def test_bvh_rotation_order_and_units(tmp_path):
  path = tmp_path / "a.bvh"
  # Zrotation Xrotation Yrotation = 90 90 0 is Rz(90) Rx(90): it takes the
  # child offset +z (10 cm) to +x.
  path.write_text(_bvh_text())
  world = read_bvh(path).forward_kinematics()
  assert world.names == ("hips", "chest", "chest_end")
  np.testing.assert_allclose(world.positions[0, 1], [0.11, 0.02, 0.03],
                             atol=1e-6)
  np.testing.assert_allclose(
      world.rotations[0, 0],
      Rotation.from_euler("ZX", [90, 90], degrees=True).as_matrix(),
      atol=1e-6)


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.rsplit("\n", 1)[0], r"declares 2 frames but the file has 1"),
    (lambda t: t.replace("CHANNELS 6 Xposition", "CHANNELS 5 Xposition"),
     r"line 5: CHANNELS says 5 channels but lists 6"),
    (lambda t: t.replace("1 2 3 90 90 0 0 0 0\n", "1 2 3 90 90 0 0 0\n"),
     r"line 19: frame line has 8 values, the hierarchy declares 9"),
    (lambda t: t.replace("1 2 3 90 90 0 0 0 0\n", "1 2 x 90 90 0 0 0 0\n"),
     r"line 19: frame line has a value that is not a number"),
    (lambda t: t.split("MOTION")[0], r"no MOTION section"),
    (lambda t: t.replace("OFFSET 0 0 10", "OFFSET 0 0"),
     r"line 8: OFFSET needs 3 numbers"),
])
def test_bad_bvh_files(tmp_path, mutate, message):
  path = tmp_path / "bad.bvh"
  path.write_text(mutate(_bvh_text(frames=2)))
  with pytest.raises(MocapFileError, match=f"bad.bvh.*{message}"):
    read_bvh(path)


_ASF = """:version 1.10
:units
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name arm
     direction 1 0 0
     length 1
     axis 0 0 90 XYZ
    dof rx
  end
  begin
     id 2
     name hand
     direction 1 0 0
     length 2
     axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root arm
    arm hand
  end
"""


def test_asf_amc_axis_convention(tmp_path):
  (tmp_path / "s.asf").write_text(_ASF)
  (tmp_path / "s.amc").write_text(
      ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\narm 90\n")
  world = read_amc(tmp_path / "s.amc",
                   read_asf(tmp_path / "s.asf")).forward_kinematics()
  # The dof rx acts about the bone frame's x axis, which `axis 0 0 90` turns
  # onto world y: rotating the arm (+x) by 90 degrees about y gives -z.
  unit = 0.0254 / 0.45
  np.testing.assert_allclose(world.positions[0, world.index("hand")],
                             [0, 0, -unit], atol=1e-6)
  # The hand (no dof) turns with the arm: its 2-unit bone also goes to -z.
  np.testing.assert_allclose(world.positions[0, world.index("hand_end")],
                             [0, 0, -3 * unit], atol=1e-6)


@pytest.mark.parametrize("amc,message", [
    ("1\nroot 0 0 0 0 0 0\nleg 90\n", r"line 3: unknown bone 'leg'"),
    ("1\nroot 0 0 0 0 0 0\narm x\n", r"line 3: arm has a value that is not"),
    ("1\nroot 0 0 0 0 0 0\narm 1 2\n", r"line 3: arm has 2 values, its dof"),
    ("1\nroot 0 0 0 0 0 0\n3\n", r"line 3: frame 3 follows frame 1"),
])
def test_bad_amc_files(tmp_path, amc, message):
  (tmp_path / "s.asf").write_text(_ASF)
  (tmp_path / "bad.amc").write_text(amc)
  with pytest.raises(MocapFileError, match=f"bad.amc.*{message}"):
    read_amc(tmp_path / "bad.amc", read_asf(tmp_path / "s.asf"))


def test_bad_asf_file(tmp_path):
  (tmp_path / "bad.asf").write_text(_ASF.replace("direction 1 0 0",
                                                 "direction 1 zero 0", 1))
  with pytest.raises(MocapFileError, match=r"bad.asf, line 14: direction"):
    read_asf(tmp_path / "bad.asf")


def _plausible_poses(n, seed):
  """SMPL poses with knees and elbows bent the anatomical way and small
  symmetric rotations elsewhere, in +/- pairs so their mean is the rest."""
  rng = np.random.default_rng(seed)
  noise = rng.normal(scale=0.25, size=(n, 24, 3))
  noise = np.concatenate([noise, -noise])
  pose = noise.copy()
  flex = np.tile(rng.uniform(0.4, 1.8, size=(n, 4)), (2, 1))
  pose[:, 4, 0] += flex[:, 0]  # knees: +x
  pose[:, 5, 0] += flex[:, 1]
  pose[:, 18, 1] -= flex[:, 2]  # left elbow: -y, right elbow: +y
  pose[:, 19, 1] += flex[:, 3]
  pose[:, 22:] = 0.0
  return pose.reshape(2 * n, 72)


def test_retarget_round_trip(model):
  """Our own body, posed, seen as a source skeleton whose bones have random
  local axes (as the Bandai-Namco bones do), retargets back to itself."""
  pose = _plausible_poses(400, seed=0)
  rest = np.asarray(model.joint_template, np.float64)
  local = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(
      -1, 24, 3, 3)
  world_rot = np.empty_like(local)
  for j, p in enumerate(SMPL_PARENTS):
    world_rot[:, j] = local[:, j] if p < 0 else world_rot[:, p] @ local[:, j]
  axes = Rotation.random(24, random_state=1).as_matrix()  # source bone axes
  source = WorldPose(SMPL_JOINT_NAMES, SMPL_PARENTS, world_rot @ axes,
                     retarget.posed_joints(model, pose))
  table = retarget.SMPL_LAYOUT
  back = retarget.retarget(table, retarget.calibrate(table, [source], rest),
                           source)
  joints = retarget.posed_joints(model, back)
  assert np.abs(joints - source.positions).max() < 2e-3  # metres
  for cos in retarget.bone_cosines(table, source, joints).values():
    assert cos.min() > 0.9999
  # The twist is recovered too: knee and elbow rotations agree to 2 degrees.
  for j in (4, 5, 18, 19):
    diff = Rotation.from_rotvec(back[:, 3 * j:3 * j + 3]).inv() * (
        Rotation.from_rotvec(pose[:, 3 * j:3 * j + 3]))
    assert np.degrees(np.median(diff.magnitude())) < 2.0


@needs_mocap
def test_retarget_real_clips(model):
  rest = np.asarray(model.joint_template, np.float64)
  skeleton = read_asf(MOCAP / "cmu" / "02" / "02.asf")
  cases = [
      (retarget.BANDAI_NAMCO, [read_bvh(p).forward_kinematics() for p in (
          MOCAP / "bandai-namco-1" / "dataset-1_walk_normal_001.bvh",
          MOCAP / "bandai-namco-1" / "dataset-1_punch_normal_001.bvh")]),
      (retarget.CMU, [read_amc(MOCAP / "cmu" / "02" / "02_03.amc",
                               skeleton).forward_kinematics()]),
  ]
  for table, worlds in cases:
    alignments = retarget.calibrate(table, worlds, rest)
    for world in worlds:
      pose = retarget.retarget(table, alignments, world).astype(np.float16)
      cos = retarget.bone_cosines(table, world,
                                  retarget.posed_joints(model, pose))
      assert np.mean([cos[b].mean() for b in pose_set.LIMBS]) > 0.98
      assert min(cos[b].min() for b in pose_set.LIMBS) > 0.99


def test_pose_set_file():
  sets = {split: load_pose_set(split) for split in runtime_pose_set.SPLITS}
  for split, data in sets.items():
    assert data.poses.dtype == np.float32 and data.poses.shape[1] == 72
    assert len(data.poses) == len(data.clip_ids) > 500
    assert np.all(np.isfinite(data.poses))
    assert np.linalg.norm(data.poses.reshape(-1, 24, 3), axis=-1).max() < 3.2
    # The out-of-domain splits hold their own dataset and nothing else.
    for held_out in ("cmu", "hdm05"):
      assert {data.clip_datasets[i] == held_out for i in data.clip_ids} == {
          split == held_out}
  clips = [set(data.clip_ids.tolist()) for data in sets.values()]
  assert sum(map(len, clips)) == len(set().union(*clips))
  notice = sets["train"].notice
  for credit in ("CC BY-NC 4.0", "2306.08861", "mocap.cs.cmu.edu",
                 "NSF EIA-0196217"):
    assert credit in notice
  assert runtime_pose_set.bundled_pose_set_path().stat().st_size < 8 * 2**20
  with pytest.raises(ValueError, match="unknown pose-set split 'test'"):
    load_pose_set("test")


def test_pose_set_is_deduplicated(model):
  data = load_pose_set("val")
  threshold = float(np.load(runtime_pose_set.bundled_pose_set_path())[
      "dedup_threshold_m"])
  for clip in np.unique(data.clip_ids)[:5]:
    joints = pose_set.canonical_joints(retarget.posed_joints(
        model, data.poses[data.clip_ids == clip].astype(np.float16)))
    distance = np.linalg.norm(joints[:, None] - joints[None], axis=-1).mean(
        -1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() >= threshold - 1e-4


def test_deduplicate():
  # A point moving 1 cm per frame, 3 cm threshold: every third frame.
  joints = np.zeros((10, 24, 3))
  joints[:, :, 0] = 0.01 * np.arange(10)[:, None]
  np.testing.assert_array_equal(pose_set.deduplicate(joints, 0.03),
                                [0, 3, 6, 9])
  assert list(pose_set.deduplicate(np.zeros((5, 24, 3)), 0.03)) == [0]


def test_sample_betas():
  betas = sample_betas(jax.random.key(0), (4000,), num_betas=10, clip=2.5)
  assert betas.shape == (4000, 10) and betas.dtype == np.float32
  assert float(np.abs(betas).max()) <= 2.5
  assert np.std(np.asarray(betas)) == pytest.approx(0.97, abs=0.03)
  np.testing.assert_array_equal(
      betas, sample_betas(jax.random.key(0), (4000,), num_betas=10))


def _write_amass(path, frames=40, fps=120.0, seed=0):
  rng = np.random.default_rng(seed)
  path.parent.mkdir(parents=True, exist_ok=True)
  poses = rng.normal(scale=0.4, size=(frames, 156))
  np.savez(path, poses=poses, betas=rng.normal(size=16),
           trans=rng.normal(size=(frames, 3)), mocap_framerate=fps,
           gender=np.array("female"))
  return poses


def test_load_amass(tmp_path):
  poses = _write_amass(tmp_path / "a.npz")
  sequence = load_amass(tmp_path / "a.npz")
  assert sequence.poses.shape == (40, 72)
  np.testing.assert_allclose(sequence.poses[:, 3:66], poses[:, 3:66],
                             rtol=1e-6)
  # The world turns from AMASS's z up to y up: same body rotation seen in
  # the new frame.
  z_to_y = Rotation.from_rotvec([-np.pi / 2, 0, 0])
  np.testing.assert_allclose(
      Rotation.from_rotvec(sequence.poses[:, :3]).as_matrix(),
      (z_to_y * Rotation.from_rotvec(poses[:, :3])).as_matrix(), atol=1e-5)
  assert not np.any(sequence.poses[:, 66:])  # SMPL's hand joints 22, 23
  assert sequence.betas.shape == (16,) and sequence.trans.shape == (40, 3)
  assert sequence.fps == 120.0 and sequence.gender == "female"
  np.savez(tmp_path / "b.npz", poses=poses[:, :72], betas=np.zeros(16),
           trans=np.zeros((40, 3)), mocap_framerate=120.0, gender="male")
  with pytest.raises(AmassFileError, match=r"b.npz: poses must be \(T, 156\)"):
    load_amass(tmp_path / "b.npz")
  # A person standing upright in AMASS (global orientation +90 degrees
  # about x, 1 m up z) is upright in the pose set (identity, 1 m up y).
  standing = np.zeros((2, 156))
  standing[:, 0] = np.pi / 2
  np.savez(tmp_path / "d.npz", poses=standing, betas=np.zeros(16),
           trans=np.tile([0.0, 0.0, 1.0], (2, 1)), mocap_frame_rate=60.0,
           gender="neutral")
  upright = load_amass(tmp_path / "d.npz")
  np.testing.assert_allclose(upright.poses[:, :3], 0, atol=1e-6)
  np.testing.assert_allclose(upright.trans, [[0, 1, 0]] * 2, atol=1e-6)
  np.savez(tmp_path / "c.npz", poses=poses)
  with pytest.raises(AmassFileError, match="c.npz: missing betas, trans"):
    load_amass(tmp_path / "c.npz")


def test_pose_set_from_amass(tmp_path, model):
  for i, name in enumerate(["CMU/01/01_01_poses.npz", "CMU/01/01_02_poses.npz",
                            "BMLrub/s1/walk_poses.npz"]):
    _write_amass(tmp_path / "amass" / name, seed=i)
  np.savez(tmp_path / "amass" / "CMU" / "01" / "shape.npz", betas=np.zeros(16),
           gender="male")  # AMASS's per-subject file: not a sequence
  report = build_pose_set_from_amass(tmp_path / "amass", tmp_path / "p.npz",
                                     model, validation=("position", 3, 2))
  assert report["splits"] == {"train": dict(clips=2, kept_frames=20),
                              "val": dict(clips=1, kept_frames=10)}
  val = load_pose_set("val", path=tmp_path / "p.npz")
  assert val.poses.shape == (10, 72)  # 40 frames at 120 fps -> 10 at 30
  assert val.clip_names[val.clip_ids[0]] == "CMU/01/01_01_poses"
  assert val.clip_datasets[val.clip_ids[0]] == "CMU"
  assert "AMASS" in val.notice
