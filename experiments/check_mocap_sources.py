r"""Checks the retargeting of the staged mocap sources over all frames.

Run from the repository root:

  python -m experiments.check_mocap_sources [cmu-daz deepmimic ...]

Reads every clip of mocap/cmu-daz, deepmimic, amp-cmu and hdm05 under
../shared/data (or $LGD_MOCAP), retargets it (`lgd_jax.build.sources`), writes
experiments/reports/mocap_sources.json (clips, frames, bone-direction
cosines between `lgd_jax.smpl_forward` and the source over every frame)
and docs/retargeting_{source}.png (12 random frames, source beside body).
"""

import json
import os
import sys
from pathlib import Path

from lgd_jax.body import load_body_model
from lgd_jax.build import figures, sources
from lgd_jax.files import save_json

ROOT = Path(__file__).parents[1]
# LGD_MOCAP points elsewhere, e.g. from a git worktree.
MOCAP = Path(os.environ.get("LGD_MOCAP",
                            ROOT / ".." / "shared" / "data" / "mocap"))


def main(names):
  model = load_body_model()
  report = {}
  for name in names or sources.READERS:
    clips = sources.READERS[name](MOCAP / name)
    report[name], (worlds, poses) = sources.cosine_report(clips, model)
    figures.save_retarget_figure(
        ROOT / "docs" / f"retargeting_{name}.png",
        sources.picture_samples(clips, worlds, poses, 12), model)
    print(name, json.dumps({k: v for k, v in report[name].items()
                            if k != "per_bone_mean"}), flush=True)
  save_json(ROOT / "experiments" / "reports" / "mocap_sources.json", report,
            indent=2)


if __name__ == "__main__":
  main(sys.argv[1:])
