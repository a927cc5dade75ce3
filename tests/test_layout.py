"""The package's layers (README, "Code map"): what `import lgd_jax` loads,
and which subpackage may import which."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lgd_jax"
README = PACKAGE.parent / "README.md"
# Subpackage -> what else it may import, subpackages or single modules
# (the core always).
ALLOWED = {
    "core": set(),
    "tool": set(),
    "training": {"evaluation.metrics"},
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


def _allowed(layer: str, name: str) -> bool:
  """Whether a module of `layer` may import `name` (an allowed module's
  package too: `from lgd_jax.evaluation import metrics`)."""
  if _layer(name) in ("core", layer):
    return True
  relative = name.removeprefix("lgd_jax.")
  return any(relative == allowed or relative.startswith(allowed + ".") or
             allowed.startswith(relative + ".") for allowed in ALLOWED[layer])


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_its_layer_and_those_below(path):
  layer = _layer(_module_of(path))
  for name in _imports(path):
    assert _allowed(layer, name), (
        f"{_module_of(path)} ({layer}) imports {name} ({_layer(name)})")


def test_readme_code_map_names_every_module():
  """Each module appears, `quoted`, in its package's row of the code map."""
  rows = {}
  for line in README.read_text(encoding="utf-8").splitlines():
    package = re.match(r"\| `(lgd_jax[\w.]*)`", line)
    if package:
      rows[package.group(1)] = line.split("|")[2]
  missing = []
  for path in sorted(PACKAGE.rglob("*.py")):
    if path.name == "__init__.py":
      continue
    package, name = _module_of(path).rsplit(".", 1)
    if f"`{name}`" not in rows.get(package, ""):
      missing.append(f"{package}.{name}")
  assert not missing, f"not in the README's code map: {missing}"


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
