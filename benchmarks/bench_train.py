r"""Time of the training step of each stage of the bundled network's
retraining (experiments/train_default.sh), and the run it adds up to.

  python -m benchmarks.bench_train [--configs=configs.refiner,...]
      [--steps=10] [--output=REPORT.json]

For each config: the jitted training step (compiled first, not counted)
timed over --steps steps after two warm-up steps, the seconds per step,
and that times the config's `train_steps` in minutes. The total is set
against the 2 hours the default's retraining may take on this CPU; it
leaves out compilation, evaluations and checkpoints (a minute or two a
stage). The parameters are freshly initialised (no stage's weight file
needed): a step costs the same whatever their values. Every stage's
network gets the bundled network's inputs (read from its weight file), as
train_default.sh passes them to all three.
"""

import importlib
import time

import jax
from absl import app, flags

import lgd_jax
from lgd_jax.evaluation import timing
from lgd_jax.training import trainer

_CONFIGS = flags.DEFINE_list(
    "configs", ["configs.refiner", "configs.refiner_tilted",
                "configs.refiner_unroll8"],
    "Config modules, one per stage (train_default.sh's by default: stage "
    "3 as its export config, which holds the script's stage-3 unroll and "
    "takeover; its decay costs one multiply a step).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per config.")
_INPUTS = flags.DEFINE_list(
    "inputs", [], "The update network's inputs in every stage (default: the "
    "bundled network's).")
_OUTPUT = flags.DEFINE_string(
    "output", "", "Also write the figures and the machine to this JSON file "
    "('' for none).")

_BUDGET_MINUTES = 120.0


def step_seconds(config, num_steps: int) -> float:
  """Mean seconds of one training step of `config` (after compiling and
  two warm-up steps)."""
  setup = trainer.make_setup(config)
  step = trainer.make_train_step(setup, config,
                                 trainer.training_poses(config))
  state = trainer.place_state(setup, trainer.init_state(
      setup, config, from_weights=False))
  key = jax.random.PRNGKey(0)
  for _ in range(3):
    state, _ = step(state, key)
  jax.block_until_ready(state)
  start = time.perf_counter()
  for _ in range(num_steps):
    state, _ = step(state, key)
  jax.block_until_ready(state)
  return (time.perf_counter() - start) / num_steps


def main(argv):
  del argv
  stages, total = [], 0.0
  inputs = tuple(_INPUTS.value or
                 lgd_jax.load_pretrained().config.network.inputs)
  print(f"{jax.device_count()} {jax.devices()[0].platform} device(s), "
        f"network inputs {', '.join(inputs)}")
  for name in _CONFIGS.value:
    config = importlib.import_module(name).get_config()
    config.network.inputs = inputs
    seconds = step_seconds(config, _STEPS.value)
    minutes = seconds * config.train_steps / 60
    total += minutes
    stages.append({"config": name, "inputs": list(inputs),
                   "seconds_per_step": round(seconds, 4),
                   "train_steps": config.train_steps,
                   "minutes": round(minutes, 2)})
    print(f"{name}: {seconds:.3f} s/step x {config.train_steps} steps = "
          f"{minutes:.1f} min", flush=True)
  print(f"total {total:.1f} min = {total / _BUDGET_MINUTES:.2f} x the "
        f"{_BUDGET_MINUTES:.0f}-minute budget")
  if _OUTPUT.value:
    timing.save_report(_OUTPUT.value, stages=stages,
                       total_minutes=round(total, 2),
                       of_budget=round(total / _BUDGET_MINUTES, 3))


if __name__ == "__main__":
  app.run(main)
