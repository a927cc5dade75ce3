"""Training the learned optimizer on mocap poses: the network is unrolled
for its steps on synthetic keypoints and trained on the error of every
step's Θ against the ground truth (`parameter_loss`).

`train_and_evaluate(config, workdir)` is the whole job: batches are sampled
on device inside one jitted step (sampling, inner gradients, network, outer
gradient, optax update), the batch is sharded over a device mesh with named
shardings, checkpoints are orbax's (keep-last-k, atomic), and resuming from
a checkpoint continues exactly: the step's randomness is a function of the
step number only.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import tqdm

from lgd_jax import cameras
from lgd_jax import formats as kp
from lgd_jax import network as network_lib
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax import weights as weights_lib
from lgd_jax.body import rotations
from lgd_jax.body.cache import Body, load_body
from lgd_jax.body.model import NUM_JOINTS
from lgd_jax.evaluation import metrics
from lgd_jax.training import pose_set
from lgd_jax.training import sampling
from lgd_jax.training import starts as starts_lib


class TrainState(NamedTuple):
  step: jax.Array
  params: Any
  opt_state: Any
  chains: Optional[starts_lib.Chains] = None  # with `starts.chained_prob`
  averaged: Any = None  # with `optimizer.ema_decay`: see `final_params`


class Setup(NamedTuple):
  """What every step needs besides the state (arrays live on device)."""

  network: network_lib.UpdateNetwork
  body: Body
  mesh: jax.sharding.Mesh


def make_setup(config) -> Setup:
  # Auto axes: XLA propagates the batch sharding through the whole step.
  mesh = jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))
  # The keypoint path's one-hot form: faster gradients for 512 bodies' 52
  # keypoints (benchmarks/bench_train.py).
  body = load_body(config.body_model, config.num_betas).with_one_hot_bones()
  return Setup(network_lib.from_config(config), body, mesh)


def make_tx(config) -> optax.GradientTransformation:
  opt = config.optimizer
  schedule = optax.warmup_exponential_decay_schedule(
      init_value=0.0, peak_value=opt.learning_rate,
      warmup_steps=opt.warmup_steps, transition_steps=opt.decay_every,
      decay_rate=opt.decay_rate)
  return optax.chain(optax.clip_by_global_norm(opt.clip_norm),
                     optax.adam(schedule))


# `fold_in` numbers of the training starts' draws (the batch and dropout
# keys stay as they were).
_STARTS = 10
_DRIFTED = 11
_CHAINED = 12
_CHAIN_RESTART = 13


def train_unroll_steps(config) -> int:
  """Steps unrolled in training: `train_unroll_steps` when set (longer than
  `num_steps`: the later steps start from the network's own outputs), else
  `num_steps`."""
  return config.get("train_unroll_steps", None) or config.num_steps


def eval_unroll_steps(config) -> int:
  """Steps unrolled in evaluation: `eval.num_steps` when set (to watch
  convergence past `num_steps`), else `num_steps`."""
  return max(config.eval.get("num_steps", None) or 0, config.num_steps)


def run_optimizer(setup: Setup, config, params, batch: sampling.Batch,
                  num_steps: int, *, init=None, train=False,
                  rng=None) -> unroll_lib.Unroll:
  """The unroll; in training (`train`: to be differentiated) its steps
  compiled inline unless `train_inline_unroll` is False, and with the
  reprojection terms each step's body keypoints for `parameter_loss`."""
  return unroll_lib.unroll(
      setup.network, params, setup.body, batch.keypoints,
      batch.confidence, num_steps, init=init,
      grad_scale=config.grad_scale,
      stop_inner_gradient=config.stop_inner_gradient, train=train, rng=rng,
      with_points=train and bool(config.loss.joints3d or
                                 config.loss.keypoints2d),
      scan_unroll=train and config.get("train_inline_unroll", True))


def joint_weights(names) -> np.ndarray:
  """The released LGD code's joint weights: 8 on wrists and ankles, 4 on
  elbows and knees, 2 on shoulders and hips, 1 elsewhere."""
  def weight(name):
    for parts, value in ((("wrist", "ankle"), 8.0), (("elbow", "knee"), 4.0),
                         (("shoulder", "hip"), 2.0)):
      if any(part in name for part in parts):
        return value
    return 1.0
  return np.array([weight(name) for name in names], np.float32)


def parameter_loss(setup: Setup, config, thetas: jax.Array,
                   batch: sampling.Batch, points=None):
  """Σ_n weighted L1 of Θ_n − Θ_gt over the steps (paper), or their mean;
  step n's term scaled by γ_s^(n-1) (`loss.step_decay`, 1 by default).

  The global rotation is compared as rotation matrices: axis-angle L1 jumps
  where the angle wraps at π. People with too few visible keypoints to fit
  (`cameras.enough_visible`) are left out, as in the paper. `points`: the
  unroll's `Unroll.points` of `thetas` when it has them (the reprojection
  terms then run no body model on the steps).
  """
  weights = config.loss
  num_betas = setup.body.model.num_betas
  # Θ_1..Θ_N; with no steps (direct lifting) the initial estimate Θ_0.
  first = 1 if thetas.shape[0] > 1 else 0
  steps = thetas[first:]
  target = sampling.target_theta(batch)
  diff = jnp.abs(steps - target)
  rot = rotations.axis_angle_to_matrix(steps[..., :3])
  rot_gt = rotations.axis_angle_to_matrix(target[..., :3])
  terms = {
      "global_rotation": jnp.abs(rot - rot_gt).mean((-2, -1)),
      "pose": diff[..., 3:theta_lib.NUM_POSE].mean(-1),
      "betas": diff[..., theta_lib.NUM_POSE:theta_lib.NUM_POSE +
                    num_betas].mean(-1),
      "camera": diff[..., -theta_lib.NUM_CAMERA:].mean(-1),
  }
  if weights.joints3d or weights.keypoints2d:
    # Both terms from one set of keypoints (the first 24 are SMPL's joints).
    points3d, points2d = (theta_lib.keypoints(steps, setup.body)
                          if points is None else
                          (part[first:] for part in points))
    target3d, target2d = theta_lib.keypoints(target, setup.body)
  if weights.joints3d:
    joint_w = jnp.asarray(joint_weights(kp.CANONICAL_NAMES[:NUM_JOINTS]))
    error = jnp.abs(points3d[..., :NUM_JOINTS, :] -
                    target3d[None, ..., :NUM_JOINTS, :]).sum(-1)
    terms["joints3d"] = (error * joint_w).sum(-1) / joint_w.sum()
  if weights.keypoints2d:
    point_w = batch.confidence * jnp.asarray(
        joint_weights(kp.CANONICAL_NAMES))
    error = jnp.abs(points2d - target2d[None]).sum(-1)
    terms["keypoints2d"] = (error * point_w).sum(-1) / jnp.maximum(
        point_w.sum(-1), 1e-6)
  valid = cameras.enough_visible(batch.confidence)
  per_step = sum(weights[name] * term for name, term in terms.items())
  # Step n weighs γ_s^(n-1) (`step_decay`): below 1 the early steps, the ones
  # `fit` returns by default, count more than the tail of a long unroll.
  step_w = weights.step_decay ** jnp.arange(per_step.shape[0],
                                            dtype=per_step.dtype)
  total = jnp.sum(step_w * jnp.sum(per_step * valid, -1))
  if not weights.sum_over_steps:
    total = total / step_w.sum()
  loss = total / jnp.maximum(valid.sum(), 1)
  scalars = {f"loss/{name}": metrics.valid_mean(term[-1], valid)
             for name, term in terms.items()}
  return loss, scalars


def make_train_step(setup: Setup, config, poses: jax.Array):
  """The jitted training step: (state, base_key) -> (state, scalars)."""
  refiner_only = config.get("train_refiner_only", False)
  if refiner_only and not setup.network.refine_after:
    raise ValueError("train_refiner_only needs a network with a refiner "
                     "(network.refine_after > 0)")
  starts_lib.check(config, setup.network.refine_after,
                   train_unroll_steps(config))
  tx = make_tx(config)
  ema_decay = _ema_decay(config)
  if not 0.0 <= ema_decay < 1.0:
    raise ValueError(f"optimizer.ema_decay must be in [0, 1), not {ema_decay}")
  data_sharding = NamedSharding(setup.mesh, P("data"))

  def step_fn(state: TrainState, base_key):
    key = jax.random.fold_in(base_key, state.step)
    batch_key, dropout_key = jax.random.split(key)
    batch = sampling.sample_batch(batch_key, poses, setup.body,
                                  config.data)
    if setup.mesh.size > 1:  # on one device the constraint only slows XLA
      batch = jax.lax.with_sharding_constraint(batch, data_sharding)

    # The first `perturbed` people start near the truth, the next `drifted`
    # from the network's own fits (its current parameters, outside the loss:
    # no gradient flows into them), the next `chained` are the state's
    # chains a frame on, the rest start from Θ_0: two unrolls, the `warm`
    # ones and the others, so that each step runs one network.
    size = batch.keypoints.shape[0]
    perturbed = starts_lib.num_perturbed(config, size)
    drifted = starts_lib.num_drifted(config, size)
    chained_from = perturbed + drifted
    warm = chained_from + starts_lib.num_chained(config, size)
    rows = lambda people, a, b: jax.tree.map(lambda leaf: leaf[a:b], people)
    inits = []
    if perturbed:
      inits.append(starts_lib.training_starts(
          jax.random.fold_in(key, _STARTS),
          sampling.target_theta(rows(batch, 0, perturbed)), config))
    if drifted:
      reached = run_optimizer(
          setup, config, state.params, rows(batch, perturbed, chained_from),
          starts_lib.drifted_steps(config)[1]).thetas
      inits.append(starts_lib.pick_steps(jax.random.fold_in(key, _DRIFTED),
                                         reached, config))
    if warm > chained_from:
      restart = jnp.logical_or(
          state.step == 0, jax.random.uniform(
              jax.random.fold_in(key, _CHAIN_RESTART),
              (warm - chained_from,)) < config.starts.chain_restart_prob)
      chain_batch, chain_init = starts_lib.chain_starts(
          jax.random.fold_in(key, _CHAINED), state.chains,
          rows(batch, chained_from, warm), restart, config, setup.body)
      # From here on the batch holds the chains' people in their rows.
      batch = jax.tree.map(lambda fresh, chain: fresh.at[chained_from:warm]
                           .set(chain), batch, chain_batch)
      inits.append(chain_init)
    init = jnp.concatenate(inits) if warm else None

    def loss_fn(params):
      if refiner_only:
        params = network_lib.only_refiner_trainable(params)
      run = lambda first, last, rng, **kw: run_optimizer(
          setup, config, params, rows(batch, first, last),
          train_unroll_steps(config), train=True, rng=rng, **kw)
      runs = [run(warm, None, dropout_key)] if warm < size else []
      if warm:
        runs.insert(0, run(0, warm, jax.random.fold_in(dropout_key, 1),
                           init=init))
      unrolled = jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=1),
                              *runs)
      thetas = unrolled.thetas
      loss, scalars = parameter_loss(setup, config, thetas, batch,
                                     unrolled.points)
      scalars["inner_loss/final"] = unrolled.losses[-1].mean()
      return loss, (scalars, thetas)

    (loss, (scalars, thetas)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    chains = state.chains
    if warm > chained_from:  # each chain goes on from its fit's Θ_N
      chains = starts_lib.Chains(
          chain_batch, thetas[config.num_steps, chained_from:warm])
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    averaged = state.averaged
    if ema_decay:  # in this form an entry that stays (a frozen network) stays
      averaged = jax.tree.map(lambda a, p: a + (1 - ema_decay) * (p - a),
                              averaged, params)
    scalars["loss/total"] = loss
    scalars["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state, chains,
                      averaged), scalars

  # Shardings come from the inputs (`place_state`): on one device, jit's
  # explicit `in_shardings` route XLA:CPU through its SPMD partitioner, ~8x
  # slower here (inputs committed to the device are not: same speed).
  return jax.jit(step_fn, donate_argnums=0)


def place_state(setup: Setup, state: TrainState) -> TrainState:
  """Replicates the state over the mesh; on one device commits it there.

  A restored checkpoint's arrays are committed to a device, a fresh state's
  are not, and jit compiles the two apart; committed alike, a resumed run
  reuses the fresh run's compiled steps (compilation cache).
  """
  if setup.mesh.size == 1:
    return jax.device_put(state, setup.mesh.devices.flat[0])
  return jax.device_put(state, NamedSharding(setup.mesh, P()))


def eval_batches(setup: Setup, config, split: str) -> list[sampling.Batch]:
  """Fixed evaluation batches from a pose-set split (same every time)."""
  poses = jnp.asarray(pose_set.load_pose_set(split, config.pose_set).poses)
  data = ml_collections.ConfigDict(config.data.to_dict())
  data.update(config.eval.data.to_dict())
  key = jax.random.PRNGKey(config.eval.seed)
  return [sampling.compiled_sample_batch(jax.random.fold_in(key, i), poses,
                                         setup.body, data)
          for i in range(config.eval.num_batches)]


def make_eval_step(setup: Setup, config):
  """Jitted: (params, batch) -> MPJPE and PA-MPJPE in mm and the inner
  loss after each step 0..`eval_unroll_steps`."""

  def eval_fn(params, batch):
    unrolled = run_optimizer(setup, config, params, batch,
                             eval_unroll_steps(config))
    mpjpe, pa_mpjpe = metrics.per_step_joint_errors(
        setup.body, unrolled.thetas, sampling.target_theta(batch))
    valid = cameras.enough_visible(batch.confidence)
    return {"mpjpe": metrics.valid_mean(mpjpe, valid),
            "pa_mpjpe": metrics.valid_mean(pa_mpjpe, valid),
            "inner_loss": metrics.valid_mean(unrolled.losses, valid)}

  return jax.jit(eval_fn)


def mean_eval_metrics(eval_step, params, batches) -> dict:
  """Mean over batches of each per-step metric: {name: [step 0..N]}."""
  results = [eval_step(params, b) for b in batches]
  return {k: np.mean([np.asarray(r[k]) for r in results], axis=0).tolist()
          for k in results[0]}


def init_state(setup: Setup, config, from_weights: bool = True) -> TrainState:
  """Step 0: a fresh network, or (`from_weights`) `config.init_weights`' (a
  weight file of the same network) to train on from there; a fresh
  optimizer."""
  params = unroll_lib.init_params(setup.network,
                                 jax.random.PRNGKey(config.seed),
                                 kp.NUM_CANONICAL)
  if from_weights and config.get("init_weights", None):
    params = _start_params(config, params)
  return TrainState(jnp.array(0, jnp.int32), params,
                    make_tx(config).init(params),
                    starts_lib.empty_chains(config, kp.NUM_CANONICAL),
                    # A copy: the step donates the state's buffers.
                    jax.tree.map(jnp.copy, params) if _ema_decay(config)
                    else None)


def _ema_decay(config) -> float:
  return config.optimizer.get("ema_decay", 0.0)  # 0: no average kept


def final_params(state: TrainState):
  """What a run's state evaluates and exports: the exponential moving
  average of its parameters (each step moves it 1 - `optimizer.ema_decay`
  of the way to the new ones) where it keeps one, else its parameters."""
  return state.params if state.averaged is None else state.averaged


def _start_params(config, fresh):
  """`config.init_weights`' params; ValueError unless its network is the
  config's (same layout, same parameter shapes as `fresh`), or differs
  only in the refiner's width: then its refiner is left out and `fresh`'s
  trained from scratch (e.g. a narrower refiner behind a trained path)."""
  start = weights_lib.load_pretrained(config.init_weights)
  start_layout, layout = (network_lib.parameter_layout(network) for network
                          in (start.config.network, config.network))
  new_refiner = start_layout["refiner_features"] != layout["refiner_features"]
  for each in (start_layout, layout):
    del each["refiner_features"]
  if start_layout != layout:
    raise ValueError(
        f"{config.init_weights}: its network ({start.config.network}) is not "
        f"this config's ({config.network}); train from it with the same "
        "network settings (the refiner's width may differ)")
  params = start.params
  if new_refiner:  # the same tree; only the refiner's leaves' shapes differ
    params = jax.tree_util.tree_map_with_path(
        lambda path, mine, theirs: mine if network_lib.in_refiner(path)
        else theirs, fresh, start.params)
  shapes = lambda tree: jax.tree.map(jnp.shape, tree)
  if shapes(params) != shapes(fresh):
    raise ValueError(f"{config.init_weights}: its parameters do not have "
                     "this network's shapes")
  return params


def training_poses(config) -> jax.Array:
  """The poses training batches are drawn from: the pose set's train
  split, its tilted poses repeated to `tilted_share` of the draws and its
  upright ones with a bent hip (sitting, squatting) to `bent_hip_share`."""
  poses = pose_set.load_pose_set("train", config.pose_set).poses
  tilted = pose_set.pelvis_tilt_deg(poses) > pose_set.TILTED_DEG
  bent = (pose_set.hip_bend_deg(poses) > pose_set.BENT_HIP_DEG) & ~tilted
  return jnp.asarray(pose_set.oversample(
      poses, [(tilted, config.get("tilted_share", 0.0)),
              (bent, config.get("bent_hip_share", 0.0))]))


def checkpoint_manager(workdir, config) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, "checkpoints")),
      options=ocp.CheckpointManagerOptions(
          max_to_keep=config.keep_checkpoints,
          save_interval_steps=config.checkpoint_every))


def restore_or_init(setup: Setup, config, manager) -> TrainState:
  latest = manager.latest_step()
  if latest is None:
    return init_state(setup, config)
  return _restore(setup, config, manager, latest)


def _restore(setup: Setup, config, manager, step: int) -> TrainState:
  # The checkpoint's values replace the template's: resuming does not need
  # the `init_weights` file any more.
  template = _checkpointed(init_state(setup, config, from_weights=False))
  try:
    restored = manager.restore(step, args=ocp.args.StandardRestore(template))
  except ValueError as error:
    raise ValueError(
        f"{manager.directory}: step {step} holds another training state than "
        f"this config's ({', '.join(template)}); resume or export a run with "
        "the flags it was trained with (`--config.optimizer.ema_decay` keeps "
        "an average, `--config.starts.chained_prob` chains)") from error
  return TrainState(**restored)


def _checkpointed(state: TrainState) -> dict:
  """The fields of `state` a checkpoint holds: those set (`chains` only with
  chained starts, `averaged` only with an average), so that checkpoints
  written before a field existed restore as they were."""
  return {name: value for name, value in state._asdict().items()
          if value is not None}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains (resuming from the latest checkpoint in `workdir`), evaluates on
  the validation and CMU splits every `eval_every` steps, and writes
  TensorBoard events, `metrics.jsonl` and checkpoints under `workdir`.

  Returns:
    (final state, last evaluation dict).
  """
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  setup = make_setup(config)
  train_step = make_train_step(setup, config, training_poses(config))
  eval_step = make_eval_step(setup, config)
  evals = {split: eval_batches(setup, config, split)
           for split in config.eval.splits}
  manager = checkpoint_manager(workdir, config)
  state = place_state(setup, restore_or_init(setup, config, manager))
  base_key = jax.random.PRNGKey(config.seed + 1)
  writer = SummaryWriter(os.path.join(workdir, "tensorboard"))
  log_path = os.path.join(workdir, "metrics.jsonl")
  start = int(state.step)
  last_eval = {}
  with open(log_path, "a", encoding="utf-8") as log, tqdm.trange(
      start, config.train_steps, initial=start, total=config.train_steps,
      desc="train", dynamic_ncols=True, disable=not config.progress) as bar:
    for step in bar:
      state, scalars = train_step(state, base_key)
      done = step + 1
      record = {}
      if done % config.log_every == 0 or done == config.train_steps:
        record.update({k: float(v) for k, v in scalars.items()})
        bar.set_postfix(loss=f"{record['loss/total']:.4f}")
      if done % config.eval_every == 0 or done == config.train_steps:
        for split, batches in evals.items():
          result = mean_eval_metrics(eval_step, final_params(state),
                                     batches)
          last_eval[split] = result
          for name, values in result.items():
            record[f"eval_{split}/{name}"] = values[config.num_steps]
            record[f"eval_{split}/{name}_per_step"] = values
      if record:
        for name, value in record.items():
          if not isinstance(value, list):
            writer.add_scalar(name, value, done)
        log.write(json.dumps({"step": done, **record}) + "\n")
        log.flush()
      manager.save(done, args=ocp.args.StandardSave(_checkpointed(state)),
                   force=done == config.train_steps)
  manager.wait_until_finished()
  writer.close()
  return state, last_eval


def validation_report(weights, num_batches: int) -> list[dict]:
  """Per-step PA-MPJPE, MPJPE (mm) and inner loss of a `Pretrained` on each
  evaluation split of its config (`config.eval`), over `num_batches`
  batches; one dict per split."""
  config = weights.config.as_configdict()
  config.eval.num_batches = num_batches
  setup = make_setup(config)
  eval_step = make_eval_step(setup, config)
  report = []
  for split in config.eval.splits:
    batches = eval_batches(setup, config, split)
    result = mean_eval_metrics(eval_step, weights.params, batches)
    people = sum(int(cameras.enough_visible(b.confidence).sum())
                 for b in batches)
    report.append({"split": split, "people": people, **result})
  return report


def export_pretrained(config: ml_collections.ConfigDict, workdir: str,
                      output: str, average_last: int = 1,
                      averaged: bool = True) -> int:
  """Writes the latest checkpoint's network (`final_params`; its parameters
  themselves with `averaged=False`) as `fit`'s weight file (float16, with
  the config); with `average_last` = K > 1, the mean of the last K kept
  checkpoints' (an average for a run trained without one). Returns the
  latest checkpoint's step."""
  setup = make_setup(config)
  manager = checkpoint_manager(workdir, config)
  steps = sorted(manager.all_steps())
  if not steps:
    raise FileNotFoundError(f"{workdir}: no checkpoint to export")
  if not 1 <= average_last <= len(steps):
    raise ValueError(f"{workdir}: average_last={average_last}, but the run "
                     f"keeps {len(steps)} checkpoints (steps {steps})")
  states = [_restore(setup, config, manager, step)
            for step in steps[-average_last:]]
  chosen = final_params if averaged else (lambda state: state.params)
  params = jax.tree.map(lambda *each: sum(each) / len(each),
                        *map(chosen, states))
  weights_lib.save_pretrained(output, config, params)
  return int(states[-1].step)
