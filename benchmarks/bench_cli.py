r"""`lgd-fit` over a large folder: time, people/s and peak memory.

  python -m experiments.make_openpose_folder --output outputs/openpose_10k
  python -m benchmarks.bench_cli --folder outputs/openpose_10k \
      --files 1000,10000 --modes images,video,clips

Each case is a fresh `lgd-fit` process on the folder's first `files` files
(a folder of links; for `clips`, a folder of video folders of
`--clip_frames` files each, the same frames as many short videos),
writing to a fresh output folder; prints one JSON line
per case (files, people, seconds per phase, people/s, the process's peak
resident memory) and writes them all to `--report`. Peak memory that stays
flat from 1,000 to 10,000 files is the chunking at work.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from absl import app
from absl import flags

from lgd_jax.evaluation import timing

_FOLDER = flags.DEFINE_string("folder", "outputs/openpose_10k",
                              "Folder of OpenPose JSON files.")
_FILES = flags.DEFINE_list("files", ["1000", "10000"],
                           "Numbers of files to fit (the folder's first).")
_MODES = flags.DEFINE_list("modes", ["images", "video"],
                           "images: --sequence=off; video: --sequence=on; "
                           "clips: the files as short videos.")
_CLIP_FRAMES = flags.DEFINE_integer("clip_frames", 100,
                                    "Files per video folder of `clips`.")
_REPORT = flags.DEFINE_string("report", "experiments/reports/bench_cli.json",
                              "Where to write the results.")
_EXTRA = flags.DEFINE_list("extra", [], "More lgd-fit flags, e.g. "
                           "--chunk_size=4096.")

# Runs the CLI in-process, then reports the process's peak memory.
_RUNNER = """
import resource, sys
from lgd_jax.tool import cli
sys.argv = ["lgd-fit"] + sys.argv[1:]
try:
  cli.main()
except SystemExit as e:
  code = e.code
print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(code)
"""


def run_case(files, count: int, mode: str, scratch: Path) -> dict:
  inputs = scratch / f"in_{count}"
  inputs.mkdir()
  for i, file in enumerate(files[:count]):
    folder = (inputs / f"clip_{i // _CLIP_FRAMES.value:05d}"
              if mode == "clips" else inputs)
    folder.mkdir(exist_ok=True)
    (folder / file.name).symlink_to(file.resolve())
  output = scratch / f"out_{count}_{mode}"
  command = [sys.executable, "-c", _RUNNER, "--input", str(inputs),
             "--output", str(output), "--noprogress",
             f"--sequence={'off' if mode == 'images' else 'on'}",
             *_EXTRA.value]
  run = subprocess.run(command, capture_output=True, text=True, check=False,
                       env=dict(os.environ, PYTHONPATH=os.getcwd()))
  if run.returncode:
    raise RuntimeError(f"lgd-fit failed:\n{run.stderr[-3000:]}")
  summary = json.loads((output / "summary.json").read_text())
  peak = float(run.stdout.split("PEAK_RSS_MB")[-1])
  shutil.rmtree(inputs)
  shutil.rmtree(output)
  return dict(mode=mode, files=count, videos=summary["videos"],
              people=summary["people"],
              people_fitted=summary["people_fitted"],
              read_seconds=summary["read_seconds"],
              fit_seconds=summary["fit_seconds"],
              total_seconds=summary["total_seconds"],
              people_per_second=summary["people_per_second"],
              peak_rss_mb=round(peak, 1))


def main(argv):
  del argv
  files = sorted(Path(_FOLDER.value).glob("*.json"))
  if not files:
    raise app.UsageError(f"{_FOLDER.value}: no .json files (make them with "
                         "python -m experiments.make_openpose_folder)")
  results = []
  with tempfile.TemporaryDirectory() as scratch:
    for mode in _MODES.value:
      for count in map(int, _FILES.value):
        results.append(run_case(files, count, mode, Path(scratch)))
        print(json.dumps(results[-1]), flush=True)
  timing.save_report(_REPORT.value, folder=_FOLDER.value,
                     clip_frames=_CLIP_FRAMES.value,
                     extra_flags=_EXTRA.value, results=results)


if __name__ == "__main__":
  app.run(main)
