"""Tracking, warm-started fits and smoothing of video sequences; the jitter
metric; synthetic videos."""

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lgd_jax import cameras
from lgd_jax import fitting
from lgd_jax import formats as kp
from lgd_jax.evaluation import metrics
from lgd_jax import sequences
from lgd_jax import tracking
from lgd_jax.evaluation import synthetic_videos as videos
from lgd_jax.evaluation import videos as video_evaluation
from lgd_jax.body import rotations
from configs import sequences as sequences_config

FORMAT = "coco17"
K = kp.get_format(FORMAT).num_keypoints


# --- Tracking ----------------------------------------------------------------


def _person(centre, size=100.0, seed=0):
  """(K, 2) a fixed random stick figure of height `size` around `centre`."""
  shape = np.random.default_rng(seed).uniform(-0.5, 0.5, (K, 2))
  return np.asarray(centre, np.float64) + size * shape


def test_given_track_ids_are_renumbered_by_first_appearance():
  # Rows out of order; ids 7 (frame 0), 3 (frame 0, second row), 9 (frame
  # 2): by frame, then row, they first appear as 7, 3, 9 -> 0, 1, 2.
  frame = np.array([2, 0, 1, 0, 2, 1])
  given = np.array([9, 7, 3, 3, 7, 7])
  xy = np.zeros((6, K, 2))
  track = tracking.assign_tracks(frame, xy, np.ones((6, K)), given)
  np.testing.assert_array_equal(track, [2, 0, 1, 1, 0, 0])
  assert track.dtype == np.int32


def test_partial_or_repeated_ids_fall_back_to_association():
  # One row without an id: the ids are not used; two people far apart keep
  # their own tracks through three frames.
  frame = np.array([0, 0, 1, 1, 2, 2])
  xy = np.stack([_person((100 + 5 * t, 100), seed=1) if i % 2 == 0 else
                 _person((600, 300 - 5 * t), seed=2)
                 for i, t in enumerate(frame)])
  for given in ([5, 6, 5, -1, 5, 6], [1, 1, 1, 1, 1, 1]):
    track = tracking.assign_tracks(frame, xy, np.ones((6, K)), given)
    np.testing.assert_array_equal(track, [0, 1, 0, 1, 0, 1])


def test_association_through_a_crossing_gaps_and_newcomers():
  # Person A walks right, B walks left at the same height with the same
  # pose; at frame 5 they nearly coincide (10 pixels apart), so only their
  # motion tells them apart.
  # A is missed in frames 7-8 (a gap of 3 <= max_gap) and keeps its id; B
  # is missed in frames 9-15 (a gap of 7 > max_gap) and comes back as a new
  # track; C appears at frame 4. Rows are shuffled.
  rows = []
  for t in range(18):
    if t not in (7, 8):
      rows.append((t, "A", _person((100 + 20 * t, 200), seed=3)))
    if not 9 <= t <= 15:
      rows.append((t, "B", _person((300 - 20 * t, 210), seed=3)))
    if t >= 4:
      rows.append((t, "C", _person((250, 600 + 3 * t), seed=4)))
  order = np.random.default_rng(0).permutation(len(rows))
  rows = [rows[i] for i in order]
  frame = np.array([r[0] for r in rows])
  who = np.array([r[1] for r in rows])
  xy = np.stack([r[2] for r in rows])
  confidence = np.ones((len(rows), K))
  confidence[:, 0] = 0  # a point missing everywhere changes nothing
  track = tracking.assign_tracks(frame, xy, confidence,
                                  np.full(len(rows), -1), max_gap=5)
  ids = lambda name, when=lambda t: True: set(
      track[(who == name) & np.array([when(t) for t in frame])])
  # A and B first appear in frame 0 (ids 0 and 1, by their rows' order),
  # C in frame 4 (id 2), B again in frame 16 (id 3).
  assert len(ids("A")) == 1
  assert len(ids("B", lambda t: t < 9)) == 1
  assert len(ids("B", lambda t: t > 15)) == 1
  assert ids("B", lambda t: t < 9) != ids("B", lambda t: t > 15)
  assert len(ids("C")) == 1
  assert len(set(track)) == 4
  assert set(track) == {0, 1, 2, 3}
  assert ids("C") == {2}  # the third track to appear (frame 4)
  assert ids("B", lambda t: t > 15) == {3}


def test_association_with_few_common_points_uses_box_centres():
  # Frame 0 shows only the first 8 points, frame 1 only the last 9: no
  # common point, so the nearby box continues the track and the far one
  # does not.
  person = _person((200, 200), seed=5)
  # Both subsets' boxes are the same 100-pixel square: corners in each.
  corners = np.array([[150, 150], [250, 150], [150, 250], [250, 250]])
  person[:4], person[8:12] = corners, corners
  confidence = np.zeros((3, K))
  confidence[0, :8] = 1
  confidence[1:, 8:] = 1
  xy = np.stack([person, person + 5, person + 5000])
  track = tracking.assign_tracks([0, 1, 1], xy, confidence, None)
  np.testing.assert_array_equal(track, [0, 0, 1])


def test_track_arrays_lays_rows_out_by_frame_and_track():
  frame = np.array([10, 12, 10, 12, 15])
  track = np.array([1, 0, 0, 1, 1])
  xy = np.arange(5 * K * 2, dtype=np.float32).reshape(5, K, 2)
  arrays = tracking.track_arrays(frame, track, xy, np.ones((5, K)))
  np.testing.assert_array_equal(arrays.frames, [10, 12, 15])
  np.testing.assert_array_equal(arrays.row, [[2, 0], [1, 3], [-1, 4]])
  np.testing.assert_array_equal(arrays.xy[1, 1], xy[3])
  assert not arrays.confidence[2, 0].any() and not arrays.xy[2, 0].any()
  with pytest.raises(ValueError, match="two rows"):
    tracking.track_arrays([0, 0], [0, 0], xy[:2], np.ones((2, K)))


# --- Fitting with warm starts ------------------------------------------------


def _clip(seed, frames=40):
  """A smooth synthetic 'clip': slow sinusoidal joint rotations."""
  rng = np.random.default_rng(seed)
  t = np.arange(frames)[:, None]
  poses = 0.3 * np.sin(0.1 * t + rng.uniform(0, 6, 72)) * rng.uniform(
      0, 1, 72)
  return videos.MotionClip(f"clip{seed}", poses.astype(np.float32),
                           np.zeros((frames, 3), np.float32))


@pytest.fixture(scope="module")
def video(tiny_weights):
  return videos.make_video([_clip(0), _clip(1)], 3, num_frames=8,
                           num_people=2, keypoint_format=FORMAT,
                           params=tiny_weights, keep_prob=1.0)


def test_anchored_warm_start_starts_from_the_previous_independent_fit(
    video, tiny_weights):
  xy, confidence = video.xy.copy(), video.confidence.copy()
  confidence[2:5, 1] = 0  # track 1 absent in frames 2-4: a gap of 4
  confidence[6, 0] = 0  # track 0 missed in frame 6: a gap of 2
  kwargs = dict(keypoint_format=FORMAT, params=tiny_weights,
                camera=video.intrinsics)
  cold = sequences.fit_tracks(xy, confidence, warm_start="off", **kwargs)
  done = []
  anchored = sequences.fit_tracks(xy, confidence, warm_start="anchored",
                                  max_gap=2, on_frames=done.append, **kwargs)
  assert sum(done) == pytest.approx(8)
  np.testing.assert_array_equal(anchored.fit_ok, cold.fit_ok)
  previous = lambda t, p: jax.tree.map(lambda a: a[t, p:p + 1], cold)
  refit = lambda t, p, start: fitting.fit(
      xy[t, p:p + 1], confidence[t, p:p + 1], init=previous(start, p),
      keypoint_format=FORMAT, params=tiny_weights,
      camera=jax.tree.map(lambda a: a[p:p + 1], video.intrinsics))
  # Frame 0 has no previous frame: its independent fit. Later frames start
  # from the track's last independent fit (not its anchored one), also
  # across a miss within max_gap (track 0: frame 7 from frame 5).
  np.testing.assert_array_equal(anchored.pose[0], cold.pose[0])
  for t, p, start in ((1, 0, 0), (1, 1, 0), (5, 0, 4), (7, 0, 5)):
    np.testing.assert_allclose(anchored.pose[t, p], refit(t, p, start).pose[0],
                               atol=1e-5)
    assert np.abs(anchored.pose[t, p] - cold.pose[t, p]).max() > 1e-3
  # Track 1 is back at frame 5, 4 frames after its last fit: independent.
  np.testing.assert_array_equal(anchored.pose[5, 1], cold.pose[5, 1])
  # A new track in a slot (column 0 from frame 3) has no previous fit.
  slots = np.zeros((8, 2), int)
  slots[3:, 0] = 1
  slotted = sequences.fit_tracks(xy, confidence, warm_start="anchored",
                                 track=slots, **kwargs)
  np.testing.assert_array_equal(slotted.pose[3, 0], cold.pose[3, 0])
  np.testing.assert_allclose(slotted.pose[4], anchored.pose[4], atol=1e-6)
  # Slots as `lgd-fit` makes them, -1 where the track is absent: the same
  # starts (the miss in frame 6 is bridged).
  ids = np.where(confidence.any(-1), np.arange(2), -1)
  np.testing.assert_array_equal(
      sequences.fit_tracks(xy, confidence, warm_start="anchored", track=ids,
                           **kwargs).pose,
      anchored.pose)
  # One frame: nothing to start from, the independent fits.
  done = []
  single = sequences.fit_tracks(xy[:1], confidence[:1], warm_start="anchored",
                                on_frames=done.append, **kwargs)
  # (Compiled for another batch shape: float32 rounding apart.)
  np.testing.assert_allclose(single.pose, cold.pose[:1], atol=1e-6)
  assert sum(done) == pytest.approx(1)
  with pytest.raises(ValueError, match="warm_start"):
    sequences.fit_tracks(xy, confidence, warm_start="sometimes", **kwargs)
  for empty in (np.s_[:0], np.s_[:, :0]):
    with pytest.raises(ValueError, match="at least one frame and one track"):
      sequences.fit_tracks(xy[empty], confidence[empty], **kwargs)


def _with_a_gap(video, tiny_weights):
  """The video's points with track 1 absent in frames 2-4 (a gap of 4),
  and `fit_tracks`' other arguments: perspective intrinsics (P,)
  broadcast to every frame."""
  confidence = video.confidence.copy()
  confidence[2:5, 1] = 0
  return video.xy.copy(), confidence, dict(
      keypoint_format=FORMAT, params=tiny_weights, camera=video.intrinsics)


def test_warm_start_uses_the_previous_fit_and_restarts_after_long_gaps(
    video, tiny_weights):
  xy, confidence, kwargs = _with_a_gap(video, tiny_weights)
  warm = sequences.fit_tracks(xy, confidence, warm_start=True, max_gap=2,
                              **kwargs)
  cold = sequences.fit_tracks(xy, confidence, warm_start=False, **kwargs)
  assert warm.pose.shape == (8, 2, 72) and warm.joints.shape == (8, 2, 24, 3)
  np.testing.assert_array_equal(warm.fit_ok, confidence.any(-1))
  # Frame 0: nobody has a previous fit, so both start cold.
  np.testing.assert_allclose(warm.pose[0], cold.pose[0], atol=1e-5)
  # Frame 1 starts from frame 0's fit: exactly what `fit(init=...)` gives,
  # and not the cold fit.
  previous = jax.tree.map(lambda a: a[0], warm)
  expected = fitting.fit(xy[1], confidence[1], init=previous, **kwargs)
  np.testing.assert_allclose(warm.pose[1], expected.pose, atol=1e-5)
  assert np.abs(warm.pose[1] - cold.pose[1]).max() > 1e-3
  # Track 1 comes back at frame 5, 4 frames after its last fit (> max_gap):
  # cold; track 0 is warm throughout.
  np.testing.assert_allclose(warm.pose[5, 1], cold.pose[5, 1], atol=1e-5)
  assert np.abs(warm.pose[5, 0] - cold.pose[5, 0]).max() > 1e-3
  # Failed fits are zeros, not NaN.
  assert np.all(warm.pose[2:5, 1] == 0)
  # Column 0 holding two tracks (a batch slot), the second from frame 3 on:
  # frame 3 starts cold though frame 2 was fitted.
  slots = np.zeros((8, 2), int)
  slots[3:, 0] = 1
  slotted = sequences.fit_tracks(xy, confidence, warm_start=True, max_gap=2,
                                 track=slots, **kwargs)
  np.testing.assert_allclose(slotted.pose[3, 0], cold.pose[3, 0], atol=1e-5)
  np.testing.assert_allclose(slotted.pose[:3], warm.pose[:3], atol=1e-6)
  assert np.abs(slotted.pose[4, 0] - cold.pose[4, 0]).max() > 1e-3
  assert isinstance(warm.camera, cameras.Perspective)
  assert warm.camera.translation.shape == (8, 2, 3)
  assert np.all(np.isfinite(warm.camera.translation))
  # Smoothing with a vanishing sigma recomputes exactly what `fit` reported.
  same = sequences.smooth_tracks(cold, 1e-3, keypoint_format=FORMAT,
                                 params=tiny_weights)
  ok = cold.fit_ok
  for field in ("pose", "joints", "keypoints_2d"):
    np.testing.assert_allclose(getattr(same, field)[ok],
                               getattr(cold, field)[ok], rtol=1e-4,
                               atol=1e-3, err_msg=field)
  np.testing.assert_allclose(same.camera.translation, cold.camera.translation,
                             rtol=1e-5)


def test_restarted_chains_restart_cold_every_chain_length_fits(
    video, tiny_weights):
  xy, confidence, kwargs = _with_a_gap(video, tiny_weights)  # back cold at 5
  restarted = sequences.fit_tracks(xy, confidence, warm_start="restarted",
                                   chain_length=3, **kwargs)
  chained = sequences.fit_tracks(xy, confidence, warm_start="chained",
                                 **kwargs)
  cold = sequences.fit_tracks(xy, confidence, warm_start="off", **kwargs)
  # Track 0: cold at frames 0, 3 and 6, each starting a chain of 3 fits.
  np.testing.assert_allclose(restarted.pose[:3, 0], chained.pose[:3, 0],
                             atol=1e-6)
  for t in (3, 6):
    np.testing.assert_allclose(restarted.pose[t, 0], cold.pose[t, 0],
                               atol=1e-5)
  for t in (4, 5, 7):
    previous = jax.tree.map(lambda a: a[t - 1], restarted)
    expected = fitting.fit(xy[t], confidence[t], init=previous, **kwargs)
    np.testing.assert_allclose(restarted.pose[t], expected.pose, atol=1e-5)
    assert np.abs(restarted.pose[t, 0] - cold.pose[t, 0]).max() > 1e-3
  # Track 1: cold at 0, warm at 1; back cold at 5, warm at 6 and 7.
  np.testing.assert_allclose(restarted.pose[5, 1], cold.pose[5, 1], atol=1e-5)
  assert np.abs(restarted.pose[1, 1] - cold.pose[1, 1]).max() > 1e-3
  assert np.abs(restarted.pose[7, 1] - cold.pose[7, 1]).max() > 1e-3
  # A miss within max_gap neither counts nor breaks the chain: track 1,
  # missed at frame 2 only, goes on from frame 1 at frame 3 (its chain's
  # third fit) and is cold at frame 4.
  missed = video.confidence.copy()
  missed[2, 1] = 0
  gapped = sequences.fit_tracks(xy, missed, warm_start="restarted",
                                chain_length=3, **kwargs)
  from_frame_1 = fitting.fit(xy[3], missed[3], init=jax.tree.map(
      lambda a: a[1], gapped), **kwargs)
  np.testing.assert_allclose(gapped.pose[3, 1], from_frame_1.pose[1],
                             atol=1e-5)
  np.testing.assert_allclose(
      gapped.pose[4, 1], fitting.fit(xy[4], missed[4], **kwargs).pose[1],
      atol=1e-5)
  # Chains of one fit are independent fits.
  single = sequences.fit_tracks(xy, confidence, warm_start="restarted",
                                chain_length=1, **kwargs)
  np.testing.assert_allclose(single.pose, cold.pose, atol=1e-5)
  with pytest.raises(ValueError, match="chain_length"):
    sequences.fit_tracks(xy, confidence, warm_start="restarted",
                         chain_length=0, **kwargs)


def test_checked_chains_keep_whichever_fit_explains_the_keypoints_better(
    tiny_weights, monkeypatch):
  # The bundled network: the tiny one's warm fits never explain the points
  # better than its independent ones. In this video (seed 5) a track keeps
  # an independent fit and then a warm one, in both runs below.
  video = videos.make_video([_clip(0), _clip(1)], 5, num_frames=7,
                            num_people=2, keypoint_format=FORMAT,
                            params=tiny_weights, keep_prob=1.0)
  xy, confidence, kwargs = _with_a_gap(video, None)  # back cold at 5
  cold = sequences.fit_tracks(xy, confidence, warm_start="off", **kwargs)
  final_loss = lambda result: result.loss_history[..., -1]
  # Segments of at least 2 frames side by side: frames 0-1, 2-3 and 4-6,
  # the first two a step short; by default the 7 frames are one segment.
  kept_by_run = {}
  for segment_frames, starts in ((None, {0}), (2, {0, 2, 4})):
    done = []
    checked = sequences.fit_tracks(xy, confidence, warm_start="checked",
                                   segment_frames=segment_frames,
                                   on_frames=done.append, **kwargs)
    assert sum(done) == pytest.approx(7)
    np.testing.assert_array_equal(checked.fit_ok, cold.fit_ok)
    if segment_frames is None:  # the default
      np.testing.assert_array_equal(
          sequences.fit_tracks(xy, confidence, **kwargs).pose, checked.pose)
    warm_kept = {}  # (frame, track): the warm fit kept, else the independent
    for t in sorted(set(range(7)) - starts):
      # Each frame starts from the frame before's kept fit, whichever it was.
      warm = fitting.fit(xy[t], confidence[t], init=jax.tree.map(
          lambda a: a[t - 1], checked), **kwargs)
      for p in range(2):
        if not checked.fit_ok[t, p] or (p == 1 and t == 5):
          continue  # absent, or back after a gap longer than max_gap
        warm_better = final_loss(warm)[p] <= final_loss(cold)[t, p]
        expected = warm if warm_better else jax.tree.map(lambda a: a[t], cold)
        np.testing.assert_allclose(checked.pose[t, p], expected.pose[p],
                                   atol=1e-5)
        np.testing.assert_allclose(final_loss(checked)[t, p],
                                   min(final_loss(warm)[p],
                                       final_loss(cold)[t, p]), rtol=1e-5)
        warm_kept[t, p] = bool(warm_better)
    # Both ways taken in this video, and a warm fit kept right after an
    # independent one: the chain went on from the fit it kept.
    assert any(warm_kept.get((t + 1, p)) for (t, p), kept in warm_kept.items()
               if not kept), warm_kept
    # A segment's first frame, and a track back after a long gap: the
    # independent fits.
    for t in starts:
      np.testing.assert_array_equal(checked.pose[t], cold.pose[t])
    np.testing.assert_array_equal(checked.pose[5, 1], cold.pose[5, 1])
    kept_by_run[segment_frames] = warm_kept
  # Where a segment starts, the whole video's chain kept a warm fit: the
  # segment's start changed the fit.
  assert any(kept_by_run[None].get((t, p)) for t in (2, 4)
             for p in range(2)), kept_by_run
  # The default length is `SEGMENT_FRAMES` (2 here: the run above).
  monkeypatch.setattr(sequences, "SEGMENT_FRAMES", 2)
  np.testing.assert_array_equal(
      sequences.fit_tracks(xy, confidence, warm_start="checked",
                           **kwargs).pose, checked.pose)
  for bad in (0, 2.5):
    with pytest.raises(ValueError, match="segment_frames"):
      sequences.fit_tracks(xy, confidence, warm_start="checked",
                           segment_frames=bad, **kwargs)


def test_videos_one_after_another_are_fitted_side_by_side_each_as_alone(
    video, tiny_weights, monkeypatch):
  # Two videos, of 8 frames and of the first 5 of them backwards, laid one
  # after another, the frame numbers jumping by more than max_gap between
  # them.
  xy, confidence, kwargs = _with_a_gap(video, tiny_weights)
  parts = ((xy, confidence), (xy[4::-1], confidence[4::-1]))
  both_xy, both_confidence = (np.concatenate(a) for a in zip(*parts))
  frames = np.r_[np.arange(8), np.arange(5) + 8 + sequences.MAX_GAP]
  kwargs["camera"] = jax.tree.map(
      lambda a: np.broadcast_to(a, (13,) + a.shape), video.intrinsics)
  calls = []  # people per call
  fit_in_chunks = fitting.fit_in_chunks
  monkeypatch.setattr(fitting, "fit_in_chunks", lambda *args, **kw: (
      calls.append(len(args[0])), fit_in_chunks(*args, **kw))[1])
  # Checked chains in segments of at least 3 frames: frames 0-3, 4-7 and
  # the second video's 8-12. Each step after a segment's first fits the
  # tracks with a fit at most max_gap frames before in the segment (the
  # fits succeed where a track is present).
  present = both_confidence.any(-1)
  warm = [sum(present[max(first, first + step - sequences.MAX_GAP):
                      first + step, p].any()
              for first, length in ((0, 4), (4, 4), (8, 5))
              if step < length for p in range(2))
          for step in range(1, 5)]
  for mode, segment_frames, expected in (
      # The chains take 8 steps, not 13: both videos in each call, until
      # the second one ends.
      ("chained", None, [2 * 2] * 5 + [2] * 3),
      # After the independent fits of all 13 frames.
      ("checked", 3, [13 * 2] + warm)):
    options = dict(kwargs, warm_start=mode, segment_frames=segment_frames)
    alone = [sequences.fit_tracks(a, c, **dict(options,
                                              camera=video.intrinsics))
             for a, c in parts]
    calls.clear()
    together = sequences.fit_tracks(both_xy, both_confidence, frames=frames,
                                    **options)
    assert calls == expected, (mode, calls)
    for field in ("pose", "betas", "loss_history", "fit_ok"):
      np.testing.assert_allclose(
          getattr(together, field),
          np.concatenate([getattr(r, field) for r in alone]), atol=1e-5,
          err_msg=f"{mode} {field}")


def test_lay_out_videos_renumbers_frames_offsets_tracks_and_pads_slots():
  rng = np.random.default_rng(0)
  # The first video is the narrower one (2 slots of 3), its last frame
  # without a person in slot 1; the second has an empty cell too.
  first = dict(xy=rng.normal(size=(3, 2, K, 2)), confidence=np.ones((3, 2, K)),
               frames=np.array([5, 6, 8]),
               track=np.array([[0, 1], [0, 1], [0, -1]]),
               camera=cameras.Perspective(
                   np.array([[[500.0, 500.0], [600.0, 600.0]]]),
                   np.zeros((1, 2, 2)), np.array([[[0.0, 0, 4], [0, 0, 5]]])))
  first["confidence"][2, 1] = 0
  second = dict(xy=rng.normal(size=(2, 3, K, 2)),
                confidence=np.ones((2, 3, K)), frames=np.array([0, 1]),
                track=np.array([[4, 7, -1], [4, 7, 2]]),
                camera=cameras.Perspective(
                    np.array([700.0, 700.0]), np.zeros(2), np.zeros(3)))
  second["confidence"][0, 2] = 0
  videos_ = (first, second)
  layout = sequences.lay_out_videos(
      *([v[name] for v in videos_] for name in ("xy", "confidence")),
      **{name: [v[name] for v in videos_]
         for name in ("frames", "track", "camera")}, max_gap=2)
  # The second video starts max_gap + 1 frames after the first one ends;
  # its track ids follow the first's (-1 stays no track); the first
  # video's missing slot is empty.
  assert layout.max_gap == 2
  np.testing.assert_array_equal(layout.frames, [0, 1, 3, 6, 7])
  np.testing.assert_array_equal(layout.track, [[0, 1, -1], [0, 1, -1],
                                               [0, -1, -1], [6, 9, -1],
                                               [6, 9, 4]])
  np.testing.assert_array_equal(layout.confidence[:3, 2], 0)
  np.testing.assert_array_equal(layout.xy[:3, 2], 0)
  # An empty slot's camera is its frame's last slot's.
  np.testing.assert_array_equal(layout.camera.focal_length[:, :, 0],
                                [[500, 600, 600]] * 3 + [[700] * 3] * 2)
  np.testing.assert_array_equal(layout.camera.translation[:, :, 2],
                                [[4, 5, 5]] * 3 + [[0] * 3] * 2)
  # Splitting gives each video's own cells back.
  parts = layout.split(fitting.FitResult(*[layout.xy] * 7))
  assert [p.pose.shape for p in parts] == [(3, 2, K, 2), (2, 3, K, 2)]
  for part, video in zip(parts, videos_):
    np.testing.assert_allclose(part.betas, video["xy"], rtol=1e-6)
  # Default frames and tracks: 0..T-1 and one track per slot.
  pair = dict(xy=[first["xy"], second["xy"]],
              confidence=[first["confidence"], second["confidence"]])
  layout = sequences.lay_out_videos(**pair)
  np.testing.assert_array_equal(
      layout.frames, [0, 1, 2, 3 + sequences.MAX_GAP, 4 + sequences.MAX_GAP])
  np.testing.assert_array_equal(layout.track[:, 1], [1, 1, 1, 3, 3])
  assert layout.camera is None
  with pytest.raises(ValueError, match="at least one video"):
    sequences.lay_out_videos([], [])
  with pytest.raises(ValueError, match="track has 1 videos, xy 2"):
    sequences.lay_out_videos(**pair, track=[first["track"]])
  with pytest.raises(ValueError, match="video 1: frames must be 2 increasing"):
    sequences.lay_out_videos(**pair, frames=[first["frames"], [3, 3]])
  with pytest.raises(ValueError, match=r"video 0: track must have shape"):
    sequences.lay_out_videos(**pair, track=[second["track"]] * 2)
  with pytest.raises(ValueError, match="video 1: cells with keypoints"):
    sequences.lay_out_videos(**pair, track=[first["track"],
                                            -np.ones((2, 3), int)])
  with pytest.raises(ValueError, match="video 1: xy must be"):
    sequences.lay_out_videos([first["xy"], first["xy"][:0]],
                             [first["confidence"]] * 2)


def test_the_sequence_evaluation_scores_each_video_as_fitted_alone(
    tiny_weights):
  """Its videos are fitted together (`lay_out_videos`), each as alone:
  the same scores as fitting and scoring them one by one."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = sequences_config.get_config()
  config.warm_starts = ("checked",)
  config.sigmas = (0.0, 2.0)
  config.video.num_people = 2
  config.fit.segment_frames = 4
  config.fit.chunk_size = 4  # alone or together, one call shape
  split = ml_collections.ConfigDict(dict(num_videos=2, num_frames=8))
  clips = [_clip(0), _clip(1), _clip(2)]
  report = video_evaluation.evaluate_synthetic(
      clips, config, tiny_weights, split, seed=5, log=lambda _: None)
  methods = video_evaluation.method_names(config)
  totals = {name: video_evaluation._Totals() for name, _, _ in methods}  # pylint: disable=protected-access
  for i in range(2):
    video = videos.make_video(clips, 5 + i, num_frames=8, params=tiny_weights,
                              **config.video)
    alone, _ = video_evaluation._run_methods(  # pylint: disable=protected-access
        sequences.lay_out_videos([video.xy], [video.confidence],
                                 camera=[video.intrinsics],
                                 max_gap=config.fit.max_gap),
        methods=methods, keypoint_format=video.keypoint_format,
        params=tiny_weights, fit_config=config.fit)
    for name, (result,) in alone.items():
      video_evaluation.score_video(result, video, totals[name])
  for name, scores in report["methods"].items():
    expected = totals[name].means()
    assert scores.keys() == expected.keys()
    for key, value in scores.items():
      np.testing.assert_allclose(value, expected[key], atol=2e-3,
                                 err_msg=f"{name} {key}")


# --- Smoothing ---------------------------------------------------------------


def _result(pose, betas, camera, ok, params):
  joints, points = fitting.fitted_points(pose, betas, camera,
                                         keypoint_format=FORMAT,
                                         params=params)
  shape = pose.shape[:-1]
  return fitting.FitResult(pose, betas, camera, np.asarray(joints),
                           np.asarray(points), np.zeros(shape + (5,)), ok)


NUM = 30  # frames of the smoothing tests: one shape, one compilation


def _weak(shape):
  return cameras.WeakPerspective(np.full(shape, 200.0, np.float32),
                                 np.full(shape + (2,), 300.0, np.float32))


def test_smoothing_leaves_a_constant_trajectory_unchanged(tiny_weights):
  rng = np.random.default_rng(0)
  pose = np.broadcast_to(rng.normal(0, 0.4, 72), (NUM, 1, 72)).astype(
      np.float32)
  betas = np.broadcast_to(rng.normal(0, 1, 10), (NUM, 1, 10)).astype(
      np.float32)
  result = _result(pose, betas, _weak((NUM, 1)), np.ones((NUM, 1), bool),
                   tiny_weights)
  smooth = sequences.smooth_tracks(result, 2.0, keypoint_format=FORMAT,
                                   params=tiny_weights)
  for field in ("pose", "betas", "joints", "keypoints_2d"):
    np.testing.assert_allclose(getattr(smooth, field), getattr(result, field),
                               atol=2e-4, err_msg=field)
  np.testing.assert_allclose(smooth.camera.scale, 200.0, rtol=1e-5)
  np.testing.assert_allclose(smooth.camera.translation, 300.0, rtol=1e-5)
  assert sequences.smooth_tracks(result, 0.0, keypoint_format=FORMAT) is (
      result)


def test_smoothing_rotations_near_pi_does_not_flip(tiny_weights):
  # Global orientation: half a turn about a tilted axis, plus noise of
  # ~0.05 rad. Axis-angle flips between ~pi·a and ~-pi·a from frame to
  # frame (their naive average is ~0, the identity); quaternion averaging
  # stays at the half turn.
  num = NUM
  rng = np.random.default_rng(1)
  axis = np.array([0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3])
  truth = Rotation.from_rotvec(np.pi * axis)
  noisy = Rotation.from_rotvec(rng.normal(0, 0.05, (num, 3))) * truth
  rotvec = noisy.as_rotvec()
  assert (rotvec @ axis < 0).any() and (rotvec @ axis > 0).any()
  pose = np.zeros((num, 1, 72), np.float32)
  pose[:, 0, :3] = rotvec
  result = _result(pose, np.zeros((num, 1, 10), np.float32), _weak((num, 1)),
                   np.ones((num, 1), bool), tiny_weights)
  smooth = sequences.smooth_tracks(result, 2.0, keypoint_format=FORMAT,
                                   params=tiny_weights)
  assert np.all(np.isfinite(smooth.pose)) and np.all(
      np.isfinite(smooth.joints))
  smoothed = Rotation.from_rotvec(smooth.pose[:, 0, :3].astype(np.float64))
  error = (smoothed * truth.inv()).magnitude()
  raw_error = (noisy * truth.inv()).magnitude()
  assert error.max() < 0.06
  assert error.mean() < 0.6 * raw_error.mean()
  steps = (smoothed[1:] * smoothed[:-1].inv()).magnitude()
  assert steps.max() < 0.05  # no jumps between consecutive frames


def test_smoothing_skips_failed_frames(tiny_weights):
  num = NUM
  rng = np.random.default_rng(2)
  pose = np.broadcast_to(rng.normal(0, 0.3, 72), (num, 1, 72)).copy()
  betas = np.zeros((num, 1, 10), np.float32)
  ok = np.ones((num, 1), bool)
  ok[4] = False
  pose[4] = 0  # failed fits are zeros; they must not pull neighbours
  betas[4] = 5.0
  result = _result(pose.astype(np.float32), betas, _weak((num, 1)), ok,
                   tiny_weights)
  smooth = sequences.smooth_tracks(result, 2.0, keypoint_format=FORMAT,
                                   params=tiny_weights)
  for field in ("pose", "betas", "joints", "keypoints_2d"):
    np.testing.assert_array_equal(getattr(smooth, field)[4],
                                  getattr(result, field)[4], err_msg=field)
  np.testing.assert_allclose(smooth.pose[ok[:, 0]], pose[ok[:, 0]],
                             atol=2e-5)
  np.testing.assert_allclose(smooth.betas, betas, atol=1e-6)
  np.testing.assert_array_equal(smooth.fit_ok, ok)


def test_smoothing_does_not_mix_tracks_sharing_a_column(tiny_weights):
  # One column: track 0 holds pose a for frames 0-14, track 1 pose b after.
  rng = np.random.default_rng(5)
  pose = np.zeros((NUM, 1, 72), np.float32)
  pose[:15], pose[15:] = rng.normal(0, 0.3, 72), rng.normal(0, 0.3, 72)
  track = np.repeat([0, 1], 15)[:, None]
  result = _result(pose, np.zeros((NUM, 1, 10), np.float32), _weak((NUM, 1)),
                   np.ones((NUM, 1), bool), tiny_weights)
  kwargs = dict(keypoint_format=FORMAT, params=tiny_weights)
  apart = sequences.smooth_tracks(result, 2.0, track=track, **kwargs)
  np.testing.assert_allclose(apart.pose, pose, atol=2e-5)
  mixed = sequences.smooth_tracks(result, 2.0, **kwargs)
  assert np.abs(mixed.pose[14] - pose[14]).max() > 0.01


def test_smoothing_reduces_noise_of_a_perspective_camera(tiny_weights):
  num = NUM
  rng = np.random.default_rng(3)
  translation = np.array([0.1, 0.2, 5.0]) + rng.normal(0, 0.05, (num, 1, 3))
  camera = cameras.Perspective(np.full((num, 1, 2), 1000.0),
                               np.full((num, 1, 2), 500.0), translation)
  result = _result(np.zeros((num, 1, 72), np.float32),
                   np.zeros((num, 1, 10), np.float32), camera,
                   np.ones((num, 1), bool), tiny_weights)
  smooth = sequences.smooth_tracks(result, 2.0, keypoint_format=FORMAT,
                                   params=tiny_weights)
  error = np.abs(smooth.camera.translation[5:-5] - [0.1, 0.2, 5.0]).mean()
  assert error < 0.5 * np.abs(translation[5:-5] - [0.1, 0.2, 5.0]).mean()
  np.testing.assert_array_equal(smooth.camera.focal_length, 1000.0)


def test_quaternion_round_trip_matches_scipy():
  rotvec = np.concatenate([
      np.random.default_rng(4).normal(0, 1.5, (50, 3)),
      [[0, 0, 0], [1e-8, 0, 0], [np.pi, 0, 0], [0, -np.pi + 1e-4, 0]]])
  quat = np.asarray(rotations.axis_angle_to_quaternion(rotvec))
  scipy_quat = Rotation.from_rotvec(rotvec).as_quat()  # (x, y, z, w)
  same = np.abs(np.sum(quat * np.roll(scipy_quat, 1, -1), -1))
  np.testing.assert_allclose(same, 1.0, atol=1e-6)
  back = np.asarray(rotations.quaternion_to_axis_angle(-3.0 * quat))
  error = (Rotation.from_rotvec(back) * Rotation.from_rotvec(rotvec).inv())
  assert error.magnitude().max() < 1e-5


# --- Jitter ------------------------------------------------------------------


def test_mean_acceleration_by_hand():
  # Joint 0 moves as x = t^2 (second difference 2 everywhere), joint 1
  # stays: the mean over joints is 1.
  t = np.arange(6, dtype=np.float32)
  joints = np.zeros((6, 2, 3), np.float32)
  joints[:, 0, 0] = t**2
  assert float(metrics.mean_acceleration(joints)) == pytest.approx(1.0)
  assert float(metrics.acceleration_error(joints, np.zeros_like(joints))) == (
      pytest.approx(1.0))
  # A jump at an invalid frame 1 is not counted: only the triples centred
  # at frames 3 and 4 are valid, where the static trajectory has none.
  jump = np.zeros((6, 1, 3), np.float32)
  jump[1, 0, 1] = 100
  valid = np.array([1, 0, 1, 1, 1, 1], bool)
  assert float(metrics.mean_acceleration(jump, valid)) == 0.0
  assert float(metrics.mean_acceleration(jump)) == pytest.approx(
      (200 + 100) / 4)  # |(0 - 200 + 0)| at t=1 and |100| at t=2, over 4
  # Several tracks, (T, P, J, 3): each track's own triples.
  tracks = np.stack([joints[:, :1], jump], 1)  # (6, 2, 1, 3)
  both = np.stack([np.ones(6, bool), valid], 1)
  assert float(metrics.mean_acceleration(tracks, both)) == pytest.approx(
      (2 * 4 + 0 * 2) / 6)
  assert np.isnan(float(metrics.mean_acceleration(joints[:2])))


# --- Synthetic videos --------------------------------------------------------


def test_make_video_shapes_determinism_and_detector(tiny_weights):
  clips = [_clip(0), _clip(1), _clip(2, frames=5)]
  kwargs = dict(num_frames=12, num_people=3, keypoint_format="openpose25",
                params=tiny_weights)
  a = videos.make_video(clips, 7, **kwargs)
  b = videos.make_video(clips, 7, **kwargs)
  c = videos.make_video(clips, 8, **kwargs)
  assert a.xy.shape == (12, 3, 25, 2) and a.confidence.shape == (12, 3, 25)
  assert a.pose.shape == (12, 3, 72) and a.betas.shape == (3, 10)
  assert a.joints.shape == (12, 3, 24, 3)
  assert a.camera.translation.shape == (12, 3, 3)
  assert "clip2" not in a.clips  # too short for 12 frames
  for field in ("xy", "confidence", "pose", "betas", "joints"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  assert not np.array_equal(a.xy, c.xy)
  # ~80 % of the points reported, dropped ones at 0; people side by side
  # in the 1920x1080 image.
  reported = a.confidence > 0
  assert 0.7 < reported.mean() < 0.9
  assert not a.xy[~reported].any()
  centres = np.array([a.xy[:, p][reported[:, p]][:, 0].mean()
                      for p in range(3)])
  assert np.all(np.diff(centres) > 0) and np.all((0 < centres) &
                                                 (centres < 1920))
  # Each person plays a segment of its clip: the body pose as it is, the
  # global orientation turned to a heading.
  by_name = {clip.name: clip for clip in clips}
  for p, (name, start) in enumerate(zip(a.clips, a.starts)):
    segment = by_name[name].poses[start:start + 12]
    np.testing.assert_allclose(a.pose[:, p, 3:], segment[:, 3:], atol=1e-6)
    assert not np.allclose(a.pose[:, p, :3], segment[:, :3], atol=1e-3)
  assert not np.any(videos.make_video(clips, 7, miss_prob=1.0,
                                      **kwargs).confidence)
  weak = videos.make_video(clips, 7, camera="weak", noise=0.0, keep_prob=1.0,
                           **kwargs)
  assert isinstance(weak.camera, cameras.WeakPerspective)
  with pytest.raises(ValueError, match="no clip has"):
    videos.make_video(clips, 7, num_frames=100, params=tiny_weights)


def test_the_video_evaluation_tracks_shuffled_rows():
  """The sequence benchmark's tracking score on two people who stand far
  apart: hiding and shuffling their ids must not confuse the tracker."""
  rng = np.random.default_rng(0)
  person = rng.uniform(0, 100, (1, 1, 17, 2))
  xy = np.broadcast_to(person, (6, 2, 17, 2)) + np.array(
      [0.0, 1000.0])[None, :, None, None]
  confidence = np.ones((6, 2, 17))
  scores = video_evaluation._track_video(  # pylint: disable=protected-access
      xy, confidence, rng, sequences_config.get_config().tracking)
  assert scores["true_tracks"] == scores["predicted_tracks"] == 2
  assert scores["id_switches"] == 0 and scores["purity"] == 1.0


def test_quarters_of_a_video_by_hand():
  per_frame = np.arange(10.0)[:, None] * np.ones((1, 2))
  per_frame[9, 1] = np.nan  # a missed fit: left out of the means
  parts = video_evaluation.quarters(per_frame)
  np.testing.assert_array_equal(parts["first_quarter"], per_frame[:2])
  np.testing.assert_array_equal(parts["last_quarter"], per_frame[8:])
  totals = video_evaluation._Totals()  # pylint: disable=protected-access
  for name, part in parts.items():
    totals.add(name, part)
  assert totals.means() == {"first_quarter": 0.5, "last_quarter": 8.333}
  assert video_evaluation.quarters(np.ones((3, 1)))["last_quarter"].shape == (
      1, 1)
