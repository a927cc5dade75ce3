"""Benchmarks and methods of `experiments/evaluate.py`.

  --config=configs/evaluate.py             # methods × every benchmark
  --config=configs/evaluate.py:ablations   # the ablation networks, realistic
  --config=configs/evaluate.py:converge    # training ingredients, 16 steps

Each benchmark is a pose-set split (held-out Bandai-Namco clips, CMU, HDM05)
under a detector profile. Profiles override `configs/default.py`'s `data`;
all use COCO-17 input and any heading. Focal length does not appear:
keypoints are normalised to the person's box, so only the perspective
distortion (the distance in body sizes) matters, and "perspective" spans
2-12 m while "perspective_near" puts people 1.5-3 m from the camera.
"""

import ml_collections
from ml_collections import config_dict

from configs import default
from configs import gradient_descent
from configs import smplify

_COCO = dict(formats=("coco17",), format_weights=(1,))
_WEAK = dict(perspective_prob=0.0)
_REALISTIC = dict(noise=(0.01, 0.01), keep_prob=0.8, **_WEAK)
PROFILES = {
    "clean": dict(noise=(0.0, 0.0), keep_prob=1.0, **_WEAK),
    "noise": dict(noise=(0.02, 0.02), keep_prob=1.0, **_WEAK),
    "dropout": dict(noise=(0.0, 0.0), keep_prob=0.7, **_WEAK),
    "occlusion": dict(noise=(0.0, 0.0), keep_prob=1.0, occlude_prob=1.0,
                      **_WEAK),
    # The validation setting: 1 % noise, 20 % of the joints dropped.
    "realistic": dict(noise=(0.01, 0.01), keep_prob=0.8, **_WEAK),
    "perspective": dict(noise=(0.01, 0.01), keep_prob=0.8,
                        perspective_prob=1.0, distance=(2.0, 12.0)),
    "perspective_near": dict(noise=(0.01, 0.01), keep_prob=0.8,
                             perspective_prob=1.0, distance=(1.5, 3.0)),
    # Realistic, and: cameras looking down by -20 to +60 degrees (studio,
    # surveillance), rolled up to ±10;
    "elevated": dict(_REALISTIC, pitch_range_deg=(-20.0, 60.0),
                     roll_range_deg=(-10.0, 10.0)),
    # everyone cut by an image edge, mostly the bottom one;
    "truncated": dict(_REALISTIC, truncate_prob=1.0),
    # a detector's drops (hands, feet, the far side), noisier extremities,
    # 5 % of the people with their arms or legs swapped.
    "detector": dict(_REALISTIC, detector=1.0, swap_prob=0.05),
}
ABLATIONS = ("", "inputs=x", "inputs=x+grad", "inputs=x+theta",
             "inputs=theta+grad", "steps=1", "steps=2", "steps=3", "steps=5",
             "released")


# The training-ingredient networks (configs/ablation.py `with=`), run for 16
# steps to show convergence; `experiments/train_ablations.sh converge`.
CONVERGE_ABLATIONS = (
    "with=views", "with=views+starts", "with=views+mirror+mix",
    "with=views+unroll8", "with=views+starts+unroll8",
    "with=views+starts+unroll8+stepcodes",
    "with=someviews+starts+unroll8+stepcodes",
    "with=views+starts+unroll8+refiner",
    "with=someviews+starts+unroll8+refiner",
    "with=views+starts+unroll12+refiner")
CONVERGE_PROFILES = ("realistic", "truncated", "detector")


def ablation_weights(spec: str) -> str:
  """Where `experiments/train_ablations.sh` exports each ablation network."""
  name = spec.replace("=", "_").replace("+", "_")
  return f"outputs/ablations/{name or 'reference'}.npz"


def get_config(which: str = ""):
  config = ml_collections.ConfigDict()
  config.seed = 2026
  config.num_people = 1024
  config.chunk = 1024  # people per jitted call (and per timed call)
  config.body_model = None  # None: the bundled model
  config.pose_set = None
  config.num_betas = 10
  config.splits = ("val", "cmu", "hdm05")
  # Only the splits' clips of these sources (empty: all); e.g.
  # "('bandai-namco-1','bandai-namco-2')": the val the v1 figures used.
  config.datasets = ()
  config.profiles = tuple(PROFILES)
  config.timed_profile = "realistic"
  config.figure_profile = "realistic"
  settings = {}
  for name, overrides in PROFILES.items():
    data = default.get_config().data
    data.update(dict(**_COCO, **overrides))
    settings[name] = data
  config.profile_settings = ml_collections.ConfigDict(settings)
  if which == "ablations":
    config.profiles = ("realistic",)
    config.timed_profile = ""  # accuracy only: see the main evaluation
    config.methods = ml_collections.ConfigDict({
        spec or "reference": dict(kind="learned",
                                  weights=ablation_weights(spec))
        for spec in ABLATIONS})
  elif which == "converge":
    config.num_people = 256
    config.profiles = CONVERGE_PROFILES
    config.timed_profile = ""
    # The bundled network first: how far 16 steps take it today.
    entries = {"bundled": dict(kind="learned", weights="", num_steps=16)}
    entries.update({
        spec[len("with="):]: dict(
            kind="learned", weights=ablation_weights(spec), num_steps=16)
        for spec in CONVERGE_ABLATIONS})
    config.methods = ml_collections.ConfigDict(entries)
  elif not which:
    config.methods = ml_collections.ConfigDict(dict(
        # "": the bundled weights; num_steps None: the trained N;
        # num_starts 2: also from the start turned half round;
        # descent_iterations: lgd_jax.descent after the learned steps;
        # upright_beyond_deg None: fit's (180: never turn people upright);
        # align None: fit's (True; lgd_jax.alignment).
        lgd=dict(kind="learned", weights="",
                 num_steps=config_dict.placeholder(int), num_starts=1,
                 descent_iterations=0,
                 upright_beyond_deg=config_dict.placeholder(float),
                 align=config_dict.placeholder(bool)),
        # The bundled network, then 50 iterations of lgd_jax.descent.
        lgd_descent=dict(kind="learned", weights="", descent_iterations=50),
        smplify=dict(kind="smplify", config=smplify.get_config(),
                     record_every=25),
        gd=dict(kind="gradient_descent",
                config=gradient_descent.get_config(), record_every=50),
        gd_priors=dict(kind="gradient_descent",
                       config=gradient_descent.get_config("priors"),
                       record_every=50),
        lifting=dict(kind="learned", weights="outputs/lifting.npz"),
    ))
  else:
    raise ValueError(f"unknown evaluation {which!r}: '', 'ablations' or "
                     "'converge'")
  return config
