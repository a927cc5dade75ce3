"""The package's layers (README, "Code map"): what `import lgd_jax` loads,
and which subpackage may import which."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lgd_jax"
# Subpackage -> the other subpackages it may import (the core always).
ALLOWED = {
    "core": set(),
    "tool": set(),
    "training": {"evaluation"},
    "evaluation": {"tool", "training", "build"},
    "build": {"tool", "training"},
}


def _layer(module: str) -> str:
  parts = module.split(".")
  return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "core"


def _imports(path: Path):
  """The lgd_jax modules a file imports (top level or inside functions)."""
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names if a.name.startswith("lgd_jax"))
    elif isinstance(node, ast.ImportFrom) and node.module and (
        node.module.startswith("lgd_jax")):
      yield node.module
      yield from (f"{node.module}.{a.name}" for a in node.names)


def _module_of(path: Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_its_layer_and_those_below(path):
  layer = _layer(_module_of(path))
  for name in _imports(path):
    other = _layer(name)
    assert other in ("core", layer) or other in ALLOWED[layer], (
        f"{_module_of(path)} ({layer}) imports {name} ({other})")


def test_import_lgd_jax_loads_only_the_core():
  loaded = json.loads(subprocess.run(
      [sys.executable, "-c", "import json, sys, lgd_jax; print(json.dumps("
       "sorted(m for m in sys.modules if m.startswith('lgd_jax'))))"],
      check=True, capture_output=True, text=True,
      cwd=PACKAGE.parent).stdout)
  assert "lgd_jax.fitting" in loaded
  assert [m for m in loaded if _layer(m) != "core"] == []


def test_subpackages_load_on_first_use():
  out = subprocess.run(
      [sys.executable, "-c", "import lgd_jax; print(lgd_jax.tool.__name__)"],
      check=True, capture_output=True, text=True, cwd=PACKAGE.parent).stdout
  assert out.strip() == "lgd_jax.tool"
