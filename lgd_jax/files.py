"""Atomic file writing: a crash never leaves a half-written output."""

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PARTIAL = ".partial"  # the suffix of `atomic_path`'s temporary files


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path in the target's folder; renames it to `path`
  only if the block finishes without an exception.

  The temporary file is `.{name}.{random}.partial`: hidden, and ending in
  no output's suffix, so a reader globbing for `*.npz` (or `*.png`, ...)
  never picks up a killed run's leftover. Writers that choose the format
  by the suffix must be told the format (e.g. matplotlib's `format=`).
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=PARTIAL)
  os.close(fd)
  os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would surprise users
  try:
    yield Path(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def save_json(path, report, indent: int = 1) -> None:
  """Writes a JSON-ready object (a report, a summary) atomically, indented,
  with a final newline."""
  with atomic_path(path) as tmp:
    tmp.write_text(json.dumps(report, indent=indent) + "\n",
                   encoding="utf-8")


def remove_partial_files(folder) -> int:
  """Deletes the temporary files `atomic_path` leaves when its process is
  killed (SIGKILL skips its cleanup) anywhere under `folder`; returns how
  many. Only for folders no other process is writing into: it would
  delete that process's files in progress."""
  removed = 0
  # ".partial*" also matches older versions' `.{name}.{random}.partial.npz`.
  for path in Path(folder).glob(f"**/.*{PARTIAL}*"):
    if path.is_file():
      path.unlink()
      removed += 1
  return removed


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


# Zip entries carry a timestamp; a fixed one makes equal arrays equal bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path, **arrays) -> None:
  """Writes arrays as an uncompressed .npz, atomically and reproducibly:
  the same arrays always give the same bytes (`np.savez` stamps the time).

  Readable by `np.load` without pickle; strings become unicode arrays.
  """
  with atomic_path(path) as tmp:
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
      for name, value in arrays.items():
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
        info.external_attr = 0o644 << 16
        with archive.open(info, "w", force_zip64=True) as f:
          np.lib.format.write_array(f, np.asanyarray(value),
                                    allow_pickle=False)
