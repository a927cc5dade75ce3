"""Tests of pose set v2: the build over every source (on a tiny subset of
the real clips), its coverage figures and its licence notice."""

import os
from pathlib import Path

import numpy as np
import pytest

import lgd_jax
from lgd_jax.build import coverage
from lgd_jax.build.pose_set import build_pose_set
from lgd_jax.training import pose_set as runtime_pose_set
from lgd_jax.training.pose_set import BANDAI_NAMCO, SPLITS, load_pose_set

# LGD_MOCAP points elsewhere, e.g. from a git worktree.
MOCAP = Path(os.environ.get("LGD_MOCAP", Path(__file__).parents[1] / ".." /
                            "shared" / "data" / "mocap"))
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(),
                                 reason=f"{MOCAP} not present")

# Two short clips of each source (plus what its reader needs beside them).
TINY = {
    "bandai-namco-1": ("cfg", "dataset-1_walk_normal_002.bvh",
                       "dataset-1_walk_normal_002.json",
                       "dataset-1_run_normal_001.bvh",
                       "dataset-1_run_normal_001.json"),
    "cmu/02": ("02.asf", "02_02.amc", "02_03.amc"),
    "cmu-daz/przestr": ("09_02.bvh", "09_08.bvh"),
    "deepmimic": ("humanoid3d.txt", "humanoid3d_run.txt",
                  "humanoid3d_sideflip.txt"),
    "amp-cmu": ("amp_humanoid_run.npy", "amp_humanoid_backflip.npy"),
    "hdm05": ("HDM_bd.asf", "HDM_bd_hopBothLegs1hops_002_120.amc",
              "HDM_bd_hopBothLegs1hops_005_120.amc"),
}
EVERY_OTHER = ("position", 2, 0)  # the second clip of two to val


@pytest.fixture(scope="module")
def model():
  return lgd_jax.load_body_model()


@needs_mocap
def test_tiny_build_puts_each_source_in_its_splits(tmp_path, model):
  for folder, names in TINY.items():
    (tmp_path / "mocap" / folder).mkdir(parents=True)
    for name in names:
      (tmp_path / "mocap" / folder / name).symlink_to(MOCAP / folder / name)
  output = tmp_path / "p.npz"
  report, _ = build_pose_set(
      tmp_path / "mocap", output, model,
      validation={"bandai-namco-1": EVERY_OTHER},
      other_sources={"cmu-daz": EVERY_OTHER, "deepmimic": EVERY_OTHER,
                     "amp-cmu": EVERY_OTHER, "hdm05": "hdm05"},
      num_pictures=2)
  sets = {split: load_pose_set(split, output) for split in SPLITS}
  datasets = {split: {data.clip_datasets[i] for i in data.clip_ids}
              for split, data in sets.items()}
  trained = {"bandai-namco-1", "cmu-daz", "deepmimic", "amp-cmu"}
  assert datasets == {"train": trained, "val": trained, "cmu": {"cmu"},
                      "hdm05": {"hdm05"}}
  clips = [set(data.clip_ids.tolist()) for data in sets.values()]
  assert sum(map(len, clips)) == len(set().union(*clips)) == 12
  val_names = {sets["val"].clip_names[i] for i in sets["val"].clip_ids}
  assert {"humanoid3d_sideflip", "amp_humanoid_run", "09_08"} <= val_names
  # The report counts every split/dataset pair and covers it.
  pairs = {f"{split}/{d}" for split, names in datasets.items()
           for d in names}
  assert set(report["counts"]["split/dataset"]) == pairs
  assert set(report["coverage"]["split/dataset"]) == pairs
  for pair, counts in report["counts"]["split/dataset"].items():
    assert report["coverage"]["split/dataset"][pair]["poses"] == counts[
        "kept_frames"] > 0
  only_bandai_namco = load_pose_set("val", output, datasets=BANDAI_NAMCO)
  assert {only_bandai_namco.clip_datasets[i]
          for i in only_bandai_namco.clip_ids} == {"bandai-namco-1"}
  # Flips and a sideflip: some poses are upside down.
  assert report["coverage"]["split/dataset"]["val/deepmimic"][
      "tilted_over_90"] > 0


def _turned_about_x(degrees):
  pose = np.zeros((1, 72), np.float32)
  pose[0, 0] = np.radians(degrees)
  return pose


def test_coverage_of_hand_made_poses(model):
  upright = coverage.coverage(model, np.zeros((3, 72), np.float32))
  assert upright == dict(poses=3, tilted_over_45=0.0, tilted_over_90=0.0,
                         pelvis_below_40pct=0.0, knee_over_90=0.0,
                         hand_above_head=0.0, hip_bent_over_60=0.0)
  np.testing.assert_allclose(runtime_pose_set.pelvis_tilt_deg(np.concatenate([
      _turned_about_x(100), _turned_about_x(-50)])), [100, 50], atol=1e-4)
  lying = coverage.coverage(model, _turned_about_x(100))
  assert lying["tilted_over_45"] == lying["tilted_over_90"] == 1.0
  assert lying["pelvis_below_40pct"] == 1.0  # the body lies on the floor
  kneeling = np.zeros((2, 72), np.float32)
  kneeling[0, 3 * 4] = np.radians(120)  # left knee, about x: shin back
  kneeling[1, 3 * 5] = np.radians(60)
  assert coverage.coverage(model, kneeling)["knee_over_90"] == 0.5
  reaching = np.zeros((1, 72), np.float32)
  reaching[0, 3 * 17 + 2] = np.radians(-100)  # right shoulder, arm up
  assert coverage.coverage(model, reaching)["hand_above_head"] == 1.0
  sitting = np.zeros((4, 72), np.float32)
  sitting[:3, 3] = np.radians([-90, -50, 0])  # left thigh forward
  sitting[3, 0] = np.radians(100)  # lying with straight hips
  assert coverage.coverage(model, sitting)["hip_bent_over_60"] == 0.25


def test_notice_credits_every_source():
  notice = load_pose_set("hdm05").notice
  assert notice == runtime_pose_set.NOTICE
  for credit in ("CC BY-NC 4.0", "2306.08861", "mocap.cs.cmu.edu",
                 "NSF EIA-0196217", "DeepMimic", "MIT License",
                 "Xue Bin Peng", "IsaacGymEnvs", "BSD 3-Clause",
                 "NVIDIA Corporation", "HDM05", "CC BY-SA 3.0",
                 "evaluation only"):
    assert credit in notice, credit


def test_bandai_namco_val_is_the_bundled_networks_held_out_set():
  # lgd_default.npz was trained on pose set v1: its val poses (v1's whole
  # val split, 7,218 poses) are the Bandai-Namco val clips of v2.
  val = load_pose_set("val", datasets=BANDAI_NAMCO)
  assert val.poses.shape == (7218, 72)
  assert len(load_pose_set("val").poses) > len(val.poses)
