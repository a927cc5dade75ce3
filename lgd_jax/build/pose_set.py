"""Building the mocap pose set from the source clips (build time only).

Reads the Bandai-Namco BVH and CMU ASF/AMC files and the staged sources of
`lgd_jax.build.sources` (CMU-daz, DeepMimic, AMP, HDM05), retargets them to
the SMPL layout, deduplicates and writes the file that
`lgd_jax.training.pose_set.load_pose_set` reads.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from lgd_jax.build import asf_amc, bvh, coverage, retarget, sources
from lgd_jax.build.retarget import LIMBS
from lgd_jax.build.skeleton import WorldPose
from lgd_jax.files import atomic_path
from lgd_jax.training.pose_set import NOTICE


@dataclasses.dataclass
class Clip:
  """A clip on its way into the pose set (build time only).

  `world` is the posed source skeleton (None for AMASS, which is already in
  the SMPL layout); `poses` (T, 72) float16 and the `kept` frame indices
  are filled in by the build.
  """

  name: str
  dataset: str
  content: str
  style: str
  number: int  # the clip number the split rule reads
  fps: float
  world: Optional[WorldPose] = None
  group: tuple = ()  # clips of one group share a skeleton's bone axes
  skeleton: str = ""  # its `retarget.SKELETONS` key ("" for AMASS)
  split: str = "train"
  poses: Optional[np.ndarray] = None
  kept: Optional[np.ndarray] = None


def _labels(folder: Path, kind: str) -> list[str]:
  lines = (folder / "cfg" / f"{kind}_label.txt").read_text().split()
  return [line.split("_", 1)[1] for line in lines]  # drop "dataset-N_"


def read_bandai_namco(folder, dataset: str, number_by: str) -> list[Clip]:
  """Reads every clip of a Bandai-Namco folder (`*.bvh` + `.json` labels).

  Args:
    folder: e.g. `.../mocap/bandai-namco-1`.
    dataset: its name in the pose set.
    number_by: "file_id" (the clip number is the file's `_NNN` id) or
      "position" (its 1-based position in sorted file-name order).
  """
  folder = Path(folder)
  contents, styles = _labels(folder, "content"), _labels(folder, "style")
  clips = []
  for position, path in enumerate(sorted(folder.glob("*.bvh")), 1):
    labels = json.loads(path.with_suffix(".json").read_text())
    motion = bvh.read_bvh(path)
    # Actors differ in proportions and bone axes: group by rest offsets.
    offsets = np.round(motion.local_translations[0, 2:], 2)
    clips.append(Clip(
        name=path.stem, dataset=dataset, content=contents[labels["content"]],
        style=styles[labels["style"]],
        number=int(path.stem.rsplit("_", 1)[1]) if number_by == "file_id"
        else position, fps=motion.fps, world=motion.forward_kinematics(),
        group=(dataset, offsets.tobytes()), skeleton="bandai-namco"))
  return clips


def read_cmu(folder, step: int) -> list[Clip]:
  """Reads every subject folder (`NN/NN.asf` + `NN_MM.amc`) of CMU data,
  keeping every `step`-th frame (4: 120 -> 30 fps)."""
  clips = []
  for subject in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
    skeleton = asf_amc.read_asf(subject / f"{subject.name}.asf")
    for path in sorted(subject.glob("*.amc")):
      motion = asf_amc.read_amc(path, skeleton).subsample(step)
      clips.append(Clip(
          name=path.stem, dataset="cmu", content=f"subject-{subject.name}",
          style="", number=int(path.stem.split("_")[1]), fps=motion.fps,
          world=motion.forward_kinematics(), group=("cmu", subject.name),
          skeleton="cmu"))
  return clips


def read_source(folder, dataset: str) -> list[Clip]:
  """Every clip of a staged source (`sources.READERS[dataset]`), numbered
  by its 1-based position in the reader's sorted order."""
  clips = []
  for number, clip in enumerate(sources.READERS[dataset](folder), 1):
    content, style = sources.clip_labels(dataset, clip.name)
    clips.append(Clip(
        name=clip.name, dataset=dataset, content=content, style=style,
        number=number, fps=float(clip.motion.fps),
        world=clip.motion.forward_kinematics(), group=clip.group,
        skeleton=clip.skeleton))
  return clips


def canonical_joints(joints) -> np.ndarray:
  """(T, 24, 3) SMPL joints -> the same with the pelvis at the origin and
  the hips' heading removed (facing +z, left = +x); the training sampler
  randomises the heading anyway, so it should not make frames distinct."""
  lateral = joints[:, 1] - joints[:, 2]  # right hip -> left hip
  yaw = np.arctan2(-lateral[:, 2], lateral[:, 0])
  c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
  centred = joints - joints[:, :1]
  x, y, z = centred[..., 0], centred[..., 1], centred[..., 2]
  return np.stack([c * x - s * z, y, s * x + c * z], axis=-1)


def deduplicate(joints, threshold: float) -> np.ndarray:
  """Greedy selection of frames of one clip, in time order: a frame is kept
  if its mean joint distance to every kept frame is at least `threshold`.

  Args:
    joints: (T, 24, 3) canonical joints (`canonical_joints`), metres.
    threshold: metres.

  Returns:
    Indices of the kept frames (the first frame always).
  """
  kept = [0]
  bank = joints[:1]
  for t in range(1, len(joints)):
    distance = np.linalg.norm(bank - joints[t], axis=-1).mean(-1).min()
    if distance >= threshold:
      kept.append(t)
      bank = np.concatenate([bank, joints[t:t + 1]])
  return np.asarray(kept)


# SMPL joints whose source joints the floor check (`_report`) reads.
_FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


def read_all(mocap_root, validation, cmu_step: int,
             other_sources=()) -> list[Clip]:
  """Every clip under `mocap_root` (bandai-namco-1/, bandai-namco-2/,
  cmu/, and the `other_sources` folders, `sources.READERS` keys);
  `validation` maps each Bandai-Namco folder to its split rule
  (number_by, modulus, remainder)."""
  root = Path(mocap_root)
  clips = []
  for dataset, (number_by, _, _) in sorted(validation.items()):
    clips += read_bandai_namco(root / dataset, dataset, number_by)
  clips += read_cmu(root / "cmu", cmu_step)
  for dataset in sorted(other_sources):
    clips += read_source(root / dataset, dataset)
  return clips


def split_of(clip: Clip, rules) -> str:
  """The split of `clip`: `rules[clip.dataset]` is either (number_by,
  modulus, remainder), "val" when the clip number is remainder mod modulus
  and "train" otherwise, or a split name; a dataset without a rule (CMU) is
  its own split."""
  rule = rules.get(clip.dataset, clip.dataset)
  if isinstance(rule, str):
    return rule
  _, modulus, remainder = rule
  return "val" if clip.number % modulus == remainder else "train"


def build_pose_set(mocap_root, output, model, *, validation,
                   other_sources=None, dedup_threshold: float = 0.03,
                   cmu_step: int = 4, num_pictures: int = 12, seed: int = 0):
  """Builds the pose-set file from the mocap folders.

  Reads every clip, retargets it (one rest alignment per skeleton group:
  `lgd_jax.build.retarget.calibrate`), rounds the poses to float16, checks
  them through `lgd_jax.smpl_forward` (bone-direction cosines against the
  source over all frames), deduplicates each clip (`deduplicate`) and
  writes `output` (`write_pose_set`).

  Args:
    mocap_root: the folder holding bandai-namco-1/, bandai-namco-2/, cmu/
      and the `other_sources` folders.
    output: the `.npz` to write.
    model: the body model the poses are made for.
    validation: Bandai-Namco folder -> (number_by, modulus, remainder): a
      clip whose number (`read_bandai_namco`) is remainder mod modulus goes
      to "val", the others to "train"; CMU clips go to "cmu".
    other_sources: staged source (`sources.READERS` key) -> its split rule
      (`split_of`): (number_by, modulus, remainder), numbering clips by
      position, or the name of the split all its clips go to.
    dedup_threshold: metres of mean joint distance (`deduplicate`).
    cmu_step: CMU frame subsampling (4: 120 -> 30 fps).
    num_pictures: random kept frames returned for the pictures.
    seed: their random seed.

  Returns:
    (report dict for JSON, list of picture samples: dicts with the clip,
    the frame, the source `WorldPose` of that frame and the pose).
  """
  other_sources = dict(other_sources or {})
  start = time.time()
  clips = read_all(mocap_root, validation, cmu_step, other_sources)
  read_seconds = time.time() - start
  retarget_clips(clips, model, {**validation, **other_sources})
  sums = {}
  for clip in clips:
    clip.poses = clip.poses.astype(np.float16)
    joints = retarget.posed_joints(model, clip.poses)
    table = retarget.SKELETONS[clip.skeleton]
    for bone, cos in retarget.bone_cosines(table, clip.world,
                                           joints).items():
      total = sums.setdefault(clip.dataset, {}).setdefault(
          bone, [0.0, 0, 1.0])
      total[0] += float(cos.sum())
      total[1] += cos.size
      total[2] = min(total[2], float(cos.min()))
    clip.kept = deduplicate(canonical_joints(joints), dedup_threshold)
  arrays = write_pose_set(output, clips, dedup_threshold)

  rng = np.random.default_rng(seed)
  samples = []
  for row in rng.choice(len(arrays["poses"]), num_pictures, replace=False):
    clip = clips[arrays["clip_ids"][row]]
    frame = arrays["frame_index"][row]
    samples.append(dict(
        clip=clip.name, dataset=clip.dataset, frame=int(frame),
        skeleton=clip.skeleton, pose=arrays["poses"][row].astype(np.float32),
        world=WorldPose(clip.world.names, clip.world.parents,
                        clip.world.rotations[frame][None],
                        clip.world.positions[frame][None])))
  report = _report(clips, sums)
  report.update(
      coverage=_coverage_report(clips, model),
      dedup_threshold_m=dedup_threshold, cmu_fps=120.0 / cmu_step,
      validation_rule={k: list(v) for k, v in validation.items()},
      other_sources_rule={k: v if isinstance(v, str) else list(v)
                          for k, v in other_sources.items()},
      file=str(output), file_mb=round(Path(output).stat().st_size / 2**20,
                                      3),
      read_seconds=round(read_seconds, 1),
      build_seconds=round(time.time() - start, 1))
  return report, samples


def write_pose_set(output, clips, dedup_threshold: float,
                   notice: str = NOTICE) -> dict:
  """Writes the kept frames of `clips` (sorted in place by dataset and
  name) as a pose-set `.npz`, atomically; returns its arrays."""
  clips.sort(key=lambda c: (c.dataset, c.name))
  arrays = dict(
      poses=np.concatenate([c.poses[c.kept] for c in clips]).astype(
          np.float16),
      clip_ids=np.concatenate([np.full(len(c.kept), i, np.int32)
                               for i, c in enumerate(clips)]),
      frame_index=np.concatenate([c.kept for c in clips]).astype(np.int32),
      clip_names=np.array([c.name for c in clips]),
      clip_datasets=np.array([c.dataset for c in clips]),
      clip_contents=np.array([c.content for c in clips]),
      clip_styles=np.array([c.style for c in clips]),
      clip_splits=np.array([c.split for c in clips]),
      clip_fps=np.array([c.fps for c in clips], np.float32),
      dedup_threshold_m=np.float32(dedup_threshold),
      notice=np.array(notice))
  with atomic_path(output) as tmp:
    with open(tmp, "wb") as f:
      np.savez_compressed(f, **arrays)
  return arrays


def _report(clips, sums) -> dict:
  counts = {}
  for clip in clips:
    for key, value in (("split", clip.split), ("dataset", clip.dataset),
                       ("split/dataset", f"{clip.split}/{clip.dataset}"),
                       ("split/dataset/content",
                        f"{clip.split}/{clip.dataset}/{clip.content}")):
      entry = counts.setdefault(key, {}).setdefault(
          value, dict(clips=0, source_frames=0, kept_frames=0))
      entry["clips"] += 1
      entry["source_frames"] += int(clip.poses.shape[0])
      entry["kept_frames"] += int(len(clip.kept))
  cosines = {}
  for dataset, bones in sorted(sums.items()):
    mean = {bone: s / n for bone, (s, n, _) in bones.items()}
    cosines[dataset] = dict(
        limbs_mean=round(float(np.mean([mean[b] for b in LIMBS])), 6),
        per_bone_mean={b: round(m, 6) for b, m in mean.items()},
        per_bone_min={b: round(v[2], 6) for b, v in bones.items()})
  checks = {}
  for clip in clips:
    world = clip.world
    feet = [world.index(row.source) for row in retarget.SKELETONS[
        clip.skeleton] if row.smpl in _FEET]
    lowest = float(world.positions[:, feet, 1].min())
    # Bones from the root joint place the skeleton; they are not bones.
    child = [j for j, p in enumerate(world.parents) if p > 0]
    spread = float(world.bone_lengths()[:, child].std(0).max())
    entry = checks.setdefault(clip.dataset, dict(
        clips_loaded=0, frames=0, lowest_foot_joint_m=[np.inf, -np.inf],
        bone_length_std_max_m=0.0))
    entry["clips_loaded"] += 1
    entry["frames"] += int(world.positions.shape[0])
    low = entry["lowest_foot_joint_m"]
    low[0], low[1] = min(low[0], round(lowest, 4)), max(low[1],
                                                         round(lowest, 4))
    entry["bone_length_std_max_m"] = max(entry["bone_length_std_max_m"],
                                         spread)
  return dict(counts=counts, bone_direction_cosines=cosines,
              source_checks=checks,
              total_kept_frames=sum(len(c.kept) for c in clips))


def _coverage_report(clips, model) -> dict:
  """`coverage.coverage` of the kept poses per split and per split/dataset."""
  groups = {}
  for clip in clips:
    for key, value in (("split", clip.split),
                       ("split/dataset", f"{clip.split}/{clip.dataset}")):
      groups.setdefault(key, {}).setdefault(value, []).append(
          clip.poses[clip.kept])
  return {key: {value: coverage.coverage(model, np.concatenate(poses))
                for value, poses in members.items()}
          for key, members in groups.items()}


def retarget_clips(clips, model, validation) -> None:
  """Fills in each clip's `poses` (T, 72) float32, every frame, and its
  `split`, in place: one rest alignment per skeleton group, calibrated over
  all of the group's clips (`build_pose_set` then rounds to float16 and
  deduplicates; video sequences use every frame).

  Args:
    clips: `Clip`s from `read_all` (all of them: calibration uses every
      clip of a group).
    model: the body model the poses are made for.
    validation: the split rules (`split_of`) by dataset.
  """
  rest = np.asarray(model.joint_template, np.float64)
  groups = {}
  for clip in clips:
    groups.setdefault(clip.group, []).append(clip)
  for members in groups.values():
    for clip, poses in zip(members, sources.retarget_group(
        members, [c.world for c in members], rest)):
      clip.poses = poses.astype(np.float32)
      clip.split = split_of(clip, validation)
