"""Mocap data: readers, retargeting to the SMPL layout, the pose set."""
