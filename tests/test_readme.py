"""The README's Python examples run as written, in a folder without the
repository's data (as in a user's fresh clone)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"),
                    re.S)


def test_the_readme_has_examples():
  assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=lambda c: c.splitlines()[0][:40])
def test_readme_example_runs(code, tmp_path):
  assert "../shared" not in code  # a user's clone has no ../shared
  run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=1800)
  assert run.returncode == 0, run.stderr[-3000:]
