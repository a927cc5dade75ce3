"""`lgd-fit` killed with SIGKILL mid-folder: the rerun writes exactly the
bytes of an uninterrupted run and leaves no partial file."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lgd_jax.files import atomic_path, remove_partial_files, save_json
from lgd_jax.readers import write_openpose

REPO = Path(__file__).parents[1]
# Subprocess time limits only catch hangs: a loaded machine is slow, not
# wrong (the demo's run takes ~1 min on 2 busy cores).
HANG_GUARD = 1800


def _folder(folder, frames=8, people=3):
  rng = np.random.default_rng(1)
  for t in range(frames):
    # Spread-out random points: plenty visible, fits that succeed or fail.
    xy = rng.uniform(100, 900, (people, 25, 2))
    confidence = (rng.random((people, 25)) < 0.8).astype(np.float32)
    write_openpose(folder / f"f_{t:04d}_keypoints.json", xy, confidence)


def _command(folder, output, weights):
  return [sys.executable, "-m", "lgd_jax.tool.cli", "--input", str(folder),
          "--output", str(output), "--weights", str(weights),
          "--sequence=off", "--chunk_size=4", "--save_meshes", "--noprogress"]


def _env():
  return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")


def _files(folder):
  return {str(p.relative_to(folder)): p.read_bytes()
          for p in sorted(Path(folder).rglob("*"))
          if p.is_file() and p.name != "summary.json"}


def test_sigkill_then_rerun_is_byte_identical(tmp_path, tiny_weights_file):
  folder = tmp_path / "frames"
  _folder(folder)
  reference = tmp_path / "reference"
  subprocess.run(_command(folder, reference, tiny_weights_file), env=_env(),
                 check=True, capture_output=True, timeout=HANG_GUARD)
  expected = _files(reference)
  assert len([f for f in expected if f.endswith(".npz")]) == 24

  output = tmp_path / "killed"
  killed_after = []
  for kill_at in (2, 12):  # outputs present when the kill is sent
    process = subprocess.Popen(_command(folder, output, tiny_weights_file),
                               env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # No deadline but a hang guard: on a loaded machine the run is slow,
    # not wrong, and must still be killed at its kill point.
    hang_guard = time.monotonic() + 3600
    while process.poll() is None:
      done = len([p for p in output.rglob("*.npz")
                  if ".partial" not in p.name]) if output.exists() else 0
      if done >= kill_at or time.monotonic() > hang_guard:
        process.send_signal(signal.SIGKILL)
        break
      time.sleep(0.005)
    process.wait()
    killed_after.append(process.returncode)
  # At least one run really was killed mid-folder (not finished first).
  assert -signal.SIGKILL in killed_after
  rerun = subprocess.run(_command(folder, output, tiny_weights_file),
                         env=_env(), capture_output=True, text=True,
                         timeout=HANG_GUARD)
  assert rerun.returncode == 0, rerun.stderr
  assert _files(output) == expected
  assert not [p for p in output.rglob("*") if ".partial" in p.name]


def test_partial_files_match_no_output_glob(tmp_path):
  """A temporary file (left by a killed run) ends in no output suffix, so
  readers globbing for outputs never see one; the rerun's cleanup finds
  it."""
  for name in ("person_00.npz", "mesh.obj", "mesh.ply", "a.png", "run.json"):
    with atomic_path(tmp_path / "out" / name) as tmp:
      tmp.write_bytes(b"half")
      assert tmp.name.endswith(".partial")
      assert not list((tmp_path / "out").glob(f"**/*{Path(name).suffix}"))
      # What a killed run would have left of it.
      shutil.copy(tmp, tmp.parent / f".{name}.killed.partial")
  assert remove_partial_files(tmp_path / "out") == 5
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
      ["person_00.npz", "mesh.obj", "mesh.ply", "a.png", "run.json"])


def test_a_json_report_is_whole_or_the_previous_one(tmp_path):
  path = tmp_path / "reports" / "report.json"
  save_json(path, {"results": [1.5, "a"]})
  text = path.read_text()
  assert text.endswith("}\n") and json.loads(text) == {"results": [1.5, "a"]}
  with pytest.raises(TypeError):  # not JSON-ready: nothing is replaced
    save_json(path, {"results": [object()]})
  assert path.read_text() == text
  assert [p.name for p in path.parent.iterdir()] == ["report.json"]
