"""Reading keypoint files; writing meshes, pictures and overlays."""
