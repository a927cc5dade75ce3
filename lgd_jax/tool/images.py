"""Finding and reading the photos keypoints belong to (for overlays and
for the image size a perspective camera needs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import PIL.Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def find_image(folder, name: str) -> Optional[Path]:
  """The image file called `name` in `folder`, or None.

  `name` may carry folders (COCO's `file_name`, e.g. Human-Art's
  `HumanArt/images/...`): `folder/name` is tried, then with the leading
  folders dropped one by one. A name without a suffix (an OpenPose file's
  stem) is tried with each of `IMAGE_SUFFIXES`.
  """
  parts = Path(name).parts
  suffixes = ("",) if Path(name).suffix else IMAGE_SUFFIXES
  for start in range(len(parts)):
    stem = Path(folder).joinpath(*parts[start:])
    for suffix in suffixes:
      candidate = stem.with_name(stem.name + suffix)
      if candidate.is_file():
        return candidate
  return None


def image_size(path) -> tuple[int, int]:
  """(width, height) in pixels, from the file's header only."""
  with PIL.Image.open(path) as image:
    return image.size


def read_image(path) -> np.ndarray:
  """(H, W, 3) uint8 RGB (grey and RGBA images converted)."""
  with PIL.Image.open(path) as image:
    return np.asarray(image.convert("RGB"))
