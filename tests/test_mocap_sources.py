"""Tests of the staged mocap sources: CMU-daz BVH, DeepMimic JSON, AMP
pickles and HDM05 ASF/AMC (readers, retargeting, broken files)."""

import collections
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lgd_jax
from lgd_jax.body.model import SMPL_PARENTS
from lgd_jax.build import amp, deepmimic, retarget, sources
from lgd_jax.build.asf_amc import read_amc, read_asf
from lgd_jax.build.pose_set import LIMBS
from lgd_jax.build.skeleton import MocapFileError

# LGD_MOCAP points elsewhere, e.g. from a git worktree.
MOCAP = Path(os.environ.get("LGD_MOCAP", Path(__file__).parents[1] / ".." /
                            "shared" / "data" / "mocap"))
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(),
                                 reason=f"{MOCAP} not present")


@pytest.fixture(scope="module")
def model():
  return lgd_jax.load_body_model()


def _limb_cosines(clips, model):
  """Mean and worst limb cosine of `clips` (one calibration group)."""
  worlds = [c.motion.forward_kinematics() for c in clips]
  rest = np.asarray(model.joint_template, np.float64)
  means, worst = [], 1.0
  for clip, world, pose in zip(clips, worlds, sources.retarget_group(
      clips, worlds, rest)):
    joints = retarget.posed_joints(model, pose.astype(np.float16))
    cos = retarget.bone_cosines(retarget.SKELETONS[clip.skeleton], world,
                                joints)
    means.append(np.mean([cos[b].mean() for b in LIMBS]))
    worst = min(worst, min(cos[b].min() for b in LIMBS))
  return float(np.mean(means)), worst


@needs_mocap
@pytest.mark.parametrize("names,skeleton", [
    (("acrnn/salsa_01", "przestr/07_01"), "cmu-daz"),
    (("przestr/16_01",), "cmu-bvh"),  # CMU's own BVH skeleton
])
def test_cmu_daz_real_clips(model, names, skeleton):
  clips = [sources.read_cmu_daz_clip(MOCAP / "cmu-daz" / f"{n}.bvh")
           for n in names]
  for name, clip in zip(names, clips):
    text = (MOCAP / "cmu-daz" / f"{name}.bvh").read_text()
    assert clip.motion.num_frames == int(
        re.search(r"Frames:\s*(\d+)", text).group(1))
    assert clip.motion.fps == pytest.approx(30.0, rel=1e-4)
    assert clip.skeleton == skeleton
    # Metres: a standing adult's head is 1.4-1.9 m above the feet.
    world = clip.motion.forward_kinematics()
    height = world.positions[0, :, 1].max() - world.positions[0, :, 1].min()
    assert 1.3 < height < 2.0, height
  mean, worst = _limb_cosines(clips, model)
  assert mean >= 0.98 and worst > 0.99


@needs_mocap
def test_deepmimic_real_clips(model):
  folder = MOCAP / "deepmimic"
  character = deepmimic.read_character(folder / "humanoid3d.txt")
  assert [j["name"] for j in character][:4] == ["root", "chest", "neck",
                                                "right_hip"]
  clips = [sources.SourceClip(n, deepmimic.read_deepmimic(
      folder / f"humanoid3d_{n}.txt", character), "deepmimic", ())
           for n in ("walk", "backflip", "dance_a")]
  frames = {c.name: len(json.loads((folder / f"humanoid3d_{c.name}.txt")
                                   .read_text())["Frames"]) for c in clips}
  walk, backflip, dance = clips
  assert walk.motion.num_frames == frames["walk"]  # 30 fps: every keyframe
  assert walk.motion.fps == pytest.approx(30.0, rel=0.01)
  assert backflip.motion.num_frames == frames["backflip"]  # 16 fps: all
  assert dance.motion.num_frames == (frames["dance_a"] + 1) // 2  # 60 fps
  # The right hip is on the right: facing +x with y up puts it at +z.
  world = walk.motion.forward_kinematics()
  assert world.positions[0, world.index("right_hip"), 2] > world.positions[
      0, world.index("left_hip"), 2]
  mean, worst = _limb_cosines(clips, model)
  assert mean >= 0.98 and worst > 0.99


@needs_mocap
def test_amp_real_clips(model):
  clips = [sources.SourceClip(p.stem, amp.read_amp(p), "amp", ())
           for p in sorted((MOCAP / "amp-cmu").glob("*.npy"))[:3]]
  for clip in clips:
    world = clip.motion.forward_kinematics()
    # y up after the conversion: the head is above the feet when walking.
    if "walk" in clip.name:
      assert (world.positions[:, world.index("head"), 1] >
              world.positions[:, world.index("left_foot"), 1] + 1.0).all()
  mean, worst = _limb_cosines(clips, model)
  assert mean >= 0.98 and worst > 0.99


@needs_mocap
def test_hdm05_real_clips(model):
  """HDM05's AMC headers hold Latin-1 bytes; its bones are CMU's."""
  folder = MOCAP / "hdm05"
  skeleton = read_asf(folder / "HDM_bd.asf")
  paths = sorted(folder.glob("HDM_bd_*.amc"))[:2]
  with pytest.raises(UnicodeDecodeError):
    paths[0].read_text(encoding="utf-8")
  clips = [sources.SourceClip(p.stem, read_amc(p, skeleton, 30.0), "cmu",
                              ()) for p in paths]
  assert clips[0].motion.fps == 30.0
  assert retarget.skeleton_of(clips[0].motion.names) == "cmu"
  mean, worst = _limb_cosines(clips, model)
  assert mean >= 0.98 and worst > 0.99


def test_amc_utf8_and_latin1_headers(tmp_path):
  asf = tmp_path / "s.asf"
  asf.write_text(_ASF.replace(":version", "# Kühn\n:version"),
                 encoding="utf-8")
  (tmp_path / "s.amc").write_bytes(
      "# Ordner für Bonn\n1\nroot 0 0 0 0 0 0\narm 90\n".encode("latin-1"))
  motion = read_amc(tmp_path / "s.amc", read_asf(asf))
  assert motion.num_frames == 1


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
     axis 0 0 0 XYZ
    dof rx
  end
:hierarchy
  begin
    root arm
  end
"""

# Our body as the DeepMimic/AMP humanoid: (DeepMimic name, AMP name, SMPL
# joint, parent in this list). SMPL joints between them (spine1, spine3,
# collars) keep identity rotations in the poses written.
_HUMANOID = (
    ("root", "pelvis", 0, -1), ("chest", "torso", 6, 0),
    ("neck", "head", 12, 1),
    ("right_hip", "right_thigh", 2, 0), ("right_knee", "right_shin", 5, 3),
    ("right_ankle", "right_foot", 8, 4),
    ("right_shoulder", "right_upper_arm", 17, 1),
    ("right_elbow", "right_lower_arm", 19, 6),
    ("right_wrist", "right_hand", 21, 7),
    ("left_hip", "left_thigh", 1, 0), ("left_knee", "left_shin", 4, 9),
    ("left_ankle", "left_foot", 7, 10),
    ("left_shoulder", "left_upper_arm", 16, 1),
    ("left_elbow", "left_lower_arm", 18, 12),
    ("left_wrist", "left_hand", 20, 13),
)
_KNEES = (4, 5)


def _humanoid_poses(n, seed):
  """SMPL poses the humanoid can hold: knees bent about x only (SMPL's
  hinge), wrists, feet, spine1/3, collars, head and hands at rest, in +/-
  pairs so their mean is the rest."""
  rng = np.random.default_rng(seed)
  pose = np.zeros((n, 24, 3))
  for j in {j for _, _, j, _ in _HUMANOID} - {20, 21} - set(_KNEES):
    pose[:, j] = rng.normal(scale=0.25, size=(n, 3))
  pose[:, 18, 1] -= rng.uniform(0.4, 1.8, n)  # elbows bend forward
  pose[:, 19, 1] += rng.uniform(0.4, 1.8, n)
  pose = np.concatenate([pose, -pose])
  for j in _KNEES:
    pose[:, j, 0] = rng.uniform(0.2, 1.8, 2 * n)
  return pose.reshape(2 * n, 72)


def _humanoid_motion(model, poses, frame):
  """Our posed body as the humanoid in a world turned by `frame` (3, 3):
  (offsets (15, 3), local rotations (T, 15, 3, 3), root positions (T, 3))."""
  rest = np.asarray(model.joint_template, np.float64)
  local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(
      len(poses), 24, 3, 3)
  world = np.empty_like(local)
  for j, p in enumerate(SMPL_PARENTS):
    world[:, j] = local[:, j] if p < 0 else world[:, p] @ local[:, j]
  world = frame @ world @ frame.T
  smpl = [j for _, _, j, _ in _HUMANOID]
  parents = [p for _, _, _, p in _HUMANOID]
  offsets = np.stack([rest[j] - (rest[smpl[p]] if p >= 0 else 0.0)
                      for j, p in zip(smpl, parents)]) @ frame.T
  humanoid = world[:, smpl]
  ups = np.stack([humanoid[:, p] if p >= 0 else np.broadcast_to(
      np.eye(3), humanoid[:, 0].shape) for p in parents], axis=1)
  return offsets, np.swapaxes(ups, -1, -2) @ humanoid, np.tile(
      offsets[0], (len(poses), 1))


def _check_round_trip(model, motion, table, poses):
  world = motion.forward_kinematics()
  rest = np.asarray(model.joint_template, np.float64)
  back = retarget.retarget(table, retarget.calibrate(table, [world], rest),
                           world)
  joints = retarget.posed_joints(model, back)
  smpl = [j for _, _, j, _ in _HUMANOID]
  source = world.positions - world.positions[:, :1]
  ours = joints[:, smpl] - joints[:, :1]
  assert np.abs(ours - source).max() < 3e-3  # metres
  for j in _KNEES:  # the 1-DoF knee comes back as a bend about x
    diff = Rotation.from_rotvec(back[:, 3 * j:3 * j + 3]).inv() * (
        Rotation.from_rotvec(poses[:, 3 * j:3 * j + 3]))
    assert np.degrees(np.median(diff.magnitude())) < 2.0


# DeepMimic turns revolute joints about their z axis; SMPL's knee hinge is
# x: the test's world is ours turned -90 degrees about y (x to z).
_DEEPMIMIC_FRAME = Rotation.from_rotvec([0.0, -np.pi / 2, 0.0]).as_matrix()


def _write_deepmimic(folder, model, poses, dt=1 / 60):
  offsets, local, root = _humanoid_motion(model, poses, _DEEPMIMIC_FRAME)
  types = {j: "revolute" if j in _KNEES else "spherical"
           for _, _, j, _ in _HUMANOID}
  types[0], types[20], types[21] = "none", "fixed", "fixed"
  joints = [dict(ID=i, Name=name, Type=types[j], Parent=p,
                 **{f"Attach{a}": float(v) for a, v in zip("XYZ", offsets[i])},
                 **{f"AttachTheta{a}": 0.0 for a in "XYZ"})
            for i, (name, _, j, p) in enumerate(_HUMANOID)]
  (folder / "character.txt").write_text(json.dumps(dict(Skeleton=dict(
      Joints=joints))))
  quats = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat(
      scalar_first=True).reshape(len(poses), -1, 4)
  rows = []
  for t in range(len(poses)):
    row = [dt if t < len(poses) - 1 else 0.0, *root[t]]
    for i, (_, _, j, _) in enumerate(_HUMANOID):
      if types[j] in ("none", "spherical"):
        row += quats[t, i].tolist()
      elif types[j] == "revolute":  # about z: the rotation vector's z
        row.append(float(Rotation.from_matrix(local[t, i]).as_rotvec()[2]))
    rows.append(row)
  (folder / "motion.txt").write_text(json.dumps(dict(Loop="none",
                                                     Frames=rows)))


def test_deepmimic_round_trip(tmp_path, model):
  poses = _humanoid_poses(200, seed=0)
  _write_deepmimic(tmp_path, model, poses)
  character = deepmimic.read_character(tmp_path / "character.txt")
  motion = deepmimic.read_deepmimic(tmp_path / "motion.txt", character)
  # 60 fps keyframes -> every second one (30 fps).
  assert motion.num_frames == 200 and motion.fps == pytest.approx(30.0)
  _check_round_trip(model, motion, retarget.DEEPMIMIC, poses[::2])


def test_deepmimic_resampling():
  np.testing.assert_array_equal(
      deepmimic.resample_indices(np.full(9, 1 / 120)), [0, 4, 8])
  np.testing.assert_array_equal(
      deepmimic.resample_indices(np.full(5, 1 / 16)), [0, 1, 2, 3, 4])


@pytest.mark.parametrize("mutate,message", [
    (lambda c, m: (c, m[:len(m) // 2]), r"motion.txt: cannot read as a "
     r"DeepMimic motion"),
    (lambda c, m: (c, m.replace("[0.01", "[0.01, 0.5", 1)),
     r"motion.txt: frame 0 has \d+ values, the character needs \d+"),
    (lambda c, m: (c, m.replace('"Frames"', '"Frame"')),
     r"motion.txt: the motion file has no 'Frames'"),
    (lambda c, m: (c.replace('"Parent"', '"Parents"', 1), m),
     r"character.txt: joint 0 has no 'Parent'"),
    (lambda c, m: (c.replace('"revolute"', '"prismatic"', 1), m),
     r"character.txt: joint \d+ \(\w+\) has unknown type 'prismatic'"),
])
def test_bad_deepmimic_files(tmp_path, model, mutate, message):
  _write_deepmimic(tmp_path, model, _humanoid_poses(2, seed=1), dt=0.01)
  character, motion = mutate((tmp_path / "character.txt").read_text(),
                             (tmp_path / "motion.txt").read_text())
  (tmp_path / "character.txt").write_text(character)
  (tmp_path / "motion.txt").write_text(motion)
  with pytest.raises(MocapFileError, match=message):
    deepmimic.read_deepmimic(tmp_path / "motion.txt", deepmimic.read_character(
        tmp_path / "character.txt"))


def _amp_dict(model, poses, fps=30.0):
  offsets, local, root = _humanoid_motion(model, poses, amp.Z_UP_TO_Y_UP.T)
  quats = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(
      len(poses), -1, 4)  # x, y, z, w
  arr = lambda a, dtype: dict(arr=np.asarray(a, dtype),
                              context=dict(dtype=np.dtype(dtype).name))
  return dict(
      rotation=arr(quats, np.float32), root_translation=arr(root, np.float32),
      skeleton_tree=collections.OrderedDict(
          node_names=[n for _, n, _, _ in _HUMANOID],
          parent_indices=arr([p for _, _, _, p in _HUMANOID], np.int64),
          local_translation=arr(offsets, np.float32)),
      is_local=True, fps=np.array(fps), __name__="SkeletonMotion")


def test_amp_round_trip(tmp_path, model):
  poses = _humanoid_poses(200, seed=2)
  np.save(tmp_path / "m.npy", _amp_dict(model, poses), allow_pickle=True)
  motion = amp.read_amp(tmp_path / "m.npy")
  assert motion.num_frames == 400 and motion.fps == 30.0
  _check_round_trip(model, motion, retarget.AMP, poses)


class _Exploit:
  def __reduce__(self):
    return (os.getcwd, ())  # harmless here; any callable would do


@pytest.mark.parametrize("write,message", [
    (lambda p, d: np.save(p, np.array(_Exploit(), dtype=object),
                          allow_pickle=True),
     r"m.npy: cannot read as an AMP motion \(refusing to load posix.getcwd"),
    (lambda p, d: p.write_bytes(pickle.dumps(d)), r"m.npy: cannot read"),
    (lambda p, d: np.save(p, np.zeros(3)), r"m.npy: expected one pickled "
     r"object"),
    (lambda p, d: np.save(p, {k: v for k, v in d.items() if k != "rotation"},
                          allow_pickle=True), r"m.npy: missing rotation/arr"),
    (lambda p, d: np.save(p, {**d, "is_local": False}, allow_pickle=True),
     r"m.npy: rotations must be local"),
])
def test_bad_amp_files(tmp_path, model, write, message):
  write(tmp_path / "m.npy", _amp_dict(model, _humanoid_poses(2, seed=3)))
  with pytest.raises(MocapFileError, match=message):
    amp.read_amp(tmp_path / "m.npy")


def test_amp_truncated_file(tmp_path, model):
  np.save(tmp_path / "m.npy", _amp_dict(model, _humanoid_poses(2, seed=3)),
          allow_pickle=True)
  data = (tmp_path / "m.npy").read_bytes()
  (tmp_path / "m.npy").write_bytes(data[:len(data) // 2])
  with pytest.raises(MocapFileError, match=r"m.npy: cannot read"):
    amp.read_amp(tmp_path / "m.npy")
