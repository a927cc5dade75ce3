"""The evaluation harness (lgd_jax.evaluation.benchmarks, its methods,
experiments/evaluate.py)."""

import json
import subprocess
import sys
from pathlib import Path

import chex
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import lgd_jax
from lgd_jax.evaluation import benchmarks as evaluation
from lgd_jax.evaluation import methods
from lgd_jax.evaluation import metrics
from lgd_jax.evaluation import timing
from lgd_jax.body.cache import load_body
from lgd_jax.training import sampling
from lgd_jax.training.pose_set import BANDAI_NAMCO
from configs import evaluate as evaluate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def body():
  return load_body(None, 10)


def _profile(name, **changes):
  data = evaluate_config.get_config().profile_settings[name]
  data.update(changes)
  return data


def _truth(batch):
  return sampling.target_theta(batch)


def test_benchmarks_are_fixed_by_their_seed(body):
  data = _profile("realistic", batch_size=16)
  first = evaluation.make_benchmark(body, "val", data, seed=5)
  again = evaluation.make_benchmark(body, "val", data, seed=5)
  other = evaluation.make_benchmark(body, "val", data, seed=6)
  chex.assert_trees_all_equal(first.batch, again.batch)
  assert not np.array_equal(first.batch.pose, other.batch.pose)
  assert first.keypoint_format == "coco17"
  data.formats = ("coco17", "h36m17")
  with pytest.raises(ValueError, match="one keypoint format"):
    evaluation.make_benchmark(body, "val", data, seed=5)


def test_ground_truth_scores_zero_and_errors_grow_with_the_error(body):
  # Pose set v1's people (its val is v2's Bandai-Namco val): the bent
  # elbow below shows in 2D for each of them.
  benchmark = evaluation.make_benchmark(
      body, "val", _profile("clean", batch_size=8), seed=0,
      datasets=BANDAI_NAMCO)
  batch = benchmark.batch
  truth = _truth(batch)
  exact = evaluation.score(body, truth, batch)
  for field in exact:
    np.testing.assert_allclose(field, 0.0, atol=1e-2)  # mm, % of the box
  # Bend the left elbow by 0.5 rad: 3D and 2D errors appear; the mesh moves.
  bent = truth.at[:, 3 * 18 + 1].add(0.5)
  scores = evaluation.score(body, bent, batch)
  assert np.all(np.asarray(scores.mpjpe) > 1.0)
  assert np.all(np.asarray(scores.pa_mpjpe) > 1.0)
  assert np.all(np.asarray(scores.pa_mpjpe_lsp14) > 1.0)
  assert np.all(np.asarray(scores.pve) > 1.0)
  assert np.all(np.asarray(scores.error_2d) > 0.1)
  # Moving the camera by d (normalised units; the box's long side is 2)
  # moves every projected point by d: a 2D error of 50·|d| % of the box.
  shifted = truth.at[:, -2:].add(jnp.array([0.03, -0.04]))
  np.testing.assert_allclose(
      evaluation.score(body, shifted, batch).error_2d, 50 * 0.05, rtol=1e-3)
  # Another shape with the same pose: the vertices move.
  wider = truth.at[:, 72 + 1].add(2.0)
  assert np.all(np.asarray(evaluation.score(body, wider, batch).pve) > 1.0)


def test_errors_match_a_numpy_computation_from_the_mesh(body):
  """MPJPE and PVE recomputed from `smpl_forward`'s vertices with NumPy
  (J_regressor on the mesh, pelvis-aligned), not the fast keypoint path."""
  benchmark = evaluation.make_benchmark(
      body, "val", _profile("clean", batch_size=3), seed=1)
  truth = _truth(benchmark.batch)
  guess = truth.at[:, 3:72].multiply(0.5).at[:, 72:82].add(0.7)

  def mesh(theta):
    out = lgd_jax.smpl_forward(body.model, theta[:, :72], theta[:, 72:82])
    vertices = np.asarray(out.vertices, np.float64)
    joints = np.einsum("jv,bvc->bjc", np.asarray(body.model.J_regressor),
                       vertices)
    pelvis = np.asarray(out.joints)[:, :1]
    return vertices - pelvis, joints - joints[:, :1]

  (v_guess, j_guess), (v_true, j_true) = mesh(guess), mesh(truth)
  expected_mpjpe = 1e3 * np.linalg.norm(j_guess - j_true, axis=-1).mean(-1)
  expected_pve = 1e3 * np.linalg.norm(v_guess - v_true, axis=-1).mean(-1)
  scores = evaluation.score(body, guess, benchmark.batch)
  np.testing.assert_allclose(scores.mpjpe, expected_mpjpe, rtol=1e-3)
  np.testing.assert_allclose(scores.pve, expected_pve, rtol=1e-3)
  mpjpe, _ = metrics.per_step_joint_errors(body, guess[None], truth)
  np.testing.assert_allclose(mpjpe[0], expected_mpjpe, rtol=1e-3)


def test_run_method_reports_every_step_and_time(body, tiny_weights):
  benchmark = evaluation.make_benchmark(
      body, "val", _profile("realistic", batch_size=24), seed=2)
  method = methods.learned_method(body, tiny_weights, "coco17")
  result = evaluation.run_method(body, method, benchmark, chunk=16,
                                 time_it=True)
  steps = tiny_weights.config.num_steps
  assert result["per_step"]["steps"] == list(range(steps + 1))
  assert len(result["per_step"]["pa_mpjpe"]) == steps + 1
  assert result["people"] == int(
      lgd_jax.cameras.enough_visible(benchmark.batch.confidence).sum())
  assert result["ms_per_fit"] > 0
  # The last curve point and the row are the same people's final Θ.
  assert result["per_step"]["pa_mpjpe"][-1] == pytest.approx(
      result["pa_mpjpe"], abs=0.02)
  json.dumps(result)


def test_catastrophic_share_counts_fits_beyond_150_mm(body):
  """The truth for some people, a body turned inside out for the others:
  the share above 150 mm PA-MPJPE is the latter's."""
  benchmark = evaluation.make_benchmark(
      body, "val", _profile("clean", batch_size=12), seed=3)
  truth = _truth(benchmark.batch)
  wrong = np.arange(12) % 3 == 0  # 4 of 12 people
  # Every body joint bent by 2 rad about x: limbs fold through the body.
  bent = truth.at[:, 3:72:3].add(2.0)
  thetas = jnp.where(jnp.asarray(wrong)[:, None], bent, truth)
  pa_mpjpe = np.asarray(evaluation.score(body, thetas, benchmark.batch)
                        .pa_mpjpe)
  assert np.all(pa_mpjpe[wrong] > 150) and np.all(pa_mpjpe[~wrong] < 1)

  def method(keypoints, confidence):
    del keypoints, confidence
    return jnp.stack([truth, thetas]), np.arange(2)
  result = evaluation.run_method(body, method, benchmark)
  assert result["people"] == 12
  assert result["catastrophic"] == pytest.approx(100 * 4 / 12, abs=0.01)
  assert result["per_step"]["catastrophic"] == pytest.approx(
      [0.0, 100 * 4 / 12], abs=0.01)


def test_upright_tilted_and_bent_hipped_people_are_scored_apart(body):
  """Four people lying (their root turned 90° about x), fitted with limbs
  folded through the body; four with the left hip bent 90° (sitting) and
  four with straight hips, fitted exactly."""
  benchmark = evaluation.make_benchmark(
      body, "val", _profile("clean", batch_size=12), seed=3)
  lying = np.arange(12) < 4
  sitting = (np.arange(12) >= 4) & (np.arange(12) < 8)
  pose = benchmark.batch.pose.at[:, :3].set(
      jnp.where(jnp.asarray(lying)[:, None],
                jnp.array([np.pi / 2, 0.0, 0.0]), benchmark.batch.pose[:, :3]))
  pose = pose.at[:, 3:9].set(jnp.where(
      jnp.asarray(sitting)[:, None],
      jnp.array([-np.pi / 2, 0.0, 0.0, 0.0, 0.0, 0.0]), 0.0))
  benchmark = benchmark._replace(batch=benchmark.batch._replace(pose=pose))
  truth = _truth(benchmark.batch)
  fitted = jnp.where(jnp.asarray(lying)[:, None],
                     truth.at[:, 3:72:3].add(2.0), truth)

  def method(keypoints, confidence):
    del keypoints, confidence
    return fitted[None], np.arange(1)
  result = evaluation.run_method(body, method, benchmark)
  assert result["upright"]["people"] == 8
  assert result["tilted"]["people"] == 4
  assert result["upright"]["pa_mpjpe"] < 1
  assert result["upright"]["catastrophic"] == 0
  assert result["tilted"]["catastrophic"] == 100
  assert result["tilted"]["pa_mpjpe"] > 150
  assert result["bent_hips"]["people"] == 4
  assert result["bent_hips"]["pa_mpjpe"] < 1
  assert result["straight_hips"]["people"] == 8
  assert result["straight_hips"]["catastrophic"] == 50


def test_group_table():
  from experiments import report_tables  # pylint: disable=g-import-not-at-top
  rows = [dict(method="lgd", split="hdm05", profile="realistic",
               upright=dict(people=90, pa_mpjpe=80.04, catastrophic=2.0),
               tilted=dict(people=10, pa_mpjpe=160.0, catastrophic=50.0),
               straight_hips=dict(people=70, pa_mpjpe=60.0, catastrophic=1.0),
               bent_hips=dict(people=30, pa_mpjpe=120.06,
                              catastrophic=20.0)),
          dict(method="old", split="hdm05", profile="realistic")]
  lines = report_tables.group_table(rows).splitlines()
  assert len(lines) == 3  # the old report's row has no breakdown
  assert lines[0].startswith("| method | split | profile | upright people |")
  assert lines[2] == ("| lgd | hdm05 | realistic | 90 | 80.0 | 2.0 | 10 | "
                      "160.0 | 50.0 |")
  lines = report_tables.group_table(
      rows, ("straight_hips", "bent_hips")).splitlines()
  assert "| bent hips people |" in lines[0]
  assert lines[2] == ("| lgd | hdm05 | realistic | 70 | 60.0 | 1.0 | 30 | "
                      "120.1 | 20.0 |")


def test_every_config_kind_is_registered_and_others_are_refused():
  for settings in evaluate_config.get_config().methods.values():
    if settings.kind != "learned":  # a learned entry loads its weights
      assert callable(methods.make_method(settings))
  with pytest.raises(ValueError, match="unknown method kind 'svm'"):
    methods.make_method(ml_collections.ConfigDict(dict(kind="svm")))
  with pytest.raises(ValueError, match="registered twice"):
    methods.register("smplify")(lambda settings, pose_set_path: None)


def test_evaluate_command_writes_a_report_and_figure(tmp_path):
  output, figure = tmp_path / "report.json", tmp_path / "steps.png"
  subprocess.run(
      [sys.executable, "-m", "experiments.evaluate",
       "--config=configs/evaluate.py", "--methods=lgd,gd",
       "--config.num_people=8", "--config.chunk=8",
       "--config.splits=('val',)", "--config.profiles=('occlusion',)",
       "--config.timed_profile=occlusion",
       "--config.figure_profile=occlusion",
       "--config.methods.gd.config.iterations=6",
       "--config.methods.gd.record_every=3",
       f"--output={output}", f"--figure={figure}"],
      cwd=REPO, check=True, timeout=600)
  report = json.loads(output.read_text())
  rows = report["results"]
  assert [(r["method"], r["split"], r["profile"]) for r in rows] == [
      ("lgd", "val", "occlusion"), ("gd", "val", "occlusion")]
  assert rows[0]["per_step"]["steps"] == [0, 1, 2, 3, 4]
  assert rows[1]["per_step"]["steps"] == [0, 3, 6]
  assert all(r["ms_per_fit"] > 0 and r["people"] == 8 for r in rows)
  assert figure.stat().st_size > 10_000


def test_validate_prints_and_writes_the_same_figures(tmp_path,
                                                     tiny_weights_file):
  output = tmp_path / "validate.json"
  run = subprocess.run(
      [sys.executable, "-m", "experiments.validate",
       f"--weights={tiny_weights_file}", "--num_batches=1",
       f"--output={output}"],
      cwd=REPO, check=True, timeout=600, capture_output=True, text=True)
  printed = [json.loads(line) for line in run.stdout.splitlines()]
  report = json.loads(output.read_text())
  assert report["splits"] == printed
  assert [row["split"] for row in printed] == ["val", "cmu"]
  assert all(len(row["pa_mpjpe"]) == len(row["mpjpe"]) > 1 and
             row["people"] > 0 for row in printed)


def test_difference_summary_against_a_baseline_report():
  from experiments import report_tables  # pylint: disable=g-import-not-at-top
  def row(split, profile, curve):
    return dict(method="lgd", split=split, profile=profile,
                per_step=dict(pa_mpjpe=curve))
  baseline = [row("val", "clean", [9.0, 50.0]), row("cmu", "clean",
                                                      [9.0, 80.0]),
              row("cmu", "noise", [9.0, 90.0])]
  rows = [row("val", "clean", [9.0, 52.0]), row("cmu", "clean", [9.0, 77.0]),
          row("cmu", "noise", [9.0, 92.0])]
  assert report_tables.difference_summary(rows, baseline, [1]).splitlines(
  ) == ["step 1: +0.33 mm on average, better on 1 of 3, -3.0 to +2.0",
        "  val: 52.0 against 50.0", "  cmu: 84.5 against 85.0"]


def test_convergence_table_rises_shares_and_ratios():
  from experiments import report_tables  # pylint: disable=g-import-not-at-top
  rows = [dict(method="lgd", split="cmu", profile="realistic",
               per_step=dict(pa_mpjpe=[200.0, 90.0, 80.0, 83.0, 81.0],
                             catastrophic=[90.0, 4.0, 2.5, 3.0, 3.5])),
          dict(method="old", split="cmu", profile="realistic",
               per_step=dict(pa_mpjpe=[200.0, 90.0, 95.0, 96.0, 99.0]))]
  smplify = [dict(method="smplify", split="cmu", profile="realistic",
                  pa_mpjpe=100.0)]
  lines = report_tables.convergence_table(rows, [1, 4], smplify,
                                          [3, 4]).splitlines()
  assert lines[0] == ("| method | split | profile | step 1 | step 4 | "
                      "largest rise | > 150 mm at 3 (%) | × SMPLify at 3 | "
                      "× SMPLify at 4 |")
  assert lines[2] == ("| lgd | cmu | realistic | 90.0 | 81.0 | 3.0 | 3.0 | "
                      "0.83 | 0.81 |")
  # A report from before the share was measured.
  assert lines[3] == ("| old | cmu | realistic | 90.0 | 99.0 | 5.0 | – | "
                      "0.96 | 0.99 |")


def test_reports_name_the_processor_and_its_speed(tmp_path):
  """The 2-core benchmark machines differ (AVX-512 or not, about 2× in
  matmul rate), so a report records which one ran it."""
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text(
      "processor\t: 0\nmodel name\t: Example CPU 9000\n"
      "flags\t\t: fpu avx2 avx512f\n\n"
      "processor\t: 1\nmodel name\t: Another CPU\nflags\t\t: fpu\n")
  assert timing.processor(str(cpuinfo)) == {"cpu_model": "Example CPU 9000",
                                            "avx512": True}
  cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512vl\n")
  assert timing.processor(str(cpuinfo))["avx512"] is False
  assert timing.processor(str(tmp_path / "absent"))["avx512"] is None
  cpuinfo.write_text("processor\t: 0\nCPU part\t: 0xd0c\n")  # no flags
  assert timing.processor(str(cpuinfo))["avx512"] is None
  report = tmp_path / "report.json"
  timing.save_report(report, figure=1.0)
  written = json.loads(report.read_text())
  assert written["figure"] == 1.0
  assert written["machine"]["cpu_model"]
  assert written["machine"]["matmul_gflops"] > 0
