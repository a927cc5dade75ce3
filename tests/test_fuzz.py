"""Bad input, generated (hypothesis): the keypoint readers, `fit` and the
`lgd-fit` pipeline.

Readers. Each generated file (OpenPose JSON, COCO-style JSON, MMPose's MPII
JSON, .npy, .npz) is a valid file with random values, then at most one
defect. A harmful defect (NaN, infinite or float32-overflowing coordinates
of a visible point; a negative or non-finite confidence; an invalid COCO
flag; the wrong number of points; strings, objects or bools for numbers; a
bad person, image or track id; truncated or non-UTF-8 bytes; a wrong dtype
or shape) must raise `KeypointFileError` naming the file. A harmless oddity
(confidence > 1, hidden points with NaN or huge coordinates, frames without
people, unusable image sizes) must give exactly the rows the documented
rules give, computed here from the raw values: float32, finite, confidences
in [0, 1].

`fit`. A fixed batch of 8 people (one compiled shape) with some people
damaged (NaN or infinite points, confidences negative, NaN, > 1 or all
zero, 0 to 5 visible points, coordinates scaled from 1e-38 to 3e38 or moved
far away, NaN, zero or huge image sizes) must give finite float32 results;
fit_ok must be False exactly where fewer than 6 points are visible or the
image size is not finite; the undamaged people's results must not change by
a single bit; a point with a bad confidence or non-finite coordinates must
act exactly as a missing point; scaling or moving a person must change
only the camera's depth. Wrong dtypes, wrong K and camera shapes that do
not match raise a ValueError naming the argument.

`lgd-fit` (`lgd_jax.tool.pipeline.run`). A folder of OpenPose frames, each
file valid or with one defect (truncated, not UTF-8, a NaN visible point,
the wrong point count, a string for a number): exactly the defective files
are reported, every person of the others gets an npz with finite
parameters, fit_ok where 6 or more points are visible; a folder of only
defective files raises `KeypointFileError`.

Example counts: LGD_FUZZ_PROFILE=ci (the default: fixed seed, ~350 cases,
well under a minute on 2 cores) or LGD_FUZZ_PROFILE=nightly (random seed,
~2,600 cases). The module prints how many cases ran, per test, at its end.
"""

import collections
import io
import itertools
import json
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lgd_jax
from lgd_jax.training.pose_set import load_pose_set
from lgd_jax.readers import KeypointFileError, read_keypoints
from lgd_jax.formats import FORMATS, from_canonical

PROFILE = os.environ.get("LGD_FUZZ_PROFILE", "ci")
# Cases per test and profile.
_EXAMPLES = {
    "ci": dict(openpose=60, coco=60, mpii=40, arrays=60, fit=60,
               fit_dtypes=20, fit_shapes=30, pipeline=8),
    "nightly": dict(openpose=500, coco=500, mpii=300, arrays=500, fit=500,
                    fit_dtypes=100, fit_shapes=200, pipeline=150),
}
if PROFILE not in _EXAMPLES:
  raise ValueError(f"LGD_FUZZ_PROFILE must be one of {list(_EXAMPLES)}, "
                   f"got {PROFILE!r}")
_RAN = collections.Counter()  # cases that ran, per test
_FILE_NUMBER = itertools.count()

F32_MAX = float(np.finfo(np.float32).max)
INT32_MAX = 2**31 - 1


def _settings(name):
  return settings(
      max_examples=_EXAMPLES[PROFILE][name], deadline=None,  # JAX compiles
      database=None, derandomize=PROFILE == "ci",
      suppress_health_check=[HealthCheck.too_slow,
                             HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
  yield
  line = (f"\ntest_fuzz ({PROFILE} profile): {sum(_RAN.values())} generated "
          f"cases ran: " + ", ".join(f"{k} {v}" for k, v in
                                     sorted(_RAN.items())))
  capture = request.config.pluginmanager.get_plugin("capturemanager")
  with capture.global_and_fixture_disabled():  # shown without -s
    print(line, flush=True)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return tmp_path_factory.mktemp("fuzz")


# --- Readers: values --------------------------------------------------------

_COORD = st.one_of(st.floats(-1e4, 1e4), st.floats(-F32_MAX, F32_MAX),
                   st.floats(-1e-30, 1e-30))
_CONF = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
# Not representable as a float32 coordinate: NaN, infinite or too large.
_BAD_COORD = st.one_of(st.sampled_from([np.nan, np.inf, -np.inf]),
                       st.floats(3.5e38, 1e308), st.floats(-1e308, -3.5e38))
_BAD_CONF = st.one_of(st.sampled_from([np.nan, np.inf, -np.inf, -1.0]),
                      st.floats(-1e300, -1e-300))
# (JSON true and false are read as 1 and 0, as Python and NumPy do.)
_NOT_A_NUMBER = st.sampled_from(["1.0", "", "NaN", {}, [], [1.0]])
_BAD_ID = st.one_of(st.sampled_from([np.nan, np.inf, 1.5, "7", True, [],
                                     2**31, -2**31 - 1]),
                    st.integers(2**31, 2**70))
_BAD_SIZE = st.sampled_from([np.nan, np.inf, -1, 0, "640", True, None, 1e300,
                             2**40])
_INVALID_UTF8 = st.sampled_from([bytes([b]) for b in
                                 list(range(0x80, 0xC0)) + [0xC0, 0xC1, 0xFF]])


def _points(k):
  """(xy list (k, 2), confidence list (k,)) of valid values."""
  return st.tuples(st.lists(st.tuples(_COORD, _COORD), min_size=k,
                            max_size=k),
                   st.lists(_CONF, min_size=k, max_size=k))


def _expected(xy, conf):
  """The documented rows of valid values: confidence clipped to 1, hidden
  points with unusable coordinates stored as 0, float32."""
  xy = np.array(xy, np.float64).reshape(len(conf), -1, 2)
  conf = np.array(conf, np.float64).reshape(len(conf), -1)
  usable = (np.abs(xy) <= F32_MAX).all(-1)
  with np.errstate(over="ignore"):  # bad confidences: the case must fail
    return (np.where(usable[..., None], xy, 0).astype(np.float32),
            np.minimum(conf, 1).astype(np.float32))


def _write(workdir, name, data: bytes):
  # Unique per case: hypothesis runs many cases in one directory.
  path = workdir / f"{next(_FILE_NUMBER):06d}_{name}"
  path.write_bytes(data)
  return path


def _check_outcome(path, error, expected_rows, keypoint_format=None):
  """Reads `path`: an error naming the file when `error`, else exactly
  `expected_rows` (xy, confidence)."""
  if error:
    with pytest.raises(KeypointFileError) as info:
      read_keypoints(path, keypoint_format)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert info.value.path == str(path) and info.value.problem
    return
  people = read_keypoints(path, keypoint_format)
  xy, confidence = expected_rows
  assert people.xy.dtype == people.confidence.dtype == np.float32
  assert np.isfinite(people.xy).all()
  assert ((people.confidence >= 0) & (people.confidence <= 1)).all()
  np.testing.assert_array_equal(people.xy, xy.reshape(people.xy.shape))
  np.testing.assert_array_equal(people.confidence,
                                confidence.reshape(people.confidence.shape))
  assert len(people) == len(xy)


def _damage_bytes(data: bytes, defect, draw) -> bytes:
  if defect == "truncated":
    return data[:draw(st.integers(0, len(data) - 1))]
  position = draw(st.integers(0, len(data)))
  return data[:position] + draw(_INVALID_UTF8) + data[position:]


# Defects shared by the JSON formats -> whether the file must be refused.
_JSON_DEFECTS = {
    "none": False, "conf_above_1": False, "hidden_bad_coord": False,
    "visible_bad_coord": True, "bad_conf": True, "wrong_length": True,
    "not_a_number": True, "truncated": True, "not_utf8": True,
}


def _apply_point_defect(defect, xy, conf, draw):
  """Damages one point of valid (n, k) people in place; `xy` (n, k, 2)
  and `conf` (n, k) are lists of lists."""
  i = draw(st.integers(0, len(xy) - 1))
  j = draw(st.integers(0, len(xy[i]) - 1))
  if defect == "conf_above_1":
    conf[i][j] = draw(st.floats(1.0, 1e300))
  elif defect == "hidden_bad_coord":
    conf[i][j] = 0.0
    xy[i][j] = (draw(_BAD_COORD), xy[i][j][1])
  elif defect == "visible_bad_coord":
    conf[i][j] = draw(st.floats(1e-300, 1.0))
    xy[i][j] = (xy[i][j][0], draw(_BAD_COORD))
  elif defect == "bad_conf":
    conf[i][j] = draw(_BAD_CONF)
  return i, j


# --- Readers: OpenPose ------------------------------------------------------


@st.composite
def openpose_files(draw):
  """(file bytes, must fail, expected rows)."""
  k = draw(st.sampled_from([25, 18]))
  n = draw(st.integers(0, 3))
  people = draw(st.lists(_points(k), min_size=n, max_size=n))
  xy = [list(p[0]) for p in people]
  conf = [list(p[1]) for p in people]
  defects = dict(_JSON_DEFECTS, bad_person_id=True, people_not_list=True)
  if n == 0:  # no point to damage
    defects = {d: f for d, f in defects.items()
               if d in ("none", "truncated", "not_utf8", "people_not_list")}
  defect = draw(st.sampled_from(sorted(defects)))
  if defect in ("conf_above_1", "hidden_bad_coord", "visible_bad_coord",
                "bad_conf"):
    _apply_point_defect(defect, xy, conf, draw)
  flats = [[v for (x, y), c in zip(p, c_) for v in (x, y, c)]
           for p, c_ in zip(xy, conf)]
  ids = [draw(st.sampled_from([[-1], 0, 3, [12]])) for _ in range(n)]
  if defect == "wrong_length":
    i = draw(st.integers(0, n - 1))
    flats[i] = flats[i][:draw(st.integers(0, 3 * k - 1))]
    if n == 1 and len(flats[i]) // 3 in (25, 18) and len(flats[i]) % 3 == 0:
      flats[i] = flats[i][:-3]  # 18 points of a 25-point person: still wrong
  elif defect == "not_a_number":
    i = draw(st.integers(0, n - 1))
    flats[i][draw(st.integers(0, 3 * k - 1))] = draw(_NOT_A_NUMBER)
  elif defect == "bad_person_id":
    ids[draw(st.integers(0, n - 1))] = draw(_BAD_ID)
  content = {"version": 1.3, "people": [
      {"person_id": pid, "pose_keypoints_2d": flat, "face_keypoints_2d": []}
      for pid, flat in zip(ids, flats)]}
  if defect == "people_not_list":
    content["people"] = draw(st.sampled_from([None, {}, "people", 3]))
  data = json.dumps(content).encode()
  if defect in ("truncated", "not_utf8"):
    data = _damage_bytes(data, defect, draw)
  expected = _expected(xy, conf) if n else (np.zeros((0, k, 2)),
                                            np.zeros((0, k)))
  return data, defects[defect], expected


_OPENPOSE_FLAT = [100.0, 200.0, 1.0] * 25


def _openpose(flat, **person):
  """One person's OpenPose file."""
  return json.dumps({"people": [{"pose_keypoints_2d": flat,
                                 **person}]}).encode()


@_settings("openpose")
@given(openpose_files())
# Regressions: a visible point at 1e300 was returned as inf (float32); a
# hidden one too; NaN, inf or huge person ids crashed with ValueError or
# OverflowError; a string coordinate was parsed as a number.
@example((_openpose([1e300] + _OPENPOSE_FLAT[1:]), True, None))
@example((_openpose([1e300, 2.0, 0.0] + _OPENPOSE_FLAT[3:]), False, (
    np.array([[[0, 0]] + [[100, 200]] * 24], np.float32),
    np.array([[0.0] + [1.0] * 24], np.float32))))
@example((_openpose(_OPENPOSE_FLAT, person_id=[float("nan")]), True, None))
@example((_openpose(_OPENPOSE_FLAT, person_id=float("inf")), True, None))
@example((_openpose(_OPENPOSE_FLAT, person_id=10**30), True, None))
@example((_openpose(["1"] + _OPENPOSE_FLAT[1:]), True, None))
def test_openpose_json(workdir, case):
  _RAN["openpose"] += 1
  data, error, expected = case
  _check_outcome(_write(workdir, "frame_keypoints.json", data), error,
                 expected)


# --- Readers: COCO-style ----------------------------------------------------


@st.composite
def coco_files(draw):
  fmt = draw(st.sampled_from(["coco17", "crowdpose14"]))
  k = FORMATS[fmt].num_keypoints
  num_images = draw(st.integers(1, 3))
  sizes = [(draw(st.integers(1, 10000)), draw(st.integers(1, 10000)))
           for _ in range(num_images)]
  n = draw(st.integers(0, 3))
  people = draw(st.lists(_points(k), min_size=n, max_size=n))
  xy = [list(p[0]) for p in people]
  # COCO flags: 0 unlabelled, 1 occluded, 2 visible; confidence = flag > 0.
  flags = [draw(st.lists(st.sampled_from([0, 1, 2]), min_size=k,
                         max_size=k)) for _ in range(n)]
  defects = {"none": False, "hidden_bad_coord": False, "bad_size": False,
             "visible_bad_coord": True, "bad_flag": True,
             "wrong_length": True, "not_a_number": True, "truncated": True,
             "not_utf8": True, "unknown_image": True, "bad_image_id": True,
             "bad_track_id": True}
  if n == 0:
    defects = {d: f for d, f in defects.items()
               if d in ("none", "bad_size", "truncated", "not_utf8")}
  defect = draw(st.sampled_from(sorted(defects)))
  image_of = [draw(st.integers(0, num_images - 1)) for _ in range(n)]
  tracks = [draw(st.sampled_from([None, 0, 5])) for _ in range(n)]
  if defect in ("hidden_bad_coord", "visible_bad_coord"):
    i = draw(st.integers(0, n - 1))
    j = draw(st.integers(0, k - 1))
    flags[i][j] = 0 if defect == "hidden_bad_coord" else draw(
        st.sampled_from([1, 2]))
    xy[i][j] = (draw(_BAD_COORD), xy[i][j][1])
  elif defect == "bad_flag":
    flags[draw(st.integers(0, n - 1))][draw(st.integers(0, k - 1))] = draw(
        st.sampled_from([3, -1, 0.5, np.nan, 1e300]))
  elif defect == "bad_track_id":
    tracks[draw(st.integers(0, n - 1))] = draw(_BAD_ID)
  flats = [[v for (x, y), f in zip(p, fl) for v in (x, y, f)]
           for p, fl in zip(xy, flags)]
  if defect == "wrong_length":
    i = draw(st.integers(0, n - 1))
    flats[i] = flats[i][:draw(st.integers(0, 3 * k - 1))]
  elif defect == "not_a_number":
    flats[draw(st.integers(0, n - 1))][draw(st.integers(0, 3 * k - 1))] = (
        draw(_NOT_A_NUMBER))
  images = [{"id": 10 + i, "file_name": f"{i}.jpg", "width": w,
             "height": h} for i, (w, h) in enumerate(sizes)]
  expected_sizes = [list(s) for s in sizes]
  if defect == "bad_size":
    i = draw(st.integers(0, num_images - 1))
    images[i]["width"] = draw(_BAD_SIZE)
    expected_sizes[i][0] = 0  # documented: 0 where the file does not say
  if defect == "bad_image_id":
    images[draw(st.integers(0, num_images - 1))]["id"] = draw(
        st.sampled_from([[10], {}, None, 1.5, True]))
  annotations = []
  for i in range(n):
    ann = {"id": i, "image_id": 10 + image_of[i], "keypoints": flats[i]}
    if tracks[i] is not None:
      ann["track_id"] = tracks[i]
    annotations.append(ann)
  if defect == "unknown_image":
    annotations[draw(st.integers(0, n - 1))]["image_id"] = draw(
        st.sampled_from([99, "10", None, [10]]))
  content = {"images": images, "annotations": annotations,
             "categories": [{"id": 1, "name": "person",
                             "keypoints": list(FORMATS[fmt].joint_names)}]}
  data = json.dumps(content).encode()
  if defect in ("truncated", "not_utf8"):
    data = _damage_bytes(data, defect, draw)
  conf = [[float(f > 0) for f in fl] for fl in flags]
  expected = (_expected(xy, conf) if n else
              (np.zeros((0, k, 2)), np.zeros((0, k))))
  sizes_out = np.array([expected_sizes[i] for i in image_of],
                       int).reshape(-1, 2)
  return data, defects[defect], expected, sizes_out


def _coco_case(image, keypoints=(1, 2, 2) * 17, **annotation):
  content = {"images": [{"id": 1, **image}],
             "annotations": [{"image_id": 1, "keypoints": list(keypoints),
                              **annotation}],
             "categories": [{"keypoints": list(FORMATS["coco17"].joint_names)}]}
  return json.dumps(content).encode()


_ONE_COCO_ROW = (np.ones((1, 17, 2), np.float32) * [1, 2],
                 np.ones((1, 17), np.float32))


@_settings("coco")
@given(coco_files())
# Regressions: a list as image id crashed with TypeError; NaN, infinite or
# huge image sizes and huge track ids crashed with OverflowError.
@example((_coco_case({"id": [1]}), True, None, None))
@example((_coco_case({"width": np.nan, "height": np.inf}), False,
          _ONE_COCO_ROW, np.zeros((1, 2), int)))
@example((_coco_case({"width": 1e300, "height": 10**40}), False,
          _ONE_COCO_ROW, np.zeros((1, 2), int)))
@example((_coco_case({}, track_id=10**30), True, None, None))
def test_coco_json(workdir, case):
  _RAN["coco"] += 1
  data, error, expected, sizes = case
  path = _write(workdir, "annotations.json", data)
  _check_outcome(path, error, expected)
  if not error:
    np.testing.assert_array_equal(read_keypoints(path).image_size, sizes)


# --- Readers: MPII ----------------------------------------------------------


@st.composite
def mpii_files(draw):
  n = draw(st.integers(1, 3))
  k = 16
  people = draw(st.lists(_points(k), min_size=n, max_size=n))
  xy = [list(p[0]) for p in people]
  conf = [list(p[1]) for p in people]
  defects = dict(_JSON_DEFECTS, missing_key=True, empty_list=True,
                 wrong_k=True)
  del defects["wrong_length"]
  defect = draw(st.sampled_from(sorted(defects)))
  if defect in ("conf_above_1", "hidden_bad_coord", "visible_bad_coord",
                "bad_conf"):
    _apply_point_defect(defect, xy, conf, draw)
  entries = [{"joints": [list(p) for p in xy_], "joints_vis": list(c),
              "image": f"{draw(st.integers(0, 2))}.jpg"}
             for xy_, c in zip(xy, conf)]
  if defect == "wrong_k":
    # Every entry, so that it is not a ragged-array error instead.
    drop = draw(st.sampled_from([1, -1]))
    for entry in entries:
      entry["joints"] = (entry["joints"] + [[0.0, 0.0]] if drop < 0 else
                         entry["joints"][1:])
      entry["joints_vis"] = (entry["joints_vis"] + [0.0] if drop < 0 else
                             entry["joints_vis"][1:])
  elif defect == "not_a_number":
    entries[draw(st.integers(0, n - 1))]["joints_vis"][
        draw(st.integers(0, k - 1))] = draw(_NOT_A_NUMBER)
  elif defect == "missing_key":
    del entries[draw(st.integers(0, n - 1))][draw(st.sampled_from(
        ["joints", "joints_vis", "image"]))]
  elif defect == "empty_list":
    entries = []
  data = json.dumps(entries).encode()
  if defect in ("truncated", "not_utf8"):
    data = _damage_bytes(data, defect, draw)
  # MPII: joints of unlabelled points (joints_vis 0) are stored as 0.
  xy = [[p if c > 0 else (0.0, 0.0) for p, c in zip(xy_, c_)]
        for xy_, c_ in zip(xy, conf)]
  return data, defects[defect], _expected(xy, conf)


@_settings("mpii")
@given(mpii_files())
def test_mpii_json(workdir, case):
  _RAN["mpii"] += 1
  data, error, expected = case
  _check_outcome(_write(workdir, "mpii.json", data), error, expected)


# --- Readers: arrays --------------------------------------------------------

# K -> the format an array of K points is read as without format=.
_BY_COUNT = {25: "openpose25", 18: "openpose18", 24: "smpl24",
             16: "mpii16", 14: "crowdpose14"}


@st.composite
def array_files(draw):
  """(name, bytes, format= to pass, must fail, expected rows)."""
  k = draw(st.sampled_from(sorted(_BY_COUNT) + [17]))
  lead = draw(st.sampled_from([(), (2,), (3,), (2, 2)]))
  columns = draw(st.sampled_from([2, 3]))
  dtype = draw(st.sampled_from([np.float16, np.float32, np.float64,
                                np.int16, np.int64]))
  is_float = np.dtype(dtype).kind == "f"
  # Integers: exact in float32 (< 2^24).
  limit = min(float(np.finfo(dtype).max), 1e30) if is_float else 1e6
  size = draw(st.floats(0, limit))
  rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
  shape = lead + (k,)
  points = (rng.uniform(-1, 1, shape + (2,)) * size).astype(dtype)
  conf = rng.choice([0.0, 0.5, 1.0, 3.0], shape).astype(dtype)
  container = draw(st.sampled_from(["npy", "npz"]))
  defects = {"none": False, "bad_value": True, "bad_conf": True,
             "wrong_dtype": True, "wrong_shape": True, "truncated": True,
             "confidence_shape": True}
  if not is_float:
    del defects["bad_value"], defects["bad_conf"]
  defect = draw(st.sampled_from(sorted(defects)))
  if defect == "bad_value":  # arrays must be finite everywhere
    index = tuple(rng.integers(0, s) for s in shape)
    value = draw(_BAD_COORD if dtype == np.float64 else
                 st.sampled_from([np.nan, np.inf, -np.inf]))
    points[index + (int(rng.integers(0, 2)),)] = value
  elif defect == "bad_conf":
    conf[tuple(rng.integers(0, s) for s in shape)] = draw(
        _BAD_CONF if dtype == np.float64 else
        st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -1e-3]))
    if columns == 2 and container == "npy":
      columns = 3  # a .npy of (x, y) has no confidence to damage
  keypoints = (np.concatenate([points, conf[..., None]], -1)
               if columns == 3 else points)
  arrays = {"keypoints": keypoints}
  if columns == 2 and (container == "npz" or defect == "confidence_shape"):
    arrays["confidence"] = conf
  if defect == "confidence_shape":
    container = "npz"
    arrays["confidence"] = conf[..., :-1]
  if defect == "wrong_dtype":
    key = draw(st.sampled_from(sorted(arrays)))
    kind = draw(st.sampled_from([np.complex64, np.bool_, "U3", "S3", "M8[s]"]))
    with np.errstate(invalid="ignore"):
      arrays[key] = arrays[key].astype(kind)
  elif defect == "wrong_shape":
    arrays["keypoints"] = draw(st.sampled_from([
        keypoints[..., :1], keypoints.reshape((1,) * (5 - keypoints.ndim) +
                                              keypoints.shape),
        keypoints.reshape(-1)[:1].reshape(()),
        keypoints[..., :k // 2, :],  # no format has 7, 8, 9 or 12 points
        keypoints[..., :0, :]]))
  format_ = None
  if k == 17:  # ambiguous: coco17, h36m17, posetrack17
    format_ = draw(st.sampled_from([None, "coco17", "h36m17"]))
    if format_ and container == "npz" and draw(st.booleans()):
      arrays["format"], format_ = np.array(format_), None
  buffer = io.BytesIO()
  if container == "npy":
    np.save(buffer, arrays["keypoints"])
  else:
    np.savez(buffer, **arrays)
  data = buffer.getvalue()
  if defect == "truncated":
    data = data[:draw(st.integers(0, len(data) - 1))]
  error = defects[defect] or (k == 17 and format_ is None and
                              "format" not in arrays)
  c = conf if columns == 3 or "confidence" in arrays else np.ones(shape)
  with np.errstate(over="ignore"):  # cases with huge values must fail
    expected = (points.reshape(-1, k, 2).astype(np.float32),
                np.minimum(c.astype(np.float64), 1).reshape(-1, k).astype(
                    np.float32))
  return f"keypoints.{container}", data, format_, error, expected


def _npy_bytes(array):
  buffer = io.BytesIO()
  np.save(buffer, array)
  return buffer.getvalue()


@_settings("arrays")
@given(array_files())
# Regression: float64 values beyond float32's range were returned as inf.
@example(("huge.npy", _npy_bytes(np.full((2, 25, 3), 1e300)), None, True,
          None))
def test_array_files(workdir, case):
  _RAN["arrays"] += 1
  name, data, format_, error, expected = case
  _check_outcome(_write(workdir, name, data), error, expected, format_)


def test_zip_that_is_not_npz(workdir):
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as z:
    z.writestr("readme.txt", "hello")
  _check_outcome(_write(workdir, "x.npz", buffer.getvalue()), True, None)


# --- fit ----------------------------------------------------------------------

BATCH = 8  # one compiled shape for every case
IMAGE = (640.0, 480.0)


@pytest.fixture(scope="module")
def people():
  """(8, 17, 2) COCO keypoints in pixels of held-out mocap poses."""
  model = lgd_jax.load_body_model()
  regressor = lgd_jax.make_keypoint_regressor(
      model, lgd_jax.formats.canonical_regressor(model))
  poses = load_pose_set("val").poses[::900][:BATCH]  # varied
  points = lgd_jax.regress_keypoints(model, regressor, poses,
                                     jnp.zeros((BATCH, 10)))
  camera = lgd_jax.WeakPerspective(jnp.full(BATCH, 300.0),
                                   jnp.tile(jnp.array([320.0, 240.0]),
                                            (BATCH, 1)))
  return np.asarray(from_canonical(lgd_jax.project(camera, points),
                                   "coco17"), np.float32)


def _intrinsics(width, height):
  width = np.asarray(width, np.float32)
  return lgd_jax.cameras.intrinsics_camera(
      width, np.broadcast_to(np.float32(height), width.shape),
      np.zeros(width.shape + (3,), np.float32))


@pytest.fixture(scope="module")
def fit_batch(tiny_weights):
  """fit on (8, 17, 2) keypoints, (8, 17) confidences, (8,) image sizes."""
  def run(xy, confidence, width, height=IMAGE[1]):
    return jax.device_get(lgd_jax.fit(
        xy, confidence, params=tiny_weights,
        camera=_intrinsics(width, height)))
  return run


@pytest.fixture(scope="module")
def reference(people, fit_batch):
  return fit_batch(people, np.ones((BATCH, 17), np.float32),
                   np.full(BATCH, IMAGE[0]))


_DAMAGE = ["clean", "nan_points", "inf_points", "conf_above_1",
           "conf_negative", "conf_nan", "few_visible", "all_zero_conf",
           "scaled", "tiny", "huge", "bad_image_size"]


@st.composite
def damaged_batches(draw):
  """Per person: (kind, index set, value, value) of damage; people whose
  kind is "clean" are left as they are."""
  kinds = draw(st.lists(st.sampled_from(_DAMAGE), min_size=BATCH,
                        max_size=BATCH))
  if all(k != "clean" for k in kinds):  # keep someone to compare with
    kinds[draw(st.integers(0, BATCH - 1))] = "clean"
  damage = []
  for kind in kinds:
    subset = draw(st.sets(st.integers(0, 16), min_size=1, max_size=17))
    if kind == "scaled":  # by up to 1e30, moved by up to 10 boxes
      value = (draw(st.floats(1e-2, 1e30)), draw(st.floats(-10, 10)))
    elif kind == "tiny":
      value = (draw(st.floats(1e-38, 1e-20)), 0.0)
    elif kind == "huge":
      value = (draw(st.floats(1e36, 3.4e38)), draw(st.floats(-1.0, 1.0)))
    elif kind == "conf_above_1":
      value = (draw(st.floats(1.0, F32_MAX, exclude_min=True)), 0.0)
    elif kind == "conf_negative":
      value = (draw(st.floats(-F32_MAX, -1e-38)), 0.0)
    elif kind == "few_visible":
      value = (draw(st.integers(0, 5)), 0.0)
    elif kind == "bad_image_size":
      value = (draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -640.0,
                                     1e30, 3e38])), 0.0)
    elif kind == "inf_points":
      value = (draw(st.sampled_from([np.inf, -np.inf])), 0.0)
    else:
      value = (0.0, 0.0)
    damage.append((kind, tuple(sorted(subset)), *value))
  return damage


def _damage(people, damage):
  """Applies `damage`: (damaged xy, confidence, image widths, and the
  equivalent clean input: xy, confidence with bad points as missing)."""
  xy = people.copy()
  conf = np.ones((BATCH, 17), np.float32)
  width = np.full(BATCH, IMAGE[0], np.float32)
  for p, (kind, subset, a, b) in enumerate(damage):
    subset = list(subset)
    if kind == "nan_points":
      xy[p, subset, draw_axis(subset)] = np.nan
    elif kind == "inf_points":
      xy[p, subset] = a
    elif kind in ("conf_above_1", "conf_negative"):
      conf[p, subset] = a
    elif kind == "conf_nan":
      conf[p, subset] = np.nan
    elif kind == "few_visible":
      conf[p] = 0
      conf[p, subset[:int(a)]] = 1
    elif kind == "all_zero_conf":
      conf[p] = 0
    elif kind in ("scaled", "tiny"):
      box = xy[p].max(0) - xy[p].min(0)
      xy[p] = xy[p] * np.float32(a) + np.float32(b) * box.max() * a
    elif kind == "huge":
      # Points spread over +-a around b*a: near float32's limit in pixels,
      # some beyond it (inf).
      unit = (xy[p] - xy[p].mean(0)) / np.abs(xy[p] - xy[p].mean(0)).max()
      with np.errstate(over="ignore"):
        xy[p] = unit * np.float32(a) + np.float32(b) * np.float32(a)
    elif kind == "bad_image_size":
      width[p] = a
  # The same people with every unusable point made an ordinary missing one.
  usable = np.isfinite(xy).all(-1) & (conf > 0)
  equivalent = (np.where(np.isfinite(xy), xy, 0).astype(np.float32),
                usable.astype(np.float32))
  return xy, conf, width, equivalent


def draw_axis(subset):
  """x for even, y for odd point indices: NaN in one coordinate suffices."""
  return [i % 2 for i in subset]


def _assert_finite_float32(result):
  for field, value in zip(result._fields, result):
    for leaf in jax.tree.leaves(value):
      leaf = np.asarray(leaf)
      if field == "fit_ok":
        assert leaf.dtype == np.bool_
        continue
      assert leaf.dtype == np.float32, (field, leaf.dtype)
      assert np.isfinite(leaf).all(), field


def _rows_equal(a, b, rows):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x)[rows], np.asarray(y)[rows])


@_settings("fit")
@given(damaged_batches())
# Regression: NaN image sizes gave a NaN camera with fit_ok True.
@example([("bad_image_size", (0,), np.nan, 0.0)] +
         [("clean", (0,), 0.0, 0.0)] * (BATCH - 1))
def test_fit_damaged_people(people, fit_batch, reference, damage):
  _RAN["fit"] += 1
  xy, conf, width, (clean_xy, clean_conf) = _damage(people, damage)
  result = fit_batch(xy, conf, width)
  _assert_finite_float32(result)
  kinds = [d[0] for d in damage]
  visible = ((conf > 0) & np.isfinite(xy).all(-1)).sum(-1)
  camera_finite = np.isfinite(
      np.asarray(_intrinsics(width, IMAGE[1]).focal_length)).all(-1)
  ok = np.asarray(result.fit_ok)
  expected_ok = (visible >= 6) & camera_finite
  certain = np.array([k != "huge" for k in kinds])  # may overflow in pixels
  np.testing.assert_array_equal(ok[certain], expected_ok[certain])
  assert not (ok & ~expected_ok).any()
  assert not np.asarray(result.pose)[~ok].any()
  assert not np.asarray(result.betas)[~ok].any()
  assert not np.asarray(result.joints)[~ok].any()
  # Undamaged people: bitwise as without the others' damage.
  clean = [p for p, k in enumerate(kinds) if k == "clean"]
  _rows_equal(result, reference, clean)
  # A bad confidence or non-finite coordinates = a missing point.
  _rows_equal(result, fit_batch(clean_xy, clean_conf, width), slice(None))
  # Scaling and moving a person changes only how far the camera puts the
  # body: the same pose and shape, at 1/scale the depth (a person s times
  # larger in the image is s times nearer: depth = focal / pixels per metre).
  for p, (kind, _, scale, _) in enumerate(damage):
    if kind != "scaled":
      continue
    np.testing.assert_allclose(result.pose[p], reference.pose[p], atol=1e-3)
    np.testing.assert_allclose(result.betas[p], reference.betas[p],
                               atol=1e-3)
    np.testing.assert_allclose(result.camera.translation[p, 2],
                               reference.camera.translation[p, 2] / scale,
                               rtol=1e-3)


@_settings("fit_dtypes")
@given(st.sampled_from([np.float64, np.float16, np.int32, np.int64,
                        np.uint16, "list"]),
       st.sampled_from([np.float64, np.int8, np.bool_, "column", "list"]))
def test_fit_accepts_any_real_dtype(people, fit_batch, xy_type, conf_type):
  """Any real dtype (and lists) gives the fit of the same values as
  float32, to the bit."""
  _RAN["fit_dtypes"] += 1
  rng = np.random.default_rng(0)
  xy = np.abs(people).round() if xy_type in (np.int32, np.int64,
                                             np.uint16) else (
      people.astype(np.float16) if xy_type == np.float16 else people)
  conf = (rng.random((BATCH, 17)) > 0.2).astype(np.float32)
  width = np.full(BATCH, IMAGE[0])
  expected = fit_batch(xy.astype(np.float32), conf, width)
  given_xy = xy.tolist() if xy_type == "list" else xy.astype(xy_type)
  if conf_type == "column":
    given_xy = np.concatenate([np.asarray(given_xy, np.float64),
                               conf[..., None]], -1)
    given_conf = None
  else:
    given_conf = conf.tolist() if conf_type == "list" else conf.astype(
        conf_type)
  result = fit_batch(given_xy, given_conf, width)
  _rows_equal(result, expected, slice(None))


def test_host_inputs_of_any_dtype_share_one_compiled_fit(people, fit_batch):
  """NumPy inputs are made float32 before the jitted fit, so a float64
  array (NumPy's default) or a list compiles nothing new."""
  from lgd_jax import fitting  # pylint: disable=g-import-not-at-top
  conf = np.ones((BATCH, 17), np.float32)
  width = np.full(BATCH, IMAGE[0])
  fit_batch(people.astype(np.float32), conf, width)
  compiled = fitting._fit._cache_size()  # pylint: disable=protected-access
  fit_batch(people.astype(np.float64), conf.astype(np.int8), width)
  fit_batch(people.tolist(), conf.astype(bool), width.astype(np.float64))
  assert fitting._fit._cache_size() == compiled  # pylint: disable=protected-access


@st.composite
def wrong_fit_inputs(draw):
  """(what is wrong, how): inputs `fit` must refuse."""
  kind = draw(st.sampled_from(["k", "last_axis", "dtype", "conf_dtype",
                               "conf_shape", "camera", "ragged", "format"]))
  how = {
      "k": st.integers(1, 30).filter(lambda k: k != 17),
      "last_axis": st.sampled_from([0, 1, 4, 5]),
      "dtype": st.sampled_from(["complex64", "U8", "object", "M8[s]"]),
      "conf_dtype": st.sampled_from(["complex128", "S4", "object"]),
      "conf_shape": st.sampled_from([(BATCH - 1, 17), (BATCH, 16), (17,),
                                     (BATCH, 17, 1)]),
      # Image sizes for another number of people.
      "camera": st.sampled_from([(2,), (3,), (BATCH - 1,), (BATCH + 1,),
                                 (2, 1), (BATCH, 2)]),
      "ragged": st.integers(0, 16),
      "format": st.sampled_from(["coco", "", "COCO17", "openpose"]),
  }[kind]
  return kind, draw(how)


@_settings("fit_shapes")
@given(wrong_fit_inputs())
# Regressions: (..., K, 4) keypoints were silently cut to (..., K, 2);
# complex keypoints silently lost their imaginary part; image sizes for the
# wrong number of people failed deep inside XLA with a TypeError.
@example(("last_axis", 4))
@example(("dtype", "complex64"))
@example(("camera", (3,)))
def test_fit_refuses_wrong_input_naming_it(people, tiny_weights, case):
  _RAN["fit_shapes"] += 1
  kind, how = case
  xy, conf, camera, fmt = people, np.ones((BATCH, 17), np.float32), None, (
      "coco17")
  name = "confidence" if kind.startswith("conf") else (
      "camera" if kind == "camera" else "keypoint")
  if kind == "k":
    xy, conf = np.zeros((BATCH, how, 2)), np.ones((BATCH, how))
  elif kind == "last_axis":
    xy, conf = np.zeros((BATCH, 17, how)), None
  elif kind == "dtype":
    xy = xy.astype(how)
  elif kind == "conf_dtype":
    conf = conf.astype(how)
  elif kind == "conf_shape":
    conf = np.ones(how)
  elif kind == "camera":
    camera = _intrinsics(np.full(how, 640.0), 480.0)
  elif kind == "ragged":
    xy, conf = [[[1.0, 2.0]] * 17] * (BATCH - 1) + [[[1.0, 2.0]] * how], None
  elif kind == "format":
    fmt = how
  with pytest.raises(ValueError, match=name):
    lgd_jax.fit(xy, conf, keypoint_format=fmt, params=tiny_weights,
                camera=camera)


def test_fit_refuses_a_weak_camera_as_intrinsics(people, tiny_weights):
  with pytest.raises(TypeError, match="camera must be a"):
    lgd_jax.fit(people, params=tiny_weights, camera=lgd_jax.WeakPerspective(
        jnp.ones(BATCH), jnp.zeros((BATCH, 2))))


# --- lgd-fit ------------------------------------------------------------------

_FILE_DEFECTS = ("truncated", "latin1", "nan_point", "wrong_k", "string")


@st.composite
def openpose_folders(draw):
  """[(file name, people (P, 25, 3) values, defect or None)] for 1-4
  frames; people in a sane pixel range with random visibility."""
  frames = []
  for i in range(draw(st.integers(1, 4))):
    num_people = draw(st.integers(0, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    people = np.concatenate([rng.uniform(0, 1000, (num_people, 25, 2)),
                             (rng.random((num_people, 25, 1)) <
                              rng.uniform(0, 1)).astype(float)], -1)
    defect = draw(st.one_of(st.none(), st.sampled_from(_FILE_DEFECTS)))
    if defect in ("nan_point", "string", "wrong_k") and not num_people:
      defect = None  # nothing to damage in an empty frame
    frames.append((f"frame_{i:03d}_keypoints.json", people, defect))
  return frames


def _write_frame(path, people, defect):
  flat = [[round(float(v), 3) for v in person.reshape(-1)]
          for person in people]
  if defect == "nan_point":
    flat[0][0:3] = [float("nan"), 1.0, 1.0]
  elif defect == "wrong_k":
    flat[0] = flat[0][:-3]
  elif defect == "string":
    flat[0][4] = str(flat[0][4])
  text = json.dumps({"version": 1.3, "people": [
      {"person_id": [-1], "pose_keypoints_2d": f} for f in flat]})
  data = text.encode()
  if defect == "truncated":
    data = data[:len(data) // 2]
  elif defect == "latin1":
    data = data.replace(b"people", "p\xe9ople".encode("latin-1"))
  path.write_bytes(data)


@_settings("pipeline")
@given(openpose_folders())
def test_lgd_fit_pipeline(workdir, tiny_weights_file, frames):
  from lgd_jax.tool import pipeline  # pylint: disable=g-import-not-at-top
  _RAN["pipeline"] += 1
  folder = workdir / f"pipeline_{next(_FILE_NUMBER)}"
  folder.mkdir()
  for name, people, defect in frames:
    _write_frame(folder / name, people, defect)
  options = pipeline.Options(input=str(folder), output=str(folder / "out"),
                             sequence="off", chunk_size=8, progress=False,
                             weights=str(tiny_weights_file),
                             keypoint_format="openpose25")
  if all(defect for _, _, defect in frames):
    with pytest.raises(KeypointFileError, match=str(folder)):
      pipeline.run(options)
    return
  summary = pipeline.run(options)
  reported = {os.path.basename(e["file"]) for e in summary["files_with_errors"]}
  assert reported == {name for name, _, defect in frames if defect}
  good = [(name, people) for name, people, defect in frames if not defect]
  assert summary["people"] == sum(len(people) for _, people in good)
  for name, people in good:
    stem = name.removesuffix("_keypoints.json")
    for i, person in enumerate(people):
      fit = np.load(folder / "out" / "fits" / stem / f"person_{i:02d}.npz")
      for key in ("poses", "betas", "camera_scale", "camera_translation",
                  "joints", "keypoints_2d"):
        assert np.all(np.isfinite(fit[key])), (name, i, key)
      assert bool(fit["fit_ok"]) == (int((person[:, 2] > 0).sum()) >= 6)
