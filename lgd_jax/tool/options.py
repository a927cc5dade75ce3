"""`lgd-fit`'s options (`Options`) and their checks."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from lgd_jax import sequences
from lgd_jax import unroll

CAMERAS = ("weak", "perspective")
SEQUENCE_MODES = ("auto", "on", "off")
MESH_FORMATS = ("obj", "ply")


@dataclasses.dataclass(frozen=True)
class Options:
  """What to fit and what to write; `lgd-fit`'s flags.

  Attributes:
    input: an OpenPose JSON file or folder, a COCO-style or MPII annotation
      file, or a .npy/.npz array (see `lgd_jax.read_keypoints`).
    output: the output folder.
    images: folder of the photos, for overlays and image sizes; default:
      the input's folder.
    keypoint_format: a `lgd_jax.FORMATS` name; default: detected.
    camera: "weak" (weak perspective, the paper's) or "perspective" (known
      intrinsics: `focal`, the principal point at the image centre).
    focal: focal length in pixels; implies "perspective"; default for
      "perspective": the image diagonal (`cameras.default_focal_length`).
    image_size: (width, height) for every image, when neither the input
      nor the images give it (perspective only).
    sequence: "on": the input is a video (tracks, one npz per track);
      "off": independent images; "auto": "on" for OpenPose folders and for
      files with track ids (PoseTrack), else "off".
    warm_start: how each video frame's fit starts (`sequences.fit_tracks`):
      "checked" (default: from the track's previous fit, kept where its
      reprojection loss is no higher than the frame's independent fit's,
      else the independent fit), "anchored" (fitted independently, then
      again from the track's last independent fit), "restarted" (from the
      track's previous fit, cold again after every
      `sequences.CHAIN_LENGTH` fits), "chained" (from the track's previous
      fit) or "off" (independent fits); see the README's "Videos".
    smooth: Gaussian smoothing of each track's parameters over time, sigma
      in frames; 0: off.
    fps: frame rate written to video outputs (`mocap_framerate`).
    save_meshes: "" (none), "obj" or "ply": one mesh per fitted person.
    save_overlays: write a picture per image found: meshes over the photo,
      keypoints and skeletons, each person's 2D error.
    chunk_size: people per compiled fit call.
    min_confidence: keypoints at or below it count as missing.
    descent_iterations: gradient-descent iterations after the learned
      steps (`fit`'s), 0: none.
    upright_beyond_deg: people whose body axis is turned more than this
      from the image's vertical are fitted turned upright (`fit`'s); 180:
      never.
    align: the fits aligned in the image after the learned steps (`fit`'s
      `align`).
    weights: a `save_pretrained` file; default: the bundled network.
    body_model: a body-model file or folder (`lgd_jax.load_body_model`)
      to fit with instead of the one the weights were trained with (same
      number of betas); default: the weights'.
    progress: show progress bars.
  """

  input: str
  output: str
  images: Optional[str] = None
  keypoint_format: Optional[str] = None
  camera: str = "weak"
  focal: Optional[float] = None
  image_size: Optional[tuple[int, int]] = None
  sequence: str = "auto"
  warm_start: str = sequences.DEFAULT_WARM_START
  # With checked chains sigma 2 was the most accurate on CMU and within
  # 0.2 mm of sigma 1 on val
  # (experiments/reports/evaluate_sequences_aligned.json).
  smooth: float = 2.0
  fps: float = 30.0
  save_meshes: str = ""
  save_overlays: bool = False
  chunk_size: int = 1024
  min_confidence: float = 0.0
  descent_iterations: int = 0
  upright_beyond_deg: float = unroll.UPRIGHT_BEYOND_DEG
  align: bool = True
  weights: Optional[str] = None
  body_model: Optional[str] = None
  progress: bool = True

  def __post_init__(self):
    # "off"/"chained" for the booleans of earlier releases; ValueError else.
    object.__setattr__(self, "warm_start",
                       sequences.warm_start_mode(self.warm_start))
    checks = [
        (self.camera in CAMERAS, f"camera must be one of {CAMERAS}"),
        (self.sequence in SEQUENCE_MODES,
         f"sequence must be one of {SEQUENCE_MODES}"),
        (self.save_meshes in ("",) + MESH_FORMATS,
         f"save_meshes must be '' or one of {MESH_FORMATS}"),
        (self.chunk_size >= 1, "chunk_size must be at least 1"),
        (self.focal is None or (np.isfinite(self.focal) and self.focal > 0),
         "focal must be a positive number of pixels"),
        (self.image_size is None or (
            len(self.image_size) == 2 and min(self.image_size) > 0),
         "image_size must be two positive numbers (width, height)"),
        (np.isfinite(self.smooth) and self.smooth >= 0,
         "smooth must be >= 0 frames"),
        (np.isfinite(self.fps) and self.fps > 0, "fps must be positive"),
        (0 <= self.min_confidence < 1, "min_confidence must be in [0, 1)"),
        (isinstance(self.descent_iterations, int) and
         not isinstance(self.descent_iterations, bool) and
         self.descent_iterations >= 0,
         "descent_iterations must be a whole number >= 0"),
        (0 <= self.upright_beyond_deg <= 180,
         "upright_beyond_deg must be within 0..180 degrees"),
        (isinstance(self.align, bool), "align must be True or False"),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(message)

  @property
  def perspective(self) -> bool:
    return self.camera == "perspective" or self.focal is not None
