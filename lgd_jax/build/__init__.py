"""Build-time code: mocap readers, retargeting, the pose-set and body-model
builds and their figures. `import lgd_jax` never loads it."""
