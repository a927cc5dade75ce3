"""Atomic file writing: a crash never leaves a half-written output."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path in the target's folder; renames it to `path`
  only if the block finishes without an exception."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=".partial" + path.suffix)
  os.close(fd)
  os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would surprise users
  try:
    yield Path(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask
