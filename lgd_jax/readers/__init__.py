"""Keypoint files: reading OpenPose, COCO-style, MPII and array files into
one table of people (`read_keypoints`), and writing OpenPose JSON."""

from lgd_jax.readers.reading import (KeypointFileError, KeypointSet,
                                     read_keypoints, write_openpose)
