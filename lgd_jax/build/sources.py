"""The staged mocap sources beyond Bandai-Namco and CMU (build time only):
reading every clip of mocap/cmu-daz, deepmimic, amp-cmu and hdm05, and
checking their retargeting over all frames.

Each source reads into `SourceClip`s: a clip's name, its `Motion` (y up,
metres, ~30 fps), the `lgd_jax.build.retarget.SKELETONS` key of its table
and its calibration group (clips of one group share bone axes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lgd_jax.build import amp, asf_amc, bvh, deepmimic, retarget
from lgd_jax.build.skeleton import Motion, WorldPose

# CMU's own BVH conversion keeps the ASF's length unit: inches * 0.45.
ASF_UNIT_M = asf_amc.METRES_PER_INCH / 0.45
HDM05_FPS = 30.0  # thinned from 120 when staged


class SourceClip(NamedTuple):
  name: str
  motion: Motion
  skeleton: str  # a retarget.SKELETONS key
  group: tuple


def _rest_key(motion: Motion) -> bytes:
  """Rounded rest offsets (root excluded): equal for clips of one actor."""
  return np.round(motion.local_translations[0, 1:], 3).tobytes()


def read_cmu_daz_clip(path) -> SourceClip:
  """One cmu-daz BVH: the Daz-named skeleton in centimetres, or (16_01,
  16_02) CMU's own BVH skeleton in the ASF's units."""
  motion = bvh.read_bvh(path, scale=1.0)
  skeleton = retarget.skeleton_of(motion.names)
  unit = ASF_UNIT_M if skeleton == "cmu-bvh" else 0.01
  motion = dataclasses.replace(
      motion, local_translations=motion.local_translations * unit)
  return SourceClip(Path(path).stem, motion, skeleton,
                    ("cmu-daz", skeleton, _rest_key(motion)))


def read_cmu_daz(folder) -> list[SourceClip]:
  return [read_cmu_daz_clip(p) for p in sorted(Path(folder).glob("*/*.bvh"))]


def read_deepmimic_folder(folder) -> list[SourceClip]:
  folder = Path(folder)
  character = deepmimic.read_character(folder / "humanoid3d.txt")
  return [SourceClip(p.stem, deepmimic.read_deepmimic(p, character),
                     "deepmimic", ("deepmimic",))
          for p in sorted(folder.glob("humanoid3d_*.txt"))]


def read_amp_folder(folder) -> list[SourceClip]:
  return [SourceClip(p.stem, amp.read_amp(p), "amp", ("amp",))
          for p in sorted(Path(folder).glob("*.npy"))]


def read_hdm05(folder, actors=None) -> list[SourceClip]:
  """HDM05 (`HDM_{actor}.asf` + `HDM_{actor}_*.amc`), CMU's bone names;
  `actors` limits it to some actors."""
  clips = []
  for asf in sorted(Path(folder).glob("HDM_*.asf")):
    actor = asf.stem.split("_")[1]
    if actors is not None and actor not in actors:
      continue
    skeleton = asf_amc.read_asf(asf)
    clips += [SourceClip(p.stem, asf_amc.read_amc(p, skeleton, HDM05_FPS),
                         "cmu", ("hdm05", actor))
              for p in sorted(asf.parent.glob(f"HDM_{actor}_*.amc"))]
  return clips


READERS = {"cmu-daz": read_cmu_daz, "deepmimic": read_deepmimic_folder,
           "amp-cmu": read_amp_folder, "hdm05": read_hdm05}


def clip_labels(source: str, name: str) -> tuple[str, str]:
  """(content, style) of a clip from its file name: cmu-daz's dance or
  martial-arts style (`salsa_01`) or CMU subject (`07_01`); DeepMimic's and
  AMP's motion; HDM05's action and actor (`HDM_bd_squat_001_120`)."""
  if source == "hdm05":
    _, actor, action = name.split("_")[:3]
    return action, actor
  if source == "cmu-daz":
    first = name.split("_")[0]
    return (f"subject-{first}" if first.isdigit() else first), ""
  return name.removeprefix("humanoid3d_").removeprefix("amp_humanoid_"), ""


def retarget_group(clips, worlds, rest_joints) -> list[np.ndarray]:
  """(T, 72) poses of `clips` (one calibration group) from their posed
  skeletons `worlds`."""
  table = retarget.SKELETONS[clips[0].skeleton]
  alignments = retarget.calibrate(table, worlds, rest_joints)
  return [retarget.retarget(table, alignments, w) for w in worlds]


def retarget_clips(clips, model):
  """(worlds, poses float16) of every clip, calibrated per group."""
  rest = np.asarray(model.joint_template, np.float64)
  worlds = [c.motion.forward_kinematics() for c in clips]
  poses = [None] * len(clips)
  groups = {}
  for i, clip in enumerate(clips):
    groups.setdefault(clip.group, []).append(i)
  for members in groups.values():
    for i, pose in zip(members, retarget_group(
        [clips[i] for i in members], [worlds[i] for i in members], rest)):
      poses[i] = pose.astype(np.float16)
  return worlds, poses


def cosine_report(clips, model) -> tuple[dict, list]:
  """Bone-direction cosines of every frame of `clips`, between
  `lgd_jax.smpl_forward` on the float16 poses and the source skeleton.

  Returns:
    (a report dict: clips, frames, limbs_mean, limbs_worst_frame and the
    per-bone means; the (worlds, poses) of `retarget_clips`).
  """
  worlds, poses = retarget_clips(clips, model)
  sums, worst = {}, {}
  for clip, world, pose in zip(clips, worlds, poses):
    joints = retarget.posed_joints(model, pose)
    table = retarget.SKELETONS[clip.skeleton]
    for bone, cos in retarget.bone_cosines(table, world, joints).items():
      total = sums.setdefault(bone, [0.0, 0])
      total[0] += float(cos.sum())
      total[1] += cos.size
      worst[bone] = min(worst.get(bone, 1.0), float(cos.min()))
  mean = {bone: s / n for bone, (s, n) in sums.items()}
  report = dict(
      clips=len(clips), frames=int(sum(len(p) for p in poses)),
      limbs_mean=float(np.mean([mean[b] for b in retarget.LIMBS])),
      limbs_worst_frame=min(worst[b] for b in retarget.LIMBS),
      per_bone_mean=mean)
  return report, (worlds, poses)


def picture_samples(clips, worlds, poses, count: int, seed: int = 0):
  """`count` random frames as `lgd_jax.build.figures.save_retarget_figure`
  samples."""
  rng = np.random.default_rng(seed)
  samples = []
  for i in rng.choice(len(clips), count, replace=count > len(clips)):
    frame = int(rng.integers(len(poses[i])))
    world = worlds[i]
    samples.append(dict(
        clip=clips[i].name, dataset=clips[i].group[0], frame=frame,
        skeleton=clips[i].skeleton, pose=poses[i][frame].astype(np.float32),
        world=WorldPose(world.names, world.parents,
                        world.rotations[frame][None],
                        world.positions[frame][None])))
  return samples
