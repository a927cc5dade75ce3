"""`lgd-fit` end to end: the demo, real annotation files, corrupted copies,
resuming, videos and cameras."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

import lgd_jax
from lgd_jax import formats as kp
from lgd_jax import sequences
from lgd_jax.body.io import BODY_MODEL_ENV, bundled_model_path
from lgd_jax.tool import cli
from lgd_jax.tool import outputs
from lgd_jax.tool import pipeline
from lgd_jax.tool.options import Options
from lgd_jax.readers import write_openpose
from xla_env import xla_flags

REPO = Path(__file__).parents[1]
# Subprocess time limits only catch hangs: a loaded machine is slow, not
# wrong (the demo's run takes ~1 min on 2 busy cores).
HANG_GUARD = 1800
DATA = REPO.parent / "shared" / "data" / "keypoints"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real keypoint data not found at {DATA} (the "
    "shared data folder next to the repository)")


def _cli(*args, cwd=REPO, **env_vars):
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
             **env_vars)
  return subprocess.run([sys.executable, "-m", "lgd_jax.tool.cli", *args],
                        cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=HANG_GUARD, check=False)


def _run(tmp_path, weights, **options):
  options.setdefault("output", str(tmp_path / "out"))
  return pipeline.run(Options(weights=str(weights), progress=False,
                              chunk_size=8, **options))


def _outputs(folder):
  """{relative path: bytes} of every file under `folder` but the summary."""
  return {str(p.relative_to(folder)): p.read_bytes()
          for p in sorted(Path(folder).rglob("*"))
          if p.is_file() and p.name != outputs.SUMMARY}


def test_demo(tmp_path):
  """The README's first command, with the bundled network and example."""
  run = _cli("--demo", "--output", str(tmp_path), "--noprogress")
  assert run.returncode == 0, run.stderr
  assert "people/s" in run.stdout.strip().splitlines()[-1]
  overlay = tmp_path / "overlays" / "000000000785.png"
  with PIL.Image.open(overlay) as image:
    assert image.size == (640, 425)  # the photo's own size
  fit = np.load(tmp_path / "fits" / "000000000785" / "person_00.npz")
  assert fit["poses"].shape == (72,) and fit["betas"].shape == (10,)
  assert fit["fit_ok"] and str(fit["keypoint_format"]) == "coco17"
  # The bundled network fits this skier to ~3 % of her size; 10 % would be
  # a visibly wrong body.
  assert fit["error_pct"] < 10
  mesh = (tmp_path / "meshes" / "000000000785" / "person_00.obj").read_text()
  model = lgd_jax.load_body_model()
  assert mesh.count("\nv ") + mesh.startswith("v ") == model.num_vertices
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["people"] == summary["people_fitted"] == 1


def test_cli_errors_are_clear():
  run = _cli()
  assert run.returncode != 0 and "--input is required" in run.stderr
  run = _cli("--input", "/nonexistent/keypoints.json")
  assert run.returncode == 1
  assert "/nonexistent/keypoints.json: no such file" in run.stderr


def test_ambiguous_array_asks_for_format(tmp_path):
  np.save(tmp_path / "people.npy", np.ones((3, 17, 3), np.float32))
  run = _cli("--input", str(tmp_path / "people.npy"), "--output",
             str(tmp_path / "out"))
  assert run.returncode == 1
  assert "pass --format to say which" in run.stderr


def _openpose_folder(folder, coco_file):
  """Real people (COCO annotations) written as one OpenPose BODY_25 file
  per image; returns {file stem: people}."""
  people = lgd_jax.read_keypoints(coco_file)
  canonical, confidence = kp.to_canonical(people.xy, people.confidence,
                                          "coco17")
  xy = np.asarray(kp.from_canonical(canonical, "openpose25"))
  confidence = np.asarray(kp.from_canonical(confidence[..., None],
                                            "openpose25"))[..., 0]
  counts = {}
  for frame in np.unique(people.frame):
    rows = people.frame == frame
    stem = f"frame_{frame:03d}"
    write_openpose(folder / f"{stem}_keypoints.json", xy[rows],
                   confidence[rows])
    counts[stem] = int(rows.sum())
  return counts


@needs_data
def test_folder_with_corrupted_files(tmp_path, tiny_weights_file):
  """Bad files are reported and skipped; every person of the good files gets
  an output; nothing is NaN."""
  folder = tmp_path / "openpose"
  counts = _openpose_folder(folder, DATA / "coco" / "test_coco.json")
  good = (folder / "frame_000_keypoints.json").read_text()
  (folder / "bad_truncated_keypoints.json").write_text(good[:len(good) // 2])
  (folder / "bad_latin1_keypoints.json").write_bytes(
      good.replace("people", "p\xe9ople").encode("latin-1"))
  wrong_k = json.loads(good)
  wrong_k["people"][0]["pose_keypoints_2d"] = [1.0] * 60  # 20 points
  (folder / "bad_count_keypoints.json").write_text(json.dumps(wrong_k))
  nan_point = json.loads(good)
  nan_point["people"][0]["pose_keypoints_2d"][:3] = [float("nan"), 5, 0.9]
  (folder / "bad_nan_keypoints.json").write_text(json.dumps(nan_point))
  (folder / "empty_keypoints.json").write_text('{"people": []}')

  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 sequence="off")
  bad = {Path(e["file"]).name: e["problem"]
         for e in summary["files_with_errors"]}
  assert set(bad) == {f"bad_{kind}_keypoints.json"
                      for kind in ("truncated", "latin1", "count", "nan")}
  assert "ends early" in bad["bad_truncated_keypoints.json"]
  assert "not UTF-8" in bad["bad_latin1_keypoints.json"]
  assert "20 points" in bad["bad_count_keypoints.json"]
  assert "person 0" in bad["bad_nan_keypoints.json"]
  assert summary["people"] == sum(counts.values())
  for stem, n in counts.items():
    fits = sorted((tmp_path / "out" / "fits" / stem).glob("*.npz"))
    assert len(fits) == n
    for path in fits:
      fit = np.load(path)
      assert np.all(np.isfinite(fit["poses"])) and np.all(
          np.isfinite(fit["betas"]))
      visible = int((fit["keypoints"][:, 2] > 0).sum())
      assert bool(fit["fit_ok"]) == (visible >= 6), path


def test_all_files_bad_is_an_error(tmp_path, tiny_weights_file):
  (tmp_path / "a_keypoints.json").write_text("{")
  (tmp_path / "b_keypoints.json").write_text("[]")
  with pytest.raises(lgd_jax.KeypointFileError,
                     match="2 of 2 files could not be read"):
    _run(tmp_path, tiny_weights_file, input=str(tmp_path))


def _video(folder, frames=6, tracked=True, people=2):
  """Two people walking apart (or the first alone, or a third walking
  down), one file per frame, from a real pose."""
  rng = np.random.default_rng(0)
  model = lgd_jax.load_body_model()
  regressor = lgd_jax.make_keypoint_regressor(model, kp.canonical_regressor(
      model))
  points = np.asarray(lgd_jax.regress_keypoints(
      model, regressor, np.zeros((1, 72)), np.zeros((1, 10))))[0]
  body = np.asarray(kp.from_canonical(points[:, :2] * [1, -1], "openpose25"))
  for t in range(frames):
    bodies = [body * 200 + [300 - 5 * t, 400], body * 180 + [700 + 5 * t, 420]]
    if people == 3:
      bodies.append(body * 190 + [1100, 410 + 5 * t])
    xy = np.stack(bodies)
    xy += rng.normal(0, 1.5, xy.shape)
    # Rows swap: tracking must not.
    order = ([1, 0, 2] if t % 2 else [0, 1, 2])[:people] if people > 1 else [0]
    write_openpose(folder / f"clip_{t:012d}_keypoints.json", xy[order],
                   np.ones((people, 25)),
                   [[7, 3, 5][who] for who in order] if tracked else None)


def test_resume_is_byte_identical(tmp_path, tiny_weights_file):
  """A rerun after lost outputs (and a killed run's temporary file) writes
  exactly the bytes of an uninterrupted run and keeps no partial file."""
  folder = tmp_path / "video"
  _video(folder, frames=9)
  options = dict(input=str(folder), sequence="off", save_meshes="obj")
  _run(tmp_path, tiny_weights_file, **options)
  first = _outputs(tmp_path / "out")
  assert len([p for p in first if p.endswith(".npz")]) == 18
  # Lose one chunk's outputs (chunk_size 8 people) and part of another's.
  for name in sorted(first)[:10]:
    (tmp_path / "out" / name).unlink()
  stale = tmp_path / "out" / "fits" / ".person_00.npz.abc123.partial.npz"
  stale.write_bytes(b"half")
  summary = _run(tmp_path, tiny_weights_file, **options)
  assert _outputs(tmp_path / "out") == first
  assert not stale.exists()
  assert 0 < summary["people_already_done"] < 18


@pytest.mark.parametrize("tracked", [True, False])
def test_video_tracks(tmp_path, tiny_weights_file, tracked):
  """An OpenPose folder is a video: one npz per person (by id, or tracked
  by position without ids), (T, 72) poses, whichever row order the files
  use."""
  folder = tmp_path / "video"
  _video(folder, tracked=tracked)
  summary = _run(tmp_path, tiny_weights_file, input=str(folder), smooth=1.0)
  assert summary["mode"] == "video"
  tracks = sorted((tmp_path / "out" / "tracks" / "video").glob("track_*.npz"))
  assert len(tracks) == 2
  for path in tracks:
    track = np.load(path)
    assert track["poses"].shape == (6, 72)
    assert track["betas"].shape == (10,)
    assert track["betas_per_frame"].shape == (6, 10)
    assert float(track["mocap_framerate"]) == 30.0
    np.testing.assert_array_equal(track["frame"], np.arange(6))
    # One person per track: its left/right position never swaps.
    x = track["keypoints"][:, :, 0].mean(-1)
    assert np.all(x < 500) or np.all(x > 500)


def test_a_folder_of_video_folders(tmp_path, tiny_weights_file, monkeypatch):
  """Every subfolder is a video. Videos of other lengths and numbers of
  people are fitted in one call, those of 1 and 2 people at most apart
  (the padding), and written as when fitted alone; a rerun after a lost
  video fits its batch again, to the same bytes."""
  clips = tmp_path / "clips"
  _video(clips / "walk", frames=6)
  _video(clips / "crowd", frames=4, people=3)
  _video(clips / "solo", frames=5, people=1)
  (clips / ".hidden").mkdir()
  (clips / ".hidden" / "x_keypoints.json").write_text("{")
  shapes = []  # (frames, track slots) of each fit_tracks call
  fit_tracks = sequences.fit_tracks
  monkeypatch.setattr(sequences, "fit_tracks", lambda xy, *args, **kw: (
      shapes.append(xy.shape[:2]), fit_tracks(xy, *args, **kw))[1])
  # Checked chains: the videos' frames go side by side a step at a time
  # (anchored warm starts fit all frames in chunks).
  options = dict(focal=1000.0, image_size=(1280, 720), warm_start="checked")
  summary = _run(tmp_path, tiny_weights_file, input=str(clips), **options)
  assert summary["mode"] == "video" and summary["videos"] == 3
  assert summary["people"] == 29 and not summary["files_with_errors"]
  assert shapes == [(5, 1), (10, 3)]
  first = _outputs(tmp_path / "out")
  for lost in ("video.json", "track_000.npz"):
    (tmp_path / "out" / "tracks" / "walk" / lost).unlink()
  shapes.clear()
  summary = _run(tmp_path, tiny_weights_file, input=str(clips), **options)
  assert shapes == [(10, 3)]
  assert summary["people_already_done"] == 17
  assert _outputs(tmp_path / "out") == first
  for name, tracks in (("walk", 2), ("crowd", 3)):
    _run(tmp_path, tiny_weights_file, input=str(clips / name),
         output=str(tmp_path / name), **options)
    paths = sorted((tmp_path / "out" / "tracks" / name).glob("*.npz"))
    assert len(paths) == tracks
    for path in paths:
      together, alone = np.load(path), np.load(
          tmp_path / name / "tracks" / name / path.name)
      assert together.files == alone.files
      np.testing.assert_array_equal(together["frame"], alone["frame"])
      for key in ("poses", "betas", "trans", "keypoints_2d"):
        np.testing.assert_allclose(together[key], alone[key], rtol=1e-5,
                                   atol=1e-4, err_msg=f"{path} {key}")
  # Two folders with one output name; only hidden or empty subfolders.
  (clips / "walk").rename(clips / "walk!")
  (clips / "crowd").rename(clips / "walk_")
  with pytest.raises(ValueError, match="both be written as 'walk'"):
    _run(tmp_path, tiny_weights_file, input=str(clips),
         output=str(tmp_path / "clash"))
  for name in ("walk!", "walk_", "solo"):
    shutil.rmtree(clips / name)
  (clips / "empty").mkdir()
  with pytest.raises(lgd_jax.KeypointFileError, match="nor subfolders"):
    _run(tmp_path, tiny_weights_file, input=str(clips),
         output=str(tmp_path / "none"))


@needs_data
def test_real_files_and_perspective(tmp_path, tiny_weights_file):
  """Every real annotation file runs; COCO's image sizes give perspective
  intrinsics (focal = the diagonal); PoseTrack's track ids make videos."""
  coco = DATA / "coco" / "test_coco.json"
  summary = _run(tmp_path, tiny_weights_file, input=str(coco),
                 camera="perspective")
  assert summary["people"] == 14 and summary["mode"] == "images"
  fit = np.load(tmp_path / "out" / "fits" / "000000000785" /
                "person_00.npz")
  np.testing.assert_allclose(fit["focal_length"], [np.hypot(640, 425)] * 2,
                             rtol=1e-6)
  np.testing.assert_allclose(fit["principal_point"], [320, 212.5])
  np.testing.assert_allclose(fit["trans"], fit["camera_translation"] *
                             [1, -1, -1])
  # (CrowdPose, OCHuman: tests/test_image_evaluation.py.)
  summary = _run(tmp_path, tiny_weights_file,
                 input=str(DATA / "mpii" / "test_mpii.json"),
                 output=str(tmp_path / "mpii"))
  assert summary["people"] > 0 and not summary["files_with_errors"]
  posetrack = DATA / "posetrack18" / "annotations" / "test_posetrack18_val.json"
  summary = _run(tmp_path, tiny_weights_file, input=str(posetrack),
                 output=str(tmp_path / "posetrack"))
  assert summary["mode"] == "video" and summary["videos"] == 3


def test_perspective_without_image_size_is_a_clear_error(tmp_path,
                                                         tiny_weights_file):
  folder = tmp_path / "video"
  _video(folder, frames=2)
  with pytest.raises(ValueError, match="--image_size"):
    _run(tmp_path, tiny_weights_file, input=str(folder), camera="perspective")
  summary = _run(tmp_path, tiny_weights_file, input=str(folder), focal=1000.0,
                 image_size=(1280, 720), sequence="off")
  fit = np.load(tmp_path / "out" / "fits" / "clip_000000000000" /
                "person_00.npz")
  np.testing.assert_allclose(fit["focal_length"], [1000, 1000])
  np.testing.assert_allclose(fit["principal_point"], [640, 360])
  assert summary["camera"] == "perspective"


def test_videos_default_to_checked_chains():
  # The most accurate in 3D once smoothed (README, "Videos").
  assert Options(input="x", output="y").warm_start == "checked"


def test_bad_options():
  with pytest.raises(ValueError, match="camera must be"):
    Options(input="x", output="y", camera="fisheye")
  with pytest.raises(ValueError, match="focal"):
    Options(input="x", output="y", focal=-3.0)


def test_several_devices_give_the_same_fits(tmp_path, tiny_weights_file):
  """On 4 (forced CPU) devices every chunk is sharded over them; the
  outputs equal one device's to float32 rounding."""
  folder = tmp_path / "video"
  _video(folder, frames=5)
  flags = ["--input", str(folder), "--weights", str(tiny_weights_file),
           "--sequence=off", "--chunk_size=6", "--noprogress"]
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
             XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=4"))
  run = subprocess.run([sys.executable, "-m", "lgd_jax.tool.cli", *flags,
                        "--output", str(tmp_path / "four")], env=env,
                       cwd=REPO, capture_output=True, text=True,
                       timeout=HANG_GUARD, check=False)
  assert run.returncode == 0, run.stderr
  _run(tmp_path, tiny_weights_file, input=str(folder), sequence="off",
       output=str(tmp_path / "one"))
  ones = sorted((tmp_path / "one" / "fits").rglob("*.npz"))
  assert len(ones) == 10
  for one in ones:
    a, b = np.load(one), np.load(str(one).replace("/one/", "/four/"))
    assert a["fit_ok"] == b["fit_ok"]
    np.testing.assert_allclose(b["poses"], a["poses"], atol=1e-5)
    np.testing.assert_allclose(b["keypoints_2d"], a["keypoints_2d"],
                               atol=1e-3)


def test_video_resume_and_changed_options(tmp_path, tiny_weights_file):
  """A rerun redoes a video whose track file was lost (same bytes), adds
  meshes when asked, and refuses other options into the same folder."""
  folder = tmp_path / "video"
  _video(folder, frames=4, tracked=False)
  _run(tmp_path, tiny_weights_file, input=str(folder))
  out = tmp_path / "out"
  first = _outputs(out)
  (out / "tracks" / "video" / "track_001.npz").unlink()
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply")
  assert summary["people_already_done"] == 0
  again = _outputs(out)
  meshes = [name for name in again if name.endswith(".ply")]
  assert len(meshes) == 8  # 2 tracks x 4 frames
  assert {k: v for k, v in again.items() if k in first and
          k.endswith(".npz")} == {k: v for k, v in first.items()
                                  if k.endswith(".npz")}
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply")
  assert summary["people_already_done"] == 8
  # A folder written before an option existed resumes with its default.
  manifest = json.loads((out / "run.json").read_text())
  del manifest["options"]["descent_iterations"]
  (out / "run.json").write_text(json.dumps(manifest))
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply")
  assert summary["people_already_done"] == 8
  with pytest.raises(ValueError, match="smooth differ"):
    _run(tmp_path, tiny_weights_file, input=str(folder), smooth=0.0)
  # Earlier releases wrote warm_start as a boolean: true was "chained".
  manifest["options"]["warm_start"] = True
  (out / "run.json").write_text(json.dumps(manifest))
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply", warm_start="chained")
  assert summary["people_already_done"] == 8
  with pytest.raises(ValueError, match="warm_start differ"):
    _run(tmp_path, tiny_weights_file, input=str(folder), save_meshes="ply")
  with pytest.raises(ValueError, match="descent_iterations differ"):
    _run(tmp_path, tiny_weights_file, input=str(folder),
         warm_start="chained", descent_iterations=5)
  # A folder from before the upright turn was fitted without it.
  del manifest["options"]["upright_beyond_deg"]
  (out / "run.json").write_text(json.dumps(manifest))
  with pytest.raises(ValueError, match="upright_beyond_deg differ"):
    _run(tmp_path, tiny_weights_file, input=str(folder),
         save_meshes="ply", warm_start="chained")
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply", warm_start="chained",
                 upright_beyond_deg=180.0)
  assert summary["people_already_done"] == 8
  # A folder from before the alignment in the image was fitted without it.
  del manifest["options"]["align"]
  (out / "run.json").write_text(json.dumps(manifest))
  with pytest.raises(ValueError, match="align differ"):
    _run(tmp_path, tiny_weights_file, input=str(folder), save_meshes="ply",
         warm_start="chained", upright_beyond_deg=180.0)
  summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                 save_meshes="ply", warm_start="chained",
                 upright_beyond_deg=180.0, align=False)
  assert summary["people_already_done"] == 8


def test_descent_iterations_explain_the_keypoints_closer(tmp_path,
                                                         tiny_weights_file):
  folder = tmp_path / "video"
  _video(folder, frames=4)
  errors = []
  for iterations in (0, 30):
    out = tmp_path / f"out_{iterations}"
    summary = _run(tmp_path, tiny_weights_file, input=str(folder),
                   output=str(out), sequence="off",
                   descent_iterations=iterations)
    assert summary["people_fitted"] == 8
    errors.append([float(np.load(path)["error_pct"])
                   for path in sorted(out.rglob("person_*.npz"))])
  assert np.all(np.array(errors[1]) < np.array(errors[0]))
  for bad in (-1, 2.5, True):
    with pytest.raises(ValueError, match="descent_iterations"):
      Options(input=str(folder), output=str(tmp_path),
              descent_iterations=bad)
  for bad in (-1.0, 181.0):
    with pytest.raises(ValueError, match="upright_beyond_deg"):
      Options(input=str(folder), output=str(tmp_path),
              upright_beyond_deg=bad)


@pytest.mark.parametrize("flag", ["--help", "--helpshort", "-h"])
def test_help_shows_the_tools_flags(flag):
  run = _cli(flag)
  assert run.returncode == 0, run.stderr
  for name in ("--input", "--output", "--[no]demo", "--[no]progress",
               "--body_model", "--format"):
    assert name in run.stdout
  assert "Show progress bars" in run.stdout
  assert "--verbosity" not in run.stdout  # absl's flags: --helpfull


def test_the_rate_is_always_printed(capsys):
  """A loaded machine's rate rounds to 0.0 at one decimal: still printed."""
  summary = dict(files_with_errors=[], people_already_done=0, people=1,
                 people_fitted=1, people_not_fitted=0, total_seconds=58.0,
                 people_per_second=0.0172, output="out")
  cli._report(summary)
  assert "0.0172 people/s" in capsys.readouterr().out
  cli._report(dict(summary, people_per_second=0.0, people_already_done=1))
  assert "0 people/s" in capsys.readouterr().out


def test_warnings_are_plain_lines(tmp_path, tiny_weights_file):
  """A skipped file and missing photos are warned about in plain words, the
  missing --images folder by name."""
  folder = tmp_path / "video"
  _video(folder, frames=2)
  (folder / "clip_000000000009_keypoints.json").write_text("{")
  run = _cli("--input", str(folder), "--output", str(tmp_path / "out"),
             "--weights", str(tiny_weights_file), "--noprogress",
             "--save_overlays", "--images", str(tmp_path / "no_such_folder"))
  assert run.returncode == 0, run.stderr
  lines = run.stderr.splitlines()
  assert any(line.startswith("warning: skipped ") and
             "clip_000000000009_keypoints.json: " in line for line in lines)
  assert (f"warning: no overlays: the images folder "
          f"{tmp_path / 'no_such_folder'} does not exist") in lines
  assert "pipeline.py:" not in run.stderr  # no absl log prefix
  assert cli._as_flags("pass format= to say which") == (
      "pass --format to say which")
  assert cli._as_flags("keypoint_format=x") == "keypoint_format=x"


def test_failed_fits_have_zero_camera(tmp_path, tiny_weights_file):
  """A person with too few points: fit_ok False and every fitted parameter
  zero, the camera's included (weak and perspective)."""
  people = np.ones((2, 17, 3), np.float32)
  people[..., :2] = np.random.default_rng(0).uniform(100, 300, (2, 17, 2))
  people[1, 3:, 2] = 0  # 3 visible points: not fittable
  np.save(tmp_path / "people.npy", people)
  for camera in ("weak", "perspective"):
    out = tmp_path / camera
    _run(tmp_path, tiny_weights_file, input=str(tmp_path / "people.npy"),
         keypoint_format="coco17", camera=camera, image_size=(640, 480),
         output=str(out))
    ok, failed = (np.load(out / "fits" / "people" / f"frame_{i:06d}" /
                          "person_00.npz") for i in (0, 1))
    assert ok["fit_ok"] and not failed["fit_ok"]
    assert np.any(ok["camera_translation"] != 0)
    for key in ("poses", "betas", "camera_translation") + (
        ("camera_scale",) if camera == "weak" else ("trans",)):
      assert np.all(failed[key] == 0), key


def test_video_with_a_gap_is_evenly_sampled(tmp_path, tiny_weights_file):
  """An unreadable and an empty frame: each track still has one entry per
  frame (AMASS readers assume an even frame rate), the missing ones
  flagged and copied from the nearest fitted frame."""
  folder = tmp_path / "video"
  _video(folder, frames=7)
  (folder / "clip_000000000002_keypoints.json").write_text("{")
  (folder / "clip_000000000004_keypoints.json").write_text('{"people": []}')
  summary = _run(tmp_path, tiny_weights_file, input=str(folder))
  assert len(summary["files_with_errors"]) == 1
  tracks = sorted((tmp_path / "out" / "tracks" / "video").glob("track_*"))
  assert len(tracks) == 2
  for path in tracks:
    track = np.load(path)
    np.testing.assert_array_equal(track["frame"], np.arange(7))
    assert track["poses"].shape == (7, 72)
    assert track["betas_per_frame"].shape == (7, 10)
    assert float(track["mocap_framerate"]) == 30.0
    detected = np.array([1, 1, 0, 1, 0, 1, 1], bool)
    np.testing.assert_array_equal(track["detected"], detected)
    assert not track["fit_ok"][~detected].any()
    assert np.all(track["keypoints"][~detected] == 0)
    assert np.all(np.isfinite(track["poses"]))
    # Frame 2: frames 1 and 3 are as near, the earlier is copied.
    np.testing.assert_array_equal(track["poses"][2], track["poses"][1])
    np.testing.assert_array_equal(track["poses"][4], track["poses"][3])


def test_body_model_flag(tmp_path, tiny_weights_file):
  """--body_model (default: $LGD_JAX_BODY_MODEL) fits with that model and
  is recorded in run.json and the npz; a rerun with another is refused."""
  folder = tmp_path / "video"
  _video(folder, frames=1)
  model = str(bundled_model_path())
  flags = ["--input", str(folder), "--output", str(tmp_path / "out"),
           "--weights", str(tiny_weights_file), "--noprogress",
           "--sequence=off"]
  run = _cli(*flags, "--body_model", model)
  assert run.returncode == 0, run.stderr
  fit = np.load(tmp_path / "out" / "fits" / "clip_000000000000" /
                "person_00.npz")
  assert str(fit["body_model"]) == model
  manifest = json.loads((tmp_path / "out" / "run.json").read_text())
  assert manifest["options"]["body_model"] == model
  run = _cli(*flags, **{BODY_MODEL_ENV: model})  # the same, by default
  assert run.returncode == 0, run.stderr
  assert "2 already done" in run.stdout
  run = _cli(*flags, "--body_model", str(tmp_path / "other.npz"))
  assert run.returncode == 1 and "body_model differ" in run.stderr
