"""Training for convergence: perturbed-truth, drifted and chained starts,
longer training unrolls, step codes, the detector share, several starts in
`fit`, the ingredient configs, more tilted and bent-hipped poses, training
on from a weight file, training the refiner alone, the refiner's decaying
updates."""

import json
from pathlib import Path
import shutil

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import lgd_jax
from lgd_jax import theta as theta_lib
from lgd_jax import unroll as unroll_lib
from lgd_jax import weights as weights_lib
from lgd_jax.body import rotations
from lgd_jax.body.cache import body_of
from lgd_jax.evaluation import benchmarks
from lgd_jax.evaluation import methods
from lgd_jax.training import pose_set
from lgd_jax.training import sampling
from lgd_jax.training import starts
from lgd_jax.training import trainer as training
from lgd_jax.training.pose_set import load_pose_set
from configs import ablation
from configs import default
from configs import evaluate as evaluate_config
from configs import tiny


@pytest.fixture(scope="module")
def body():
  return body_of(lgd_jax.load_body_model())


@pytest.fixture(scope="module")
def batch_poses():
  return jnp.asarray(load_pose_set("val").poses[:300])


@pytest.fixture(scope="module")
def batch(body, batch_poses):
  data = default.get_config().data
  data.batch_size = 256
  return sampling.compiled_sample_batch(jax.random.PRNGKey(3), batch_poses,
                                       body, data)


def _turn_angle(a, b):
  """(B,) radians between the rotations of axis-angles a and b."""
  relative = rotations.axis_angle_to_matrix(a) @ jnp.swapaxes(
      rotations.axis_angle_to_matrix(b), -1, -2)
  return jnp.linalg.norm(rotations.matrix_to_axis_angle(relative), axis=-1)


def test_perturbation_grows_with_its_scale(batch):
  target = sampling.target_theta(batch)
  key = jax.random.PRNGKey(0)
  size = target.shape[0]
  same = starts.perturbed(key, target, jnp.zeros(size))
  np.testing.assert_allclose(same[:, 3:], target[:, 3:], atol=0)
  np.testing.assert_array_less(_turn_angle(same[:, :3], target[:, :3]), 1e-3)
  spread = []
  for scale in (0.1, 0.4):
    start = starts.perturbed(key, target, jnp.full(size, scale))
    body_pose = np.abs(np.asarray(start - target)[:, 3:72]).mean()
    # The mean |N(0, σ²)| is 0.8 σ: σ_pose = 0.3 rad at scale 1.
    assert body_pose == pytest.approx(0.8 * 0.3 * scale, rel=0.1)
    spread.append(float(np.median(_turn_angle(start[:, :3],
                                              target[:, :3]))))
  assert spread[1] == pytest.approx(4 * spread[0], rel=0.2)


def test_training_starts_are_off_unless_configured(batch):
  config = default.get_config()
  assert starts.num_perturbed(config, 512) == 0
  del config["starts"]  # configs saved before the field existed
  assert starts.num_perturbed(config, 512) == 0
  config = ablation.add_ingredients(default.get_config(), ["starts"])
  assert starts.num_perturbed(config, 512) == 256
  target = sampling.target_theta(batch)
  init = starts.training_starts(jax.random.PRNGKey(1), target, config)
  assert init.shape == target.shape
  chex.assert_tree_all_finite(init)
  assert float(jnp.abs(init - target).max()) > 0


def test_training_with_starts_and_a_longer_unroll(tmp_path):
  config = ablation.add_ingredients(tiny.get_config(),
                                    ["starts", "reprojection"])
  config.train_unroll_steps = 6
  config.eval.num_steps = 7
  config.network.refine_after = config.num_steps
  state, last = training.train_and_evaluate(config, str(tmp_path))
  initial = training.init_state(training.make_setup(config), config)
  for mlp in ("update_all", "refine_all"):  # both networks learn
    changed = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                           state.params["params"][mlp],
                           initial.params["params"][mlp])
    assert max(jax.tree.leaves(changed)) > 0
  for split in config.eval.splits:
    assert len(last[split]["pa_mpjpe"]) == 8  # Θ_0 .. Θ_7
    assert np.all(np.isfinite(last[split]["pa_mpjpe"]))
  with open(Path(tmp_path) / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  evaluated = [r for r in records if "eval_val/pa_mpjpe" in r][-1]
  # The headline is the test-time step N, the curve goes on past it.
  assert evaluated["eval_val/pa_mpjpe"] == pytest.approx(
      evaluated["eval_val/pa_mpjpe_per_step"][config.num_steps])


def test_step_codes_count_up_from_cold_starts_and_saturate():
  codes = unroll_lib.step_codes(7, 5, jnp.array([False, True, False]))
  np.testing.assert_array_equal(
      np.asarray(codes).T, [[0, 1, 2, 3, 4, 4, 4], [4] * 7,
                            [0, 1, 2, 3, 4, 4, 4]])
  np.testing.assert_array_equal(unroll_lib.step_codes(3, 5, False), [0, 1, 2])


def _coded_network(step_codes=0, **kwargs):
  """A small paper-layout network with random (non-zero) weights."""
  network = lgd_jax.network.UpdateNetwork(features=16, num_blocks=1,
                                          step_codes=step_codes, **kwargs)
  params = unroll_lib.init_params(network, jax.random.PRNGKey(0),
                                  lgd_jax.formats.NUM_CANONICAL)
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
  return network, jax.tree.unflatten(tree, [
      leaf + 0.1 * jax.random.normal(k, leaf.shape)
      for leaf, k in zip(leaves, keys)])


def test_the_update_depends_on_its_step_code():
  network, params = _coded_network(5)
  x = jax.random.normal(jax.random.PRNGKey(2), (4, 3 *
                                                lgd_jax.formats.NUM_CANONICAL))
  theta = jnp.zeros((4, 85))
  update = lambda code: network.apply(params, x, theta, theta,
                                      step_code=jnp.full(4, code))
  assert float(jnp.abs(update(0) - update(4)).max()) > 1e-3
  with pytest.raises(ValueError, match="step code"):
    network.apply(params, x, theta, theta)
  plain, plain_params = _coded_network(0)
  chex.assert_trees_all_equal(
      plain.apply(plain_params, x, theta, theta),
      plain.apply(plain_params, x, theta, theta, step_code=jnp.full(4, 3)))


@pytest.mark.parametrize("kind", [dict(step_codes=5), dict(refine_after=4)])
def test_warm_starts_take_the_last_step_code(body, batch, kind):
  network, params = _coded_network(**kind)
  run = lambda **kw: unroll_lib.unroll(network, params, body,
                                       batch.keypoints, batch.confidence, 6,
                                       **kw)
  zeros = jnp.zeros((batch.keypoints.shape[0], 85))
  cold = run()
  # Θ_0 = 0 in this layout: a cold start is the zero start counting up.
  np.testing.assert_allclose(run(init=zeros, warm=False).thetas, cold.thetas,
                             atol=1e-6)
  warm = run(init=zeros)  # a given start is warm unless said otherwise
  np.testing.assert_allclose(run(init=zeros, warm=True).thetas, warm.thetas,
                             atol=1e-6)
  assert float(jnp.abs(warm.thetas[1] - cold.thetas[1]).max()) > 1e-3
  # From step 4 on a cold start has the warm start's code too.
  np.testing.assert_allclose(
      run(init=cold.thetas[4], warm=True).thetas[1], cold.thetas[5],
      atol=1e-5)
  # Where init_valid is False the start is the cold one, codes included.
  half = jnp.arange(zeros.shape[0]) % 2 == 0
  mixed = run(init=zeros + 0.1, init_valid=half)
  # Other programs than `cold`'s: equal to rounding, which XLA:CPU's code
  # generator sets (tests/xla_env.py's gives up to 2e-6 on Θ's entries of
  # several radians after 6 steps).
  np.testing.assert_allclose(mixed.thetas[:, ~np.asarray(half)],
                             cold.thetas[:, ~np.asarray(half)], atol=1e-5)
  np.testing.assert_allclose(mixed.thetas[:, np.asarray(half)],
                             run(init=zeros + 0.1).thetas[:, np.asarray(half)],
                             atol=1e-5)


def test_detector_share(body):
  poses = jnp.asarray(load_pose_set("val").poses[:300])
  data = default.get_config().data
  data.update(dict(batch_size=2048, formats=("coco17",), format_weights=(1,),
                   keep_prob=1.0, noise=(0.0, 0.0)))
  key = jax.random.PRNGKey(4)
  sample = lambda share: sampling.sample_batch(
      key, poses, body, ml_collections.ConfigDict(
          dict(data.to_dict(), detector=share)))
  everyone = sample(1.0)
  chex.assert_trees_all_equal(sample(True), everyone)
  chex.assert_trees_all_equal(sample(False), sample(0.0))
  missing = lambda b: 1 - float(np.asarray(b.confidence).mean()) / (
      17 / lgd_jax.formats.NUM_CANONICAL)
  assert missing(sample(0.0)) == pytest.approx(0.0, abs=1e-6)
  assert missing(sample(0.5)) == pytest.approx(missing(everyone) / 2,
                                               rel=0.15)


def test_turning_half_round_twice_is_the_identity():
  theta = jax.random.normal(jax.random.PRNGKey(2), (64, 85))
  once = lgd_jax.theta.turned_half_round(theta)
  np.testing.assert_allclose(np.asarray(_turn_angle(once[:, :3],
                                                    theta[:, :3])),
                             np.pi, atol=1e-3)
  np.testing.assert_allclose(
      np.asarray(_turn_angle(lgd_jax.theta.turned_half_round(once)[:, :3],
                             theta[:, :3])), 0, atol=1e-3)
  np.testing.assert_array_equal(once[:, 3:], theta[:, 3:])


def test_best_start_keeps_each_persons_lower_final_loss(body, batch,
                                                        tiny_weights):
  run = lambda num_starts, **kw: unroll_lib.unroll_best_start(
      tiny_weights.network, tiny_weights.params, body, batch.keypoints,
      batch.confidence, 3, num_starts=num_starts, **kw)
  first = run(1)
  turned = run(1, init=lgd_jax.theta.turned_half_round(first.thetas[0]))
  best = run(2)
  np.testing.assert_allclose(
      best.losses[-1], np.minimum(first.losses[-1], turned.losses[-1]),
      rtol=1e-5)
  from_turned = np.asarray(turned.losses[-1] < first.losses[-1])
  assert 0 < from_turned.sum()  # both starts win for someone
  np.testing.assert_allclose(best.thetas[:, from_turned],
                             turned.thetas[:, from_turned], atol=1e-5)
  with pytest.raises(ValueError, match="num_starts"):
    run(3)


def test_fit_with_two_starts(tiny_weights):
  rng = np.random.default_rng(0)
  xy = rng.uniform(100, 400, (5, 17, 2))
  one = lgd_jax.fit(xy, params=tiny_weights)
  two = lgd_jax.fit(xy, params=tiny_weights, num_starts=2)
  assert two.pose.shape == one.pose.shape
  assert np.all(np.asarray(two.loss_history[..., -1]) <=
                np.asarray(one.loss_history[..., -1]) * (1 + 1e-5))
  with pytest.raises(ValueError, match="num_starts"):
    lgd_jax.fit(xy, params=tiny_weights, num_starts=0)


def test_descent_after_the_learned_steps_lowers_the_loss(body, batch_poses,
                                                         tiny_weights):
  # Keypoints of real bodies in pixels, fitted by an untrained network: far
  # from explained after the learned steps, so the descent has work to do.
  coco = lgd_jax.formats.get_format("coco17").canonical_index
  data = default.get_config().data
  data.update(dict(batch_size=32, formats=("coco17",), format_weights=(1,)))
  people = sampling.sample_batch(jax.random.PRNGKey(5), batch_poses, body,
                                 data)
  xy = np.asarray(people.keypoints[:, coco]) * 100 + 300
  conf = np.asarray(people.confidence[:, coco])
  plain = lgd_jax.fit(xy, conf, params=tiny_weights, keypoint_format="coco17")
  more = lgd_jax.fit(xy, conf, params=tiny_weights, keypoint_format="coco17",
                     descent_iterations=30)
  chex.assert_shape(more.loss_history, (32, tiny_weights.config.num_steps + 2))
  np.testing.assert_allclose(more.loss_history[:, :-1], plain.loss_history,
                             rtol=1e-5)
  ok = np.asarray(plain.fit_ok)
  assert ok.sum() > 20
  assert np.all(np.asarray(more.loss_history)[ok, -1] <
                np.asarray(plain.loss_history)[ok, -1])
  for bad in (-1, 2.5, True):
    with pytest.raises(ValueError, match="descent_iterations"):
      lgd_jax.fit(xy, conf, params=tiny_weights, keypoint_format="coco17",
                  descent_iterations=bad)


def test_learned_method_runs_the_steps_asked(body, tiny_weights_file):
  data = default.get_config().data
  data.update(dict(batch_size=8, formats=("coco17",), format_weights=(1,)))
  benchmark = benchmarks.make_benchmark(body, "val", data, seed=2)
  entry = ml_collections.ConfigDict(dict(kind="learned",
                                         weights=str(tiny_weights_file),
                                         num_steps=6, num_starts=2))
  method = methods.make_method(entry)(body, "coco17")
  thetas, steps = method(benchmark.batch.keypoints,
                         benchmark.batch.confidence)
  assert thetas.shape[0] == 7
  np.testing.assert_array_equal(steps, np.arange(7))
  entry.update(dict(num_starts=1, descent_iterations=5))
  descended, steps = methods.make_method(entry)(body, "coco17")(
      benchmark.batch.keypoints, benchmark.batch.confidence)
  np.testing.assert_array_equal(steps, [0, 1, 2, 3, 4, 5, 6, 11])
  assert float(jnp.abs(descended[-1] - descended[-2]).max()) > 0


def test_every_ingredient_config_builds():
  for spec in evaluate_config.CONVERGE_ABLATIONS:
    config = ablation.get_config(spec)
    assert config.network.features == 256
  assert ablation.get_config("with=unroll8").train_unroll_steps == 8
  with pytest.raises(ValueError, match="unknown ingredient"):
    ablation.get_config("with=views+nothing")
  converge = evaluate_config.get_config("converge")
  assert all(m.num_steps == 16 for m in converge.methods.values())


def _rooted(angles_deg):
  """Poses whose root is turned about x by each angle (the rest zero)."""
  poses = np.zeros((len(angles_deg), 72), np.float32)
  poses[:, 0] = np.radians(angles_deg)
  return poses


def test_oversampling_repeats_each_group_to_its_share():
  poses = _rooted([0.0] * 8 + [90.0, 170.0])
  poses[:, 3] = np.arange(10)  # tells the poses apart
  tilted = pose_set.pelvis_tilt_deg(poses) > pose_set.TILTED_DEG
  out = pose_set.oversample(poses, [(tilted, 0.5)])
  # 8 upright poses and each tilted one 4 times: half the result.
  assert len(out) == 16
  np.testing.assert_array_equal(np.sort(out[:, 3]),
                                list(range(8)) + [8] * 4 + [9] * 4)
  # Two groups at once: the 8 others 30 % of the result, so 26.7 poses in
  # all: pose 0 × 8 (30 %), pose 9 × 11 (40 %).
  first = np.arange(10) == 0
  out = pose_set.oversample(poses, [(first, 0.3), (np.arange(10) == 9, 0.4)])
  np.testing.assert_array_equal(
      np.sort(out[:, 3]), [0] * 8 + list(range(1, 9)) + [9] * 11)
  # A share held already, a share of 0, or an empty group: unchanged.
  assert pose_set.oversample(poses, [(tilted, 0.1)]) is poses
  assert pose_set.oversample(poses, [(tilted, 0.0)]) is poses
  assert pose_set.oversample(poses, [(np.zeros(10, bool), 0.5)]) is poses
  with pytest.raises(ValueError, match="share must be in"):
    pose_set.oversample(poses, [(tilted, 1.0)])
  with pytest.raises(ValueError, match="add up to"):
    pose_set.oversample(poses, [(tilted, 0.6), (first, 0.5)])
  with pytest.raises(ValueError, match="overlap"):
    pose_set.oversample(poses, [(tilted, 0.2), (np.arange(10) >= 9, 0.2)])


def test_hip_bend_is_the_larger_hips_thigh_turn_whatever_the_root():
  poses = np.zeros((6, 72), np.float32)
  poses[0, 3] = -np.pi / 2      # left thigh raised forward: sitting
  poses[1, 8] = np.radians(-70)  # right thigh out to the side
  poses[2, 4] = np.pi / 2       # the left thigh twisted about itself
  poses[3, 0] = np.pi / 2       # lying, legs straight
  poses[4, [3, 6]] = np.radians([-40, -100])  # both bent: the larger
  # About an oblique axis (x + y) / √2 by 90°: y goes to (1/2, 1/2, -1/√2).
  poses[5, 6:9] = np.radians(90) * np.array([1, 1, 0]) / np.sqrt(2)
  np.testing.assert_allclose(pose_set.hip_bend_deg(poses),
                             [90, 70, 0, 0, 100, 60], atol=1e-4)


def test_training_poses_oversample_tilted_and_upright_bent_hipped_ones():
  config = tiny.get_config()
  plain = np.asarray(training.training_poses(config))
  config.tilted_share, config.bent_hip_share = 0.2, 0.3
  poses = np.asarray(training.training_poses(config))

  def shares(p):
    tilted = pose_set.pelvis_tilt_deg(p) > pose_set.TILTED_DEG
    bent = pose_set.hip_bend_deg(p) > pose_set.BENT_HIP_DEG
    return tilted.mean(), (bent & ~tilted).mean()
  assert shares(plain)[0] < 0.05 and shares(plain)[1] < 0.1
  np.testing.assert_allclose(shares(poses), [0.2, 0.3], atol=0.02)


def test_training_goes_on_from_a_weight_file(tmp_path, tiny_weights_file,
                                             tiny_weights):
  config = tiny.get_config()
  start_file = tmp_path / "start.npz"
  shutil.copy(tiny_weights_file, start_file)
  config.init_weights = str(start_file)
  config.tilted_share = 0.2
  config.eval.splits = ()  # only the training step compiles
  setup = training.make_setup(config)
  start = training.init_state(setup, config)
  chex.assert_trees_all_equal(start.params, tiny_weights.params)
  workdir = str(tmp_path / "run")
  state, _ = training.train_and_evaluate(config, workdir)
  assert int(state.step) == config.train_steps
  # Resuming needs the checkpoint only, not the file it started from.
  start_file.unlink()
  config.train_steps += 2
  state, _ = training.train_and_evaluate(config, workdir)
  assert int(state.step) == config.train_steps
  # Another network's file is refused, naming it.
  config.init_weights = str(tiny_weights_file)
  config.network.features = 16
  with pytest.raises(ValueError, match="not this config's"):
    training.init_state(training.make_setup(config), config)
  # The same network settings for another number of betas: other shapes.
  config.network.features = tiny.get_config().network.features
  config.num_betas = 8
  with pytest.raises(ValueError, match="shapes"):
    training.init_state(training.make_setup(config), config)


def test_training_the_refiner_alone_holds_the_rest(batch_poses):
  config = ablation.add_ingredients(tiny.get_config(), ["starts"])
  config.network.refine_after = config.num_steps
  config.train_unroll_steps = config.num_steps + 2
  config.optimizer.ema_decay = 0.5  # the average holds them too
  setup = training.make_setup(config)
  initial = training.init_state(setup, config)
  # Non-zero output layers, so that every MLP has gradients to move it.
  shifted = jax.tree.map(lambda x: x + 0.01, initial.params)
  initial = initial._replace(params=shifted, averaged=shifted)
  reference = jax.tree.map(np.array, shifted)  # the step donates

  def moved(refiner_only):
    config.train_refiner_only = refiner_only
    step = training.make_train_step(setup, config, batch_poses)
    state = jax.tree.map(jnp.array, initial)  # copies: no buffer shared
    for _ in range(2):
      state, _ = step(state, jax.random.PRNGKey(0))
    return {(part, mlp): max(jax.tree.leaves(jax.tree.map(
        lambda a, b: float(np.abs(a - b).max()), tree["params"][mlp],
        reference["params"][mlp])))
            for part, tree in (("params", state.params),
                               ("averaged", state.averaged))
            for mlp in ("update_all", "refine_all")}

  assert min(moved(False).values()) > 0.0  # both learn otherwise
  held = moved(True)
  for part in ("params", "averaged"):
    assert held[part, "update_all"] == 0.0 and held[part, "refine_all"] > 0.0
  config.network.refine_after = 0
  with pytest.raises(ValueError, match="refiner"):
    training.make_train_step(training.make_setup(config), config,
                             batch_poses)


def test_drifted_starts_pick_each_persons_step_in_range():
  config = default.get_config()
  config.starts.drifted_steps = (3, 5)
  # Iterate n of person d holds n in every entry.
  thetas = jnp.broadcast_to(jnp.arange(9.0)[:, None, None], (9, 200, 85))
  picked = np.asarray(starts.pick_steps(jax.random.PRNGKey(0), thetas,
                                        config))
  assert picked.shape == (200, 85)
  assert np.all(picked == picked[:, :1])  # one whole iterate per person
  assert set(picked[:, 0].tolist()) == {3.0, 4.0, 5.0}
  for bad in ((0, 4), (5, 3)):
    config.starts.drifted_steps = bad
    with pytest.raises(ValueError, match="drifted_steps"):
      starts.drifted_steps(config)


def _refiner_training_config(unroll_steps, perturbed_prob):
  """The tiny network with a refiner, perturbed starts and the
  reprojection terms."""
  config = ablation.add_ingredients(tiny.get_config(), ["starts",
                                                        "reprojection"])
  config.network.refine_after = config.num_steps
  config.train_unroll_steps = unroll_steps
  config.starts.perturbed_prob = perturbed_prob
  return config


def test_drifted_starts_continue_the_networks_own_fit(batch_poses):
  """From a drifted start after K steps, the training unroll's T steps are
  steps K+1..K+T of the network's fit from Θ_0 (all the refiner's once K
  is past the path), so the training loss is theirs, beside the perturbed
  starts of the first half of the batch."""
  config = _refiner_training_config(unroll_steps=3, perturbed_prob=0.5)
  config.starts.drifted_prob = 0.5
  config.starts.drifted_steps = (6, 6)
  setup = training.make_setup(config)
  state = training.init_state(setup, config)
  state = state._replace(params=jax.tree.map(lambda x: x + 0.01,
                                             state.params))
  params = jax.tree.map(np.array, state.params)  # the step donates
  base_key = jax.random.PRNGKey(5)
  _, scalars = training.make_train_step(setup, config, batch_poses)(
      state, base_key)
  key = jax.random.fold_in(base_key, 0)  # step 0's
  batch = jax.jit(lambda key: sampling.sample_batch(
      key, batch_poses, setup.body, config.data))(jax.random.split(key)[0])
  half = config.data.batch_size // 2
  part = lambda a, b: jax.tree.map(lambda leaf: leaf[a:b], batch)
  perturbed = starts.training_starts(
      jax.random.fold_in(key, training._STARTS),  # pylint: disable=protected-access
      sampling.target_theta(part(0, half)), config)
  # Jitted: each compiles once instead of operation by operation.
  run = jax.jit(lambda people, steps, init=None: training.run_optimizer(
      setup, config, params, people, steps, init=init).thetas,
                static_argnums=1)
  from_perturbed = run(part(0, half), 3, init=perturbed)
  whole = run(part(half, None), 6 + 3)
  loss = jax.jit(lambda later: training.parameter_loss(
      setup, config, jnp.concatenate([from_perturbed, later], axis=1),
      batch)[0])
  assert float(scalars["loss/total"]) == pytest.approx(float(loss(whole[6:])),
                                                       rel=1e-4)
  # Not the same as training those people from Θ_0.
  assert abs(float(loss(whole[:4])) - float(loss(whole[6:]))) > 1e-3 * float(
      loss(whole[6:]))
  config.starts.drifted_steps = (2, 6)  # inside the path
  with pytest.raises(ValueError, match="step 4 or later"):
    training.make_train_step(setup, config, batch_poses)
  config.starts.drifted_steps = (6, 6)
  config.starts.drifted_prob = 0.6
  with pytest.raises(ValueError, match="at most 1"):
    training.make_train_step(setup, config, batch_poses)


def test_refiner_decay_and_takeover_keep_the_parameter_layout(tmp_path,
                                                              batch_poses):
  config = tiny.get_config()
  config.network.refine_after = config.num_steps
  setup = training.make_setup(config)
  fresh = training.init_state(setup, config)
  weights_lib.save_pretrained(tmp_path / "start.npz", config,
                                  fresh.params)
  # Trains on from the same parameters: a decay, an earlier takeover.
  config.network.refine_decay = 0.85
  config.network.refine_after = config.num_steps - 1
  config.init_weights = str(tmp_path / "start.npz")
  started = training.init_state(training.make_setup(config), config)
  chex.assert_trees_all_close(started.params, fresh.params, atol=1e-3)
  network = training.make_setup(config).network
  assert (network.refine_decay, network.refine_after) == (
      0.85, config.num_steps - 1)
  # Other layouts are still refused: no refiner, other widths.
  for change in (dict(refine_after=0, refine_decay=1.0),
                 dict(features=config.network.features + 8)):
    changed = config.copy_and_resolve_references()
    changed.network.update(change)
    with pytest.raises(ValueError, match="not this config's"):
      training.init_state(training.make_setup(changed), changed)


def test_a_narrower_refiner_trains_behind_a_kept_path(tmp_path):
  config = tiny.get_config()
  config.network.refine_after = config.num_steps
  setup = training.make_setup(config)
  start = jax.tree.map(lambda x: x + 0.01,  # not the fresh draw
                       training.init_state(setup, config).params)
  weights_lib.save_pretrained(tmp_path / "start.npz", config, start)
  narrow = config.network.features // 2
  config.network.refiner_features = narrow
  config.init_weights = str(tmp_path / "start.npz")
  setup = training.make_setup(config)
  started = training.init_state(setup, config).params["params"]
  fresh = training.init_state(setup, config,
                              from_weights=False).params["params"]
  chex.assert_trees_all_close(started["update_all"],  # as the file holds
                              start["params"]["update_all"], atol=1e-3)
  chex.assert_trees_all_close(started["refine_all"], fresh["refine_all"])
  assert started["refine_all"]["Dense_0"]["kernel"].shape[-1] == narrow
  assert started["update_all"]["Dense_0"]["kernel"].shape[-1] == (
      config.network.features)
  # A file of that layout loads with its width, and trains on from itself.
  weights_lib.save_pretrained(tmp_path / "narrow.npz", config,
                              {"params": started})
  loaded = weights_lib.load_pretrained(tmp_path / "narrow.npz")
  assert loaded.network.refiner_features == narrow
  config.init_weights = str(tmp_path / "narrow.npz")
  chex.assert_trees_all_equal(training.init_state(setup, config).params,
                              loaded.params)
  # A narrow file's path under the full width: a fresh full refiner.
  config.network.refiner_features = 0
  wide = training.make_setup(config)
  started = training.init_state(wide, config).params["params"]
  chex.assert_trees_all_equal(started["update_all"],
                              loaded.params["params"]["update_all"])
  chex.assert_trees_all_equal(started["refine_all"], training.init_state(
      wide, config, from_weights=False).params["params"]["refine_all"])
  # Another difference beside the width is still refused.
  config.network.features += 8
  with pytest.raises(ValueError, match="not this config's"):
    training.init_state(training.make_setup(config), config)
  config.network.features -= 8
  # Its width at `features` is the layout of a file that names none.
  layout = config.network.copy_and_resolve_references()
  layout.refiner_features = config.network.features
  plain = ml_collections.ConfigDict(
      {key: value for key, value in layout.items()
       if key != "refiner_features"})
  assert (lgd_jax.network.parameter_layout(layout) ==
          lgd_jax.network.parameter_layout(plain))
  config.network.update(refiner_features=narrow, refine_after=0)
  with pytest.raises(ValueError, match="refiner_features needs a refiner"):
    training.init_state(training.make_setup(config), config,
                        from_weights=False)


def test_the_refiners_updates_decay(body, batch):
  decayed, params = _coded_network(refine_after=2, refine_decay=0.5)
  plain = decayed.clone(refine_decay=1.0)  # the same parameters
  keypoints, confidence = batch.keypoints[:16], batch.confidence[:16]
  x = unroll_lib.keypoint_features(keypoints, confidence)
  run = lambda steps, **kw: unroll_lib.unroll(
      decayed, params, body, keypoints, confidence, steps, **kw).thetas

  def check(thetas, scales, refines):
    for n, (scale, refine) in enumerate(zip(scales, refines)):
      grad = jax.grad(lambda t: unroll_lib.inner_loss(
          t, body, keypoints, confidence).sum())(thetas[n])
      raw = plain.apply(params, x, grad, thetas[n], refine=refine)
      np.testing.assert_allclose(thetas[n + 1] - thetas[n], scale * raw,
                                 rtol=1e-4, atol=1e-5)

  cold = run(6)
  # The path's 2 updates whole, then the refiner's k-th scaled by 0.5^k.
  check(cold, [1, 1, 1, 0.5, 0.25, 0.125], [False] * 2 + [True] * 4)
  warm = run(3, init=cold[1])  # every update the refiner's, from k = 0
  check(warm, [1, 0.5, 0.25], [True] * 3)
  # Per person: a cold start counts from step N, a warm one from its first.
  half = np.arange(16) % 2 == 0
  mixed = run(3, init=cold[1], init_valid=half)
  np.testing.assert_allclose(mixed[:, half], warm[:, half], atol=1e-6)
  np.testing.assert_allclose(mixed[:, ~half], cold[:4, ~half], atol=1e-6)
  # In 64-bit mode γ^k is float64; Θ stays float32 (the scan's carry).
  with jax.enable_x64(True):
    cold64 = run(6)
  assert cold64.dtype == jnp.float32
  np.testing.assert_allclose(cold64, cold, atol=1e-5)
  with pytest.raises(ValueError, match="refine_decay"):
    _coded_network(refine_decay=0.5)


def _chained_config():
  config = _refiner_training_config(unroll_steps=6, perturbed_prob=0.25)
  config.starts.chained_prob = 0.5
  return config


def test_a_moved_person_keeps_shape_noise_and_drops(body, batch):
  people = jax.tree.map(lambda leaf: leaf[:64], batch)
  same = starts.moved(jax.random.PRNGKey(0), people, 0.0, body)
  chex.assert_trees_all_close(same, people, atol=1e-5)
  later = starts.moved(jax.random.PRNGKey(0), people, 0.05, body)
  np.testing.assert_array_equal(later.betas, people.betas)
  np.testing.assert_array_equal(later.confidence, people.confidence)
  turned = _turn_angle(later.pose[:, :3], people.pose[:, :3])
  assert 0.005 < float(jnp.median(turned)) < 0.1  # about 0.05 * 0.6 rad
  # What the truth does not explain (noise, perspective) is carried over.
  residual = lambda b: b.keypoints - theta_lib.keypoints(
      sampling.target_theta(b), body)[1]
  np.testing.assert_allclose(residual(later), residual(people), atol=1e-4)
  assert float(jnp.abs(later.keypoints - people.keypoints).max()) > 1e-2


def test_renormalized_puts_keypoints_and_cameras_in_the_box(body, batch):
  people = jax.tree.map(lambda leaf: leaf[:64], batch)
  theta = sampling.target_theta(people) + 0.1
  # A batch is in its box already: nothing moves.
  same, same_theta = starts.renormalized(people, theta)
  chex.assert_trees_all_close((same, same_theta), (people, theta),
                              atol=1e-5)
  # Scaled by 1.7 and shifted, cameras with the keypoints, it comes back.
  def off(vector):
    return jnp.concatenate([vector[:, :1] + jnp.log(1.7),
                            vector[:, 1:] * 1.7 + 0.4], axis=-1)
  moved = people._replace(keypoints=people.keypoints * 1.7 + 0.4,
                          camera=off(people.camera))
  back, back_theta = starts.renormalized(
      moved, theta.at[:, -3:].set(off(theta[:, -3:])))
  chex.assert_trees_all_close((back, back_theta), (people, theta),
                              atol=1e-4)
  projected = lambda t: theta_lib.keypoints(t, body)[1]
  np.testing.assert_allclose(projected(back_theta),
                             projected(theta), atol=1e-4)


def test_chains_go_on_from_their_fit_a_frame_later(batch_poses):
  """Step 0 starts every chain afresh (perturbed truth of the batch's own
  people) and keeps where each chain's unroll was after `num_steps`; step
  1 moves those people a frame on and trains from exactly there."""
  config = _chained_config()
  config.starts.chain_restart_prob = 0.0
  setup = training.make_setup(config)
  state = training.init_state(setup, config)
  state = state._replace(params=jax.tree.map(lambda x: x + 0.01,
                                             state.params))
  step = training.make_train_step(setup, config, batch_poses)
  base_key = jax.random.PRNGKey(5)
  params0 = jax.tree.map(np.array, state.params)  # the step donates
  state, _ = step(state, base_key)
  chains0 = jax.tree.map(np.array, state.chains)
  params1 = jax.tree.map(np.array, state.params)
  _, scalars = step(state, base_key)

  size, quarter = config.data.batch_size, config.data.batch_size // 4
  # Jitted: each compiles once instead of operation by operation.
  sample = jax.jit(lambda key: sampling.sample_batch(
      jax.random.split(key)[0], batch_poses, setup.body, config.data))
  run = jax.jit(lambda params, people, init: training.run_optimizer(
      setup, config, params, people, config.train_unroll_steps,
      init=init).thetas)
  key0 = jax.random.fold_in(base_key, 0)
  fresh = jax.tree.map(lambda leaf: leaf[quarter:3 * quarter], sample(key0))
  start0 = starts.training_starts(
      jax.random.split(jax.random.fold_in(key0, training._CHAINED))[1],  # pylint: disable=protected-access
      sampling.target_theta(fresh), config)
  chex.assert_trees_all_close(chains0.batch, fresh, atol=1e-6)
  np.testing.assert_allclose(
      chains0.theta, run(params0, fresh, start0)[config.num_steps],
      atol=1e-4)

  key1 = jax.random.fold_in(base_key, 1)
  moved, chain_start = starts.renormalized(starts.moved(
      jax.random.split(jax.random.fold_in(key1, training._CHAINED))[0],  # pylint: disable=protected-access
      chains0.batch, config.starts.chain_move, setup.body),
      jnp.asarray(chains0.theta))
  batch1 = sample(key1)
  part = lambda a, b: jax.tree.map(lambda leaf: leaf[a:b], batch1)
  perturbed = starts.training_starts(
      jax.random.fold_in(key1, training._STARTS),  # pylint: disable=protected-access
      sampling.target_theta(part(0, quarter)), config)
  people = jax.tree.map(lambda *leaves: jnp.concatenate(leaves),
                        part(0, quarter), moved, part(3 * quarter, size))
  warm = jax.tree.map(lambda leaf: leaf[:3 * quarter], people)
  from_start = lambda chain_start: jnp.concatenate([
      run(params1, warm, jnp.concatenate([perturbed, chain_start])),
      run(params1, part(3 * quarter, size), None)], axis=1)
  loss = jax.jit(lambda chain_start: training.parameter_loss(
      setup, config, from_start(chain_start), people)[0])
  assert float(scalars["loss/total"]) == pytest.approx(
      float(loss(chain_start)), rel=1e-4)
  # Not what a fresh start of the moved people would give.
  assert abs(loss(sampling.target_theta(moved)) - loss(chain_start)) > (
      1e-3 * loss(chain_start))


def test_chained_start_settings_are_checked(batch_poses):
  config = _chained_config()
  setup = training.make_setup(config)
  config.starts.chained_prob = 0.8
  with pytest.raises(ValueError, match="at most 1"):
    training.make_train_step(setup, config, batch_poses)
  config.starts.chained_prob = 0.5
  config.train_unroll_steps = 3
  with pytest.raises(ValueError, match="at least num_steps"):
    training.make_train_step(setup, config, batch_poses)
  config.train_unroll_steps = 6
  for field, bad in (("chain_restart_prob", 1.5), ("chain_move", -0.1)):
    good = config.starts[field]
    config.starts[field] = bad
    with pytest.raises(ValueError, match=field):
      training.make_train_step(setup, config, batch_poses)
    config.starts[field] = good
  config.starts.chained_prob = 0.0
  assert training.init_state(setup, config).chains is None
