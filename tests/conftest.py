import os
import shutil
import sys
import tempfile
from pathlib import Path

# Test helpers (smpl_files.py, xla_env.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


import jax  # noqa: E402
import pytest  # noqa: E402

from xla_env import CACHE_ENV, FAST_COMPILE, xla_flags  # noqa: E402


def pytest_configure(config):
  if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the first process
    config.compilation_cache = tempfile.mkdtemp(prefix="lgd_jax_test_xla_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = config.compilation_cache
    os.environ.update(CACHE_ENV)
    if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS",
                                                              ""):
      os.environ["XLA_FLAGS"] = xla_flags(FAST_COMPILE)
  jax.config.update("jax_compilation_cache_dir",
                    os.environ["JAX_COMPILATION_CACHE_DIR"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
  if getattr(config, "compilation_cache", None):
    shutil.rmtree(config.compilation_cache, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
  """Frees each module's compiled programs after it. A whole run otherwise
  holds thousands of them (the fuzz tests alone compile hundreds of
  shapes), and XLA:CPU once crashed (segfault while compiling) late in such
  a run, with the process at 5.4 GB."""
  yield
  jax.clear_caches()


@pytest.fixture(scope="module")
def tiny_weights_file(tmp_path_factory):
  """An untrained tiny network saved as a weight file."""
  import lgd_jax  # pylint: disable=g-import-not-at-top
  from lgd_jax import formats as keypoints, unroll as optimizer, weights  # pylint: disable=g-import-not-at-top
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  network = lgd_jax.network.from_config(config)
  params = optimizer.init_params(network, jax.random.PRNGKey(0),
                                 keypoints.NUM_CANONICAL)
  # Non-zero output layers, so updates are not trivially zero.
  params = jax.tree.map(lambda x: x + 0.01, params)
  path = tmp_path_factory.mktemp("weights") / "tiny.npz"
  weights.save_pretrained(path, config, params)
  return path


@pytest.fixture(scope="module")
def tiny_weights(tiny_weights_file):
  """The tiny network of `tiny_weights_file`, loaded."""
  from lgd_jax import weights  # pylint: disable=g-import-not-at-top
  return weights.load_pretrained(tiny_weights_file)
