"""Padding batches to one compiled shape, and running calls chunk by chunk.

Every jitted call compiles once per input shape; padding the rows of the
last (or only) chunk to the chunk's size lets one compilation serve inputs
of any length. People (and frames) are independent, so padded rows never
change the others' results.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def pad_rows(arrays, rows: int, fill=None):
  """Pads every (N, ...) leaf of `arrays` to `rows` rows: with copies of
  row 0 (`fill=None`: a valid input, so the padding computes nothing odd)
  or with `fill`. JAX arrays stay on their devices, NumPy ones on the host.
  """
  def pad(a):
    xp = jnp if isinstance(a, jax.Array) else np
    extra = rows - a.shape[0]
    if extra <= 0:
      return a
    if fill is None:
      return xp.concatenate([a, xp.repeat(a[:1], extra, 0)])
    return xp.pad(a, [(0, extra)] + [(0, 0)] * (a.ndim - 1),
                  constant_values=fill)

  return jax.tree.map(pad, arrays)


def in_chunks(call, arrays, chunk_size: int, on_chunk=None, *,
              full_chunks: bool = False):
  """`call(*arrays)` on (N, ...) NumPy leaves, `chunk_size` rows at a time.

  Chunks have min(chunk_size, N) rows (`chunk_size` rows with
  `full_chunks`, for one shape whatever N is); the last is padded by
  `pad_rows` and its padding cut off again. `on_chunk(rows done)` is called
  after each chunk (e.g. a progress bar's `update`).

  Returns:
    The results' leaves concatenated over the chunks, as NumPy arrays.
  """
  n = len(jax.tree.leaves(arrays)[0])
  if n == 0:
    return jax.device_get(call(*arrays))
  size = max(1, chunk_size if full_chunks else min(chunk_size, n))
  arrays = pad_rows(arrays, n + (-n % size))
  chunks = []
  for start in range(0, n, size):
    chunks.append(jax.device_get(call(*jax.tree.map(
        lambda a, start=start: a[start:start + size], arrays))))
    if on_chunk is not None:
      on_chunk(min(size, n - start))
  return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *chunks)
