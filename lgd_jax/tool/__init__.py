"""The `lgd-fit` tool: keypoint files in, SMPL files out.

`run(Options(input=..., output=...))` is the whole tool from Python;
`demo_paths()` gives the bundled example (annotation file, image folder).
"""

from lgd_jax.tool.cli import demo_paths
from lgd_jax.tool.options import Options
from lgd_jax.tool.pipeline import run
