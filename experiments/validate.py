r"""Validation figures of a weight file: PA-MPJPE and MPJPE (mm) after each
step on held-out Bandai-Namco clips and on CMU, with the training config's
evaluation setting (COCO-17 input, 20% of joints dropped, 2D noise of 1% of
the person's height, weak perspective).

  python -m experiments.validate [--weights=lgd_jax/assets/lgd_default.npz]
      [--output=REPORT.json]
"""

import json

from absl import app
from absl import flags
import numpy as np

import lgd_jax
from lgd_jax.files import save_json
from lgd_jax.training import trainer as training

_WEIGHTS = flags.DEFINE_string("weights", None,
                               "Weight file; default: the bundled one.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 8,
                                    "Evaluation batches per split.")
_OUTPUT = flags.DEFINE_string(
    "output", "", "Also write the figures to this JSON file ('' for none).")


def main(argv):
  del argv
  weights = lgd_jax.load_pretrained(_WEIGHTS.value)
  rows = [{k: (np.round(v, 1).tolist() if k in ("mpjpe", "pa_mpjpe") else v)
           for k, v in row.items()}
          for row in training.validation_report(weights, _NUM_BATCHES.value)]
  for row in rows:
    print(json.dumps(row))
  if _OUTPUT.value:
    save_json(_OUTPUT.value, {"weights": _WEIGHTS.value or "bundled",
                              "num_batches": _NUM_BATCHES.value,
                              "splits": rows})


if __name__ == "__main__":
  app.run(main)
