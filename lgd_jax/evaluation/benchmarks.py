"""The evaluation harness: fitting methods on synthetic benchmarks.

A benchmark is a fixed set of people sampled from a pose-set split under a
detector profile (noise, dropout, occlusion, camera model), with their
ground truth. A method (`lgd_jax.evaluation.methods`) maps the benchmark's
normalised canonical keypoints to Θ after each of its steps or recorded
iterations, in the shared Θ layout of `lgd_jax.theta`; so the learned
optimizer, SMPLify, plain gradient descent and direct lifting are all
measured by the same code.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax import losses
from lgd_jax import theta as theta_lib
from lgd_jax.body import lbs
from lgd_jax.body.cache import Body, load_body
from lgd_jax.body.model import NUM_JOINTS
from lgd_jax.evaluation import methods
from lgd_jax.evaluation import metrics
from lgd_jax.evaluation import timing
from lgd_jax.training import pose_set
from lgd_jax.training import sampling
from lgd_jax.training.sampling import target_theta

# The 14 LSP joints, as canonical points: SMPL's limb joints, neck, head top.
LSP14 = tuple(
    kp.CANONICAL_NAMES.index(name) for name in (
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
        "left_ankle", "right_wrist", "right_elbow", "right_shoulder",
        "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top"))
_LSP_HIPS = (2, 3)  # the root of LSP14: the midpoint of its hips


class Benchmark(NamedTuple):
  keypoint_format: str
  batch: sampling.Batch  # all its people, normalised canonical keypoints


def make_benchmark(body: Body, split: str, data: ml_collections.ConfigDict,
                   seed: int, pose_set_path=None, datasets=None) -> Benchmark:
  """Samples `data.batch_size` people of a pose-set split.

  Args:
    data: a `sample_batch` config with one keypoint format (the detector
      profile: keep_prob, noise, occlude_prob, perspective_prob, ...).
    seed: the same seed gives the same people, views and noise.
    datasets: only the split's clips of these sources (`load_pose_set`).
  """
  if len(data.formats) != 1:
    raise ValueError(f"a benchmark has one keypoint format, got "
                     f"{tuple(data.formats)}")
  poses = jnp.asarray(pose_set.load_pose_set(split, pose_set_path,
                                             datasets).poses)
  return Benchmark(data.formats[0], sampling.compiled_sample_batch(
      jax.random.PRNGKey(seed), poses, body, data))


class Scores(NamedTuple):
  """Per-person errors of one Θ: mm, except `error_2d` (% of the box)."""

  mpjpe: jax.Array
  pa_mpjpe: jax.Array
  mpjpe_lsp14: jax.Array
  pa_mpjpe_lsp14: jax.Array
  pve: jax.Array
  error_2d: jax.Array


def score(body: Body, theta: jax.Array,
          batch: sampling.Batch) -> Scores:
  """(B, P) Θ against the batch's ground truth; each field (B,).

  Joints are SMPL's 24, regressed from the mesh, and the LSP 14 (root:
  the pelvis and the midpoint of the hips); the vertex error (PVE) is after
  aligning the pelvis; the 2D error is the mean distance to the visible
  input keypoints as a percentage of their box's longer side (NaN without
  any: such people are left out of `run_method`'s means).
  """
  target = target_theta(batch)
  pred_points, pred_2d = theta_lib.keypoints(theta, body)
  true_points, _ = theta_lib.keypoints(target, body)
  joints = lambda p: p[..., :NUM_JOINTS, :]
  lsp = lambda p: p[..., LSP14, :]
  lsp_root = lambda p: lsp(p)[..., _LSP_HIPS, :].mean(-2)
  parts = theta_lib.split(theta, body.model.num_betas)
  pred_mesh = lbs.smpl_forward(body.model, parts.pose, parts.betas)
  true_mesh = lbs.smpl_forward(body.model, batch.pose, batch.betas)
  mm = metrics.MM
  return Scores(
      mpjpe=mm * metrics.mpjpe(joints(pred_points), joints(true_points)),
      pa_mpjpe=mm * metrics.pa_mpjpe(joints(pred_points),
                                     joints(true_points)),
      mpjpe_lsp14=mm * metrics.root_aligned_error(
          lsp(pred_points), lsp(true_points), lsp_root(pred_points),
          lsp_root(true_points)),
      pa_mpjpe_lsp14=mm * metrics.pa_mpjpe(lsp(pred_points),
                                           lsp(true_points)),
      pve=mm * metrics.root_aligned_error(
          pred_mesh.vertices, true_mesh.vertices,
          pred_mesh.joints[..., 0, :], true_mesh.joints[..., 0, :]),
      error_2d=losses.normalized_keypoint_error(pred_2d, batch.keypoints,
                                                batch.confidence))


_score = jax.jit(score)
_per_step_errors = jax.jit(metrics.per_step_joint_errors)


def _groups(pose: np.ndarray) -> dict[str, np.ndarray]:
  """The groups `run_method` scores apart, in pairs that split the
  people: name -> (B,) bool."""
  tilted = pose_set.pelvis_tilt_deg(pose) > pose_set.TILTED_DEG
  bent = pose_set.hip_bend_deg(pose) > pose_set.BENT_HIP_DEG
  return {"upright": ~tilted, "tilted": tilted, "straight_hips": ~bent,
          "bent_hips": bent}


def run_method(body: Body, method: methods.Method, benchmark: Benchmark,
               chunk: int = 1024, time_it: bool = False) -> dict:
  """Runs `method` on every person of `benchmark` and scores it.

  People with too few visible keypoints to fit (`cameras.enough_visible`)
  are left out of the means (as in training), and so are fits that are not
  finite (counted as `failures`). With `time_it`, each chunk's fit is timed
  after compilation (`lgd_jax.evaluation.timing.median_seconds`):
  `ms_per_fit` is the time per person.

  Returns:
    A JSON-ready dict: means of every `Scores` field, `per_step` curves of
    MPJPE, PA-MPJPE and the catastrophic share, `people`, `failures`,
    `catastrophic` (the % of people whose final PA-MPJPE exceeds
    `metrics.CATASTROPHIC_MM`), the people in two pairs of groups (each
    group's people, final PA-MPJPE and catastrophic %): `upright` and
    `tilted`, the body within, or more than, `pose_set.TILTED_DEG` off the
    view's vertical (on the floor, bent over, upside down), and
    `straight_hips` and `bent_hips`, a hip within, or bent more than,
    `pose_set.BENT_HIP_DEG` (sitting, squatting, kneeling); and
    `ms_per_fit` when timed.
  """
  batch = benchmark.batch
  size = batch.keypoints.shape[0]
  totals, curves, people, failures, seconds = {}, [], 0, 0, 0.0
  by_group = {}  # name: people, Σ PA-MPJPE, > 150 mm
  for start in range(0, size, chunk):
    part = jax.tree.map(lambda x, s=start: x[s:s + chunk], batch)
    thetas, steps = jax.block_until_ready(method(part.keypoints,
                                                 part.confidence))
    if time_it:
      seconds += timing.median_seconds(method, part.keypoints,
                                       part.confidence, min_seconds=1.0,
                                       min_calls=3)
    finite = np.all(np.isfinite(np.asarray(thetas)), axis=(0, -1))
    enough = np.asarray(cameras.enough_visible(part.confidence))
    failures += int(np.sum(enough & ~finite))
    valid = enough & finite
    thetas = jnp.where(jnp.asarray(finite)[:, None], thetas, 0.0)
    for field, values in _score(body, thetas[-1], part)._asdict().items():
      totals[field] = totals.get(field, 0.0) + float(
          np.sum(np.asarray(values)[valid]))
    mpjpe, pa_mpjpe = _per_step_errors(body, thetas, target_theta(part))
    pa_mpjpe = np.asarray(pa_mpjpe)[:, valid]
    curves.append((np.asarray(mpjpe)[:, valid].sum(-1), pa_mpjpe.sum(-1),
                   (pa_mpjpe > metrics.CATASTROPHIC_MM).sum(-1)))
    people += int(valid.sum())
    final = pa_mpjpe[-1]
    for name, members in _groups(np.asarray(part.pose)).items():
      members = members[valid]
      by_group[name] = by_group.get(name, 0) + np.array((
          members.sum(), final[members].sum(),
          (final[members] > metrics.CATASTROPHIC_MM).sum()))
  result = {field: round(total / max(people, 1), 2)
            for field, total in totals.items()}
  result["per_step"] = {
      "steps": np.asarray(steps).tolist(),
      "mpjpe": np.round(sum(c[0] for c in curves) / max(people, 1),
                        2).tolist(),
      "pa_mpjpe": np.round(sum(c[1] for c in curves) / max(people, 1),
                           2).tolist(),
      "catastrophic": np.round(100 * sum(c[2] for c in curves) /
                               max(people, 1), 2).tolist()}
  result["people"] = people
  result["failures"] = failures
  result["catastrophic"] = result["per_step"]["catastrophic"][-1]
  for name, (count, total, bad) in by_group.items():
    result[name] = {"people": int(count),
                    "pa_mpjpe": round(total / max(count, 1), 2),
                    "catastrophic": round(100 * bad / max(count, 1), 2)}
  if time_it:
    result["ms_per_fit"] = round(1e3 * seconds / size, 4)
  return result


def evaluate_benchmarks(
    config: ml_collections.ConfigDict, makers: dict,
    log: Callable[[str], None] = print,
    on_result: Callable[[dict], None] = lambda report: None,
    previous: Optional[dict] = None) -> dict:
  """Runs every method on every benchmark of `config` (configs/evaluate.py).

  Args:
    config: `splits`, `profiles` (names) and `profile_settings` (name ->
      full `sample_batch` config), `num_people`, `seed`, `chunk`,
      `timed_profile` (the benchmarks whose fits are timed), `body_model`,
      `pose_set`, optionally `datasets` (only the splits' clips of these
      sources; empty or absent: all).
    makers: name -> the method's `methods.MethodMaker` (e.g. from
      `methods.make_method`).
    log: where each result line goes as it is ready.
    on_result: called with the report so far after each result (e.g. to
      save it, so that a crash loses nothing).
    previous: an earlier report of the same config; its results are kept,
      not recomputed (resuming after a crash).

  Returns:
    A JSON-ready report: one row per (method, split, profile).
  """
  body = load_body(config.body_model, config.num_betas)
  benchmarks = []
  for split in config.splits:
    for profile in config.profiles:
      data = ml_collections.ConfigDict(config.profile_settings[profile])
      data.batch_size = config.num_people
      # One seed: every profile of a split shows the same people and views.
      benchmarks.append((split, profile, make_benchmark(
          body, split, data, config.seed, config.pose_set,
          config.get("datasets", None) or None)))
  report = {"config": config.to_json(), "num_people": config.num_people,
            "seed": config.seed,
            "profiles": {name: config.profile_settings[name].to_dict()
                         for name in config.profiles},
            "results": []}
  if previous is not None and previous.get("config") != report["config"]:
    raise ValueError("the previous report is of another config")
  done = {(r["method"], r["split"], r["profile"]): r
          for r in (previous or {}).get("results", ())}
  for method_name, make in makers.items():
    built = {}
    for split, profile, benchmark in benchmarks:
      if (method_name, split, profile) in done:
        report["results"].append(done[method_name, split, profile])
        continue
      fmt = benchmark.keypoint_format
      if fmt not in built:
        built[fmt] = make(body, fmt)
      result = run_method(body, built[fmt], benchmark, config.chunk,
                          time_it=profile == config.timed_profile)
      row = {"method": method_name, "split": split, "profile": profile,
             **result}
      log(f"{method_name:>12} {split:>4} {profile:<18} PA-MPJPE "
          f"{row['pa_mpjpe']:7.1f}  MPJPE {row['mpjpe']:7.1f}  PVE "
          f"{row['pve']:7.1f}  2D {row['error_2d']:5.2f}%" +
          (f"  {row['ms_per_fit']:.3f} ms/fit" if "ms_per_fit" in row
           else ""))
      report["results"].append(row)
      on_result(report)
  return report


def save_step_figure(path, report: dict, profile: str) -> None:
  """PA-MPJPE after each step (learned) or iteration (baselines), one panel
  per split, like the paper's Fig. 4 (written atomically)."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from lgd_jax.tool import render  # pylint: disable=g-import-not-at-top
  rows = [r for r in report["results"] if r["profile"] == profile]
  if not rows:
    raise ValueError(f"no results for profile {profile!r} to plot")
  splits = list(dict.fromkeys(r["split"] for r in rows))
  fig = Figure(figsize=(5.0 * len(splits), 3.8))
  for ax, split in zip(np.atleast_1d(fig.subplots(1, len(splits))), splits):
    for row in (r for r in rows if r["split"] == split):
      curve = row["per_step"]
      ax.plot(curve["steps"], curve["pa_mpjpe"], marker="o",
              markersize=3 if len(curve["steps"]) > 8 else 5,
              label=row["method"])
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("step (learned) / iteration (baselines)")
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.set_title(f"{split}, {profile}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  render.save_figure(fig, path, dpi=110)
