"""Writers and pictures: meshes, rendered views."""
