"""The `lgd-fit` tool: keypoint files in, SMPL files out."""
