"""Keypoint file readers: the real annotation files in ../shared/data, OpenPose
output in its real layout, arrays, corrupted copies of each; overlays of the
real files' people on their images."""

import copy
import json
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from lgd_jax.readers import KeypointFileError, read_keypoints
from lgd_jax.tool.render import SIDE_COLOURS, save_keypoint_overlay
from lgd_jax.formats import (NUM_CANONICAL, from_canonical, get_format,
                               to_canonical)

DATA = Path(__file__).parents[2] / "shared" / "data" / "keypoints"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real keypoint data not found at {DATA} (the "
    "shared data folder next to the repository)")

# Real annotation files -> (keypoint format, number of people).
ANNOTATION_FILES = {
    "coco/test_coco.json": ("coco17", 14),
    "ochuman/test_ochuman.json": ("coco17", 5),
    "crowdpose/test_crowdpose.json": ("crowdpose14", 5),
    "humanart/test_humanart.json": ("coco17", 4),
    "posetrack18/annotations/test_posetrack18_val.json": ("posetrack17", 14),
    "posetrack18/annotations/val/003418_mpii_test.json": ("posetrack17", 1),
    "posetrack18/annotations/val/009473_mpii_test.json": ("posetrack17", 2),
    "posetrack18/annotations/val/012834_mpii_test.json": ("posetrack17", 11),
    "mpii/test_mpii.json": ("mpii16", 5),
}
MARKERS = np.array([matplotlib.colors.to_rgb(c)
                    for c in SIDE_COLOURS.values()])
DETECTION_FILES = (
    "coco/test_coco_det_AP_H_56.json",
    "crowdpose/test_crowdpose_det_AP_40.json",
    "humanart/test_humanart_det_AP_H_56.json",
    "posetrack18/annotations/test_posetrack18_human_detections.json",
)


def _expected_rows(raw):
  """The rows a reader should return, computed point by point from the raw
  JSON: xy, confidence, frame, person, track, image, image_size."""
  rows = []
  if isinstance(raw, list):  # MMPose's MPII list
    images = list(dict.fromkeys(entry["image"] for entry in raw))
    for entry in raw:
      vis = entry["joints_vis"]
      rows.append(([p if v else [0, 0] for p, v in zip(entry["joints"], vis)],
                   vis, images.index(entry["image"]), entry["image"], -1,
                   (0, 0)))
  else:
    ids = [image["id"] for image in raw["images"]]
    for ann in raw["annotations"]:
      values = ann["keypoints"]
      image = raw["images"][ids.index(ann["image_id"])]
      rows.append(([values[i:i + 2] for i in range(0, len(values), 3)],
                   [float(v > 0) for v in values[2::3]],
                   ids.index(ann["image_id"]), image["file_name"],
                   ann.get("track_id", -1), (image["width"], image["height"])))
  seen = {}
  person = []
  for row in rows:
    person.append(seen.get(row[2], 0))
    seen[row[2]] = person[-1] + 1
  xy, confidence, frame, image, track, size = zip(*rows)
  return dict(xy=np.array(xy), confidence=np.array(confidence),
              frame=np.array(frame), person=np.array(person),
              track=np.array(track), image=image, image_size=np.array(size))


def _raises(path, *fragments, **kwargs):
  """Reads `path`, expecting a KeypointFileError naming the file and saying
  each of `fragments`."""
  with pytest.raises(KeypointFileError) as info:
    read_keypoints(path, **kwargs)
  message = str(info.value)
  assert Path(path).name in message, message
  for fragment in fragments:
    assert fragment in message, message
  return info.value


@needs_data
@pytest.mark.parametrize("name", list(ANNOTATION_FILES))
def test_reads_real_annotation_file(name):
  keypoint_format, count = ANNOTATION_FILES[name]
  raw = json.loads((DATA / name).read_text())
  keypoints = read_keypoints(DATA / name)
  expected = _expected_rows(raw)
  k = expected["xy"].shape[1]
  assert keypoints.keypoint_format == keypoint_format
  assert len(keypoints) == count
  assert keypoints.xy.shape == (count, k, 2)
  assert keypoints.xy.dtype == keypoints.confidence.dtype == np.float32
  labelled = expected["confidence"] > 0
  np.testing.assert_array_equal(keypoints.confidence, expected["confidence"])
  np.testing.assert_allclose(keypoints.xy[labelled],
                             expected["xy"][labelled], rtol=1e-6)
  for field in ("frame", "person", "track", "image_size"):
    np.testing.assert_array_equal(getattr(keypoints, field), expected[field])
  assert keypoints.image == expected["image"]
  # The files' own count of labelled points (CrowdPose's leaves out its
  # head and neck).
  if isinstance(raw, dict) and keypoint_format != "crowdpose14":
    np.testing.assert_array_equal(
        keypoints.confidence.sum(-1),
        [ann["num_keypoints"] for ann in raw["annotations"]])
  assert keypoints.source == (str(DATA / name),) * count
  assert keypoints.errors == ()


@needs_data
def test_real_files_spot_values():
  coco = read_keypoints(DATA / "coco/test_coco.json")
  # Annotation 0: the skier in 000000000785.jpg, nose at (367, 81), v = 2.
  assert coco.image[0] == "000000000785.jpg"
  assert tuple(coco.image_size[0]) == (640, 425)
  assert tuple(coco.xy[0, 0]) == (367, 81) and coco.confidence[0, 0] == 1
  # 000000040083.jpg has three people; the third has no labelled point and
  # is kept with confidence 0.
  assert coco.image[1:4] == ("000000040083.jpg",) * 3
  assert list(coco.frame[1:4]) == [1, 1, 1]
  assert list(coco.person[1:4]) == [0, 1, 2]
  assert not coco.confidence[3].any() and coco.confidence.sum() == 181

  humanart = read_keypoints(DATA / "humanart/test_humanart.json")
  # Its category names 21 points; `keypoints` holds COCO's 17.
  assert humanart.keypoint_format == "coco17"
  np.testing.assert_allclose(humanart.xy[0, 0], (715.4305, 970.0197))

  posetrack = read_keypoints(
      DATA / "posetrack18/annotations/test_posetrack18_val.json")
  assert list(posetrack.track) == list(range(11)) + [0, 1, 0]
  assert list(posetrack.frame) == [0] * 11 + [1, 1, 2]
  # PoseTrack leaves the ears unlabelled: (0, 0, 0) in the file.
  assert not posetrack.confidence[:, 3:5].any()

  mpii = read_keypoints(DATA / "mpii/test_mpii.json")
  # 051423444.jpg: right ankle and left ankle are unlabelled, stored as -1.
  assert mpii.image[2] == "051423444.jpg"
  assert list(np.flatnonzero(mpii.confidence[2] == 0)) == [0, 5]
  assert not mpii.xy[2, [0, 5]].any()
  np.testing.assert_array_equal(mpii.image_size, 0)

  crowdpose = read_keypoints(DATA / "crowdpose/test_crowdpose.json")
  assert not crowdpose.confidence[1].any()  # num_keypoints 0, still a row


@needs_data
def test_per_video_files_equal_the_combined_file():
  combined = read_keypoints(
      DATA / "posetrack18/annotations/test_posetrack18_val.json")
  videos = read_keypoints(DATA / "posetrack18/annotations/val")
  assert len(videos) == len(combined) == 14
  assert len(set(videos.source)) == 3

  def by_row(keypoints):
    order = sorted(range(len(keypoints)),
                   key=lambda i: (keypoints.image[i], keypoints.track[i]))
    return keypoints.xy[order], keypoints.confidence[order]

  for a, b in zip(by_row(videos), by_row(combined)):
    np.testing.assert_array_equal(a, b)


@needs_data
@pytest.mark.parametrize("name", DETECTION_FILES)
def test_detection_box_files_are_not_keypoints(name):
  _raises(DATA / name, "not a keypoint file", "detection boxes")


@needs_data
def test_unknown_keypoint_names():
  # MPII-TRB: 40 points of a layout the registry does not have.
  _raises(DATA / "mpii/test_mpii_trb.json", "40: left_shoulder",
          "match no known format", "format=")


@needs_data
def test_real_folder_with_a_detection_file():
  folder = DATA / "coco"
  error = _raises(folder, "1 of 2 files", "test_coco_det_AP_H_56.json",
                  "detection boxes")
  assert "test_coco.json:" not in str(error)
  report = read_keypoints(folder, errors="report")
  assert len(report) == 14 and report.keypoint_format == "coco17"
  assert [Path(f).name for f, _ in report.errors] == [
      "test_coco_det_AP_H_56.json"]


@needs_data
@pytest.mark.parametrize("name", list(ANNOTATION_FILES))
def test_canonical_round_trip(name):
  keypoints = read_keypoints(DATA / name)
  fmt = keypoints.keypoint_format
  xy, confidence = to_canonical(keypoints.xy, keypoints.confidence, fmt)
  assert xy.shape == (len(keypoints), NUM_CANONICAL, 2)
  np.testing.assert_array_equal(from_canonical(xy, fmt), keypoints.xy)
  np.testing.assert_array_equal(
      from_canonical(confidence[..., None], fmt)[..., 0],
      keypoints.confidence)
  # No two points share a canonical point, and no confidence appears.
  np.testing.assert_array_equal(confidence.sum(-1),
                                keypoints.confidence.sum(-1))


def _find_image(annotation_file, name):
  """The image `name` names, looked up in the annotation file's folder and
  those above it within DATA, dropping leading folders (Human-Art's
  `HumanArt/...`)."""
  parts = Path(name).parts
  bases = annotation_file.parents[:len(annotation_file.relative_to(
      DATA).parts)]
  for base in bases:
    for start in range(len(parts)):
      candidate = base.joinpath(*parts[start:])
      if candidate.is_file():
        return candidate
  return None


@needs_data
@pytest.mark.parametrize("name", list(ANNOTATION_FILES))
def test_overlays_on_real_images(name, tmp_path):
  keypoints = read_keypoints(DATA / name)
  drawn = 0
  for image_name in dict.fromkeys(keypoints.image):
    image_file = _find_image(DATA / name, image_name)
    if image_file is None:  # Human-Art: one of its three images is here
      continue
    rows = [i for i, n in enumerate(keypoints.image) if n == image_name]
    image = matplotlib.image.imread(image_file)
    height, width = image.shape[:2]
    if keypoints.image_size[rows[0]].any():
      assert tuple(keypoints.image_size[rows[0]]) == (width, height)
    out = tmp_path / f"{drawn}.png"
    save_keypoint_overlay(out, image, keypoints.xy[rows],
                          keypoints.confidence[rows],
                          keypoints.keypoint_format)
    overlay = matplotlib.image.imread(out)[..., :3]
    assert overlay.shape == (height, width, 3)
    change = np.abs(overlay - image / 255.0).sum(-1)
    shown = keypoints.confidence[rows] > 0
    x, y = np.round(keypoints.xy[rows][shown]).astype(int).T
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    assert inside.sum() >= 10
    # The photo changes at the drawn points; not always (COCO's
    # 000000040083.jpg has a grey nose point on a grey pixel).
    assert np.mean(change[y[inside], x[inside]] > 0.1) > 0.95
    # A marker's colour at each point no other marker can overlap.
    points = np.column_stack([x, y])[inside]
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
    isolated = (gaps + 1e9 * np.eye(len(points))).min(-1) > 25
    assert isolated.sum() >= 5
    marked = overlay[points[isolated, 1], points[isolated, 0]]
    assert np.all(np.abs(marked[:, None] - MARKERS[None]).max(-1).min(-1)
                  < 0.02)
    # Everywhere else the photo is copied pixel for pixel.
    assert np.mean(change < 1e-6) > 0.5
    drawn += 1
  assert drawn >= 1
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      f"{i}.png" for i in range(drawn)]


def test_overlay_colours(tmp_path):
  image = np.full((200, 300, 3), 255, np.uint8)
  xy = np.zeros((17, 2)) + 20
  confidence = np.zeros(17)
  names = ("nose", "left_shoulder", "left_elbow", "right_shoulder",
           "right_elbow")
  for (x, y), name in zip(((150, 30), (200, 60), (200, 160), (100, 60),
                           (100, 160)), names):
    i = get_format("coco17").joint_names.index(name)
    xy[i], confidence[i] = (x, y), 1
  save_keypoint_overlay(tmp_path / "o.png", image, xy, confidence, "coco17")
  overlay = matplotlib.image.imread(tmp_path / "o.png")[..., :3]
  rgb = {side: np.array(matplotlib.colors.to_rgb(c))
         for side, c in SIDE_COLOURS.items()}
  np.testing.assert_allclose(overlay[30, 150], rgb[""], atol=0.01)
  np.testing.assert_allclose(overlay[60, 200], rgb["left"], atol=0.01)
  np.testing.assert_allclose(overlay[160, 100], rgb["right"], atol=0.01)
  # Limbs: the left upper arm red-ish, the shoulder line grey-ish.
  assert np.argmax(overlay[110, 200]) == 0 and overlay[110, 200, 0] > 0.8
  assert np.ptp(overlay[60, 150]) < 0.05 and overlay[60, 150, 0] < 0.5
  # Nothing drawn where no point is shown (the hidden ones sit at (20, 20)).
  np.testing.assert_array_equal(overlay[:40, :40], 1.0)


def test_overlay_skips_points_below_threshold(tmp_path):
  image = np.full((40, 60, 3), 255, np.uint8)
  xy = np.zeros((17, 2)) + (30, 20)
  confidence = np.full(17, 0.3)
  save_keypoint_overlay(tmp_path / "none.png", image, xy, confidence,
                        "coco17", min_confidence=0.5)
  save_keypoint_overlay(tmp_path / "some.png", image, xy, confidence,
                        "coco17", min_confidence=0.2)
  none = matplotlib.image.imread(tmp_path / "none.png")[..., :3]
  some = matplotlib.image.imread(tmp_path / "some.png")[..., :3]
  np.testing.assert_array_equal(none, 1.0)
  assert some[20, 30].sum() < 2.5


# --- OpenPose, in the layout OpenPose writes ---------------------------------


def _openpose_person(points, person_id=-1, face=False):
  """points: (K, 3) x, y, c."""
  return {
      "person_id": [person_id],
      "pose_keypoints_2d": np.asarray(points).ravel().tolist(),
      "face_keypoints_2d": [1.0] * (70 * 3) if face else [],
      "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
      "pose_keypoints_3d": [], "face_keypoints_3d": [],
      "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}


def _write_openpose(path, people):
  path.write_text(json.dumps({"version": 1.3, "people": people}))
  return path


def _random_points(rng, k):
  points = np.column_stack([rng.uniform(0, 640, (k, 2)),
                            rng.uniform(0.05, 0.95, k)]).round(3)
  points[[3, 7]] = 0  # undetected, as OpenPose writes them
  return points


def test_openpose_folder(tmp_path):
  rng = np.random.default_rng(0)
  frames = [[(-1, False)], [], [(-1, False), (4, False), (7, False)],
            [(-1, True)]]
  points = []
  for t in reversed(range(len(frames))):  # sorted by name, not by creation
    people = []
    for person_id, face in frames[t]:
      people.append(_openpose_person(_random_points(rng, 25), person_id, face))
    points = [p["pose_keypoints_2d"] for p in people] + points
    _write_openpose(tmp_path / f"clip_{t:012d}_keypoints.json", people)
  keypoints = read_keypoints(tmp_path)
  assert keypoints.keypoint_format == "openpose25"
  assert len(keypoints) == 5
  assert list(keypoints.frame) == [0, 2, 2, 2, 3]
  assert list(keypoints.person) == [0, 0, 1, 2, 0]
  assert list(keypoints.track) == [-1, -1, 4, 7, -1]
  assert keypoints.image == tuple(f"clip_{t:012d}" for t in (0, 2, 2, 2, 3))
  assert keypoints.source[1] == str(tmp_path / "clip_000000000002_keypoints"
                                                ".json")
  points = np.array(points).reshape(5, 25, 3)
  np.testing.assert_allclose(keypoints.xy, points[..., :2], rtol=1e-6)
  np.testing.assert_allclose(keypoints.confidence, points[..., 2], rtol=1e-6)
  assert not keypoints.confidence[:, [3, 7]].any()  # kept, confidence 0
  np.testing.assert_array_equal(keypoints.image_size, 0)


def test_a_folder_of_video_folders(tmp_path):
  """Subfolders by name, frames numbered within each, image names after
  the subfolder's; hidden subfolders skipped; a folder with files of its
  own ignores its subfolders."""
  rng = np.random.default_rng(2)
  counts = {"b_clip": [1, 2], "a_clip": [2, 0, 1], ".hidden": [1]}
  for folder, people in counts.items():
    (tmp_path / "clips" / folder).mkdir(parents=True)
    for t, n in enumerate(people):
      _write_openpose(tmp_path / "clips" / folder / f"{t:04d}_keypoints.json",
                      [_openpose_person(_random_points(rng, 25))] * n)
  keypoints = read_keypoints(tmp_path / "clips")
  assert list(keypoints.frame) == [0, 0, 2, 0, 1, 1]
  assert keypoints.image == ("a_clip/0000",) * 2 + ("a_clip/0002",
                             "b_clip/0000") + ("b_clip/0001",) * 2
  assert keypoints.source[3] == str(tmp_path / "clips" / "b_clip" /
                                    "0000_keypoints.json")
  _write_openpose(tmp_path / "clips" / "0000_keypoints.json",
                  [_openpose_person(_random_points(rng, 25))])
  assert read_keypoints(tmp_path / "clips").image == ("0000",)


def test_openpose_formats(tmp_path):
  rng = np.random.default_rng(1)
  body25 = _write_openpose(tmp_path / "body25.json", [
      _openpose_person(_random_points(rng, 25))])
  coco18 = _write_openpose(tmp_path / "coco18.json", [
      _openpose_person(_random_points(rng, 18))] * 2)
  assert read_keypoints(body25).keypoint_format == "openpose25"
  keypoints = read_keypoints(coco18)
  assert keypoints.keypoint_format == "openpose18"
  assert keypoints.xy.shape == (2, 18, 2)
  _raises(body25, "25 points", "openpose18 has 18", format="openpose18")
  other = _write_openpose(tmp_path / "mpi15.json", [
      _openpose_person(_random_points(rng, 15))])
  _raises(other, "15 points", "25 (BODY_25) or 18")


def test_openpose_scores_above_one_are_clipped(tmp_path):
  points = _random_points(np.random.default_rng(2), 25)
  points[0, 2] = 1.7
  keypoints = read_keypoints(_write_openpose(tmp_path / "f.json", [
      _openpose_person(points)]))
  assert keypoints.confidence[0, 0] == 1.0
  assert keypoints.confidence.max() == 1.0


def test_openpose_frames_without_people(tmp_path):
  for t in range(3):
    _write_openpose(tmp_path / f"{t}_keypoints.json", [])
  keypoints = read_keypoints(tmp_path)
  assert len(keypoints) == 0 and keypoints.xy.shape == (0, 25, 2)
  assert keypoints.keypoint_format == "openpose25"  # OpenPose's default
  assert read_keypoints(tmp_path, format="openpose18").xy.shape == (0, 18, 2)


# --- Arrays ------------------------------------------------------------------


def test_npy_frames_people(tmp_path):
  rng = np.random.default_rng(3)
  array = rng.uniform(0, 1, (3, 2, 25, 3)).astype(np.float32)
  path = tmp_path / "keypoints.bin"  # recognised by content
  with open(path, "wb") as f:
    np.save(f, array)
  keypoints = read_keypoints(path)
  assert keypoints.keypoint_format == "openpose25" and len(keypoints) == 6
  assert list(keypoints.frame) == [0, 0, 1, 1, 2, 2]
  assert list(keypoints.person) == [0, 1, 0, 1, 0, 1]
  np.testing.assert_array_equal(keypoints.xy[3], array[1, 1, :, :2])
  np.testing.assert_array_equal(keypoints.confidence[3], array[1, 1, :, 2])
  assert keypoints.image == ("",) * 6 and list(keypoints.track) == [-1] * 6

  np.save(tmp_path / "smpl.npy", rng.uniform(0, 1, (4, 24, 2)))
  keypoints = read_keypoints(tmp_path / "smpl.npy")
  assert keypoints.keypoint_format == "smpl24"
  assert list(keypoints.frame) == [0, 1, 2, 3]
  assert list(keypoints.person) == [0] * 4
  np.testing.assert_array_equal(keypoints.confidence, 1)


def test_npz_with_confidence_and_format(tmp_path):
  rng = np.random.default_rng(4)
  xy = rng.uniform(0, 500, (2, 3, 17, 2))
  confidence = rng.uniform(0, 1, (2, 3, 17))
  np.savez(tmp_path / "h36m.npz", keypoints=xy, confidence=confidence,
           format="h36m17")
  keypoints = read_keypoints(tmp_path / "h36m.npz")
  assert keypoints.keypoint_format == "h36m17" and len(keypoints) == 6
  np.testing.assert_allclose(keypoints.xy, xy.reshape(6, 17, 2), rtol=1e-6)
  np.testing.assert_allclose(keypoints.confidence, confidence.reshape(6, 17),
                             rtol=1e-6)


def test_17_points_need_a_format(tmp_path):
  np.save(tmp_path / "k17.npy", np.zeros((5, 17, 3)))
  _raises(tmp_path / "k17.npy", "coco17, h36m17, posetrack17", "format=")
  assert read_keypoints(tmp_path / "k17.npy",
                        format="coco17").keypoint_format == "coco17"
  _raises(tmp_path / "k17.npy", "17 points", "smpl24 has 24",
          format="smpl24")


def test_bad_arrays(tmp_path):
  array = np.ones((3, 2, 25, 3))
  array[2, 0, 5, 1] = np.nan
  np.save(tmp_path / "nan.npy", array)
  _raises(tmp_path / "nan.npy", "row 4 (frame 2, person 0), keypoint 5 "
          "(LShoulder)", "NaN or infinite")
  array[2, 0, 5, 2] = 0  # even where the confidence is 0
  np.save(tmp_path / "nan.npy", array)
  _raises(tmp_path / "nan.npy", "row 4", "NaN or infinite")
  array = np.ones((3, 25, 3))
  array[1, 2, 2] = -0.5
  np.save(tmp_path / "negative.npy", array)
  _raises(tmp_path / "negative.npy", "row 1", "confidence -0.5 is negative")
  np.savez(tmp_path / "shapes.npz", keypoints=np.ones((3, 25, 2)),
           confidence=np.ones((3, 24)))
  _raises(tmp_path / "shapes.npz", "confidence has shape (3, 24)")
  np.savez(tmp_path / "both.npz", keypoints=np.ones((3, 25, 3)),
           confidence=np.ones((3, 25)))
  _raises(tmp_path / "both.npz", "keep one")
  np.savez(tmp_path / "nokey.npz", points=np.ones((3, 25, 2)))
  _raises(tmp_path / "nokey.npz", "no `keypoints` array", "points")
  np.save(tmp_path / "5d.npy", np.ones((2, 2, 2, 25, 2)))
  _raises(tmp_path / "5d.npy", "got shape (2, 2, 2, 25, 2)")
  np.savez(tmp_path / "format.npz", keypoints=np.ones((3, 17, 2)),
           format="coco18")
  _raises(tmp_path / "format.npz", "unknown keypoint format 'coco18'")
  np.save(tmp_path / "truncated.npy", np.ones((30, 25, 2)))
  data = (tmp_path / "truncated.npy").read_bytes()
  (tmp_path / "truncated.npy").write_bytes(data[:len(data) // 2])
  _raises(tmp_path / "truncated.npy", "not a readable .npy/.npz")


# --- Corrupted files ---------------------------------------------------------


@needs_data
def test_truncated_and_non_utf8(tmp_path):
  raw = (DATA / "coco/test_coco.json").read_bytes()
  (tmp_path / "truncated.json").write_bytes(raw[:len(raw) // 2])
  truncated = _raises(tmp_path / "truncated.json", "not valid JSON",
                      "ends early")
  assert " at at " not in str(truncated), truncated
  latin1 = raw.replace(b'"person"', b'"p\xe9rson"', 1)
  assert latin1 != raw
  (tmp_path / "latin1.json").write_bytes(latin1)
  _raises(tmp_path / "latin1.json", "not UTF-8", "0xe9")
  (tmp_path / "empty.json").write_bytes(b"")
  _raises(tmp_path / "empty.json", "empty file")


def test_truncated_json_message_reads_naturally(tmp_path):
  # Cut inside a string: json's own message ends "starting at", and the
  # position must not repeat the "at".
  path = tmp_path / "000_keypoints.json"
  path.write_text('{"version": 1.3, "people": [{"pose_keyp')
  error = _raises(path, "not valid JSON: unterminated string starting at "
                  "line 1 column 30", "ends early")
  assert " at at " not in str(error), error


@needs_data
def test_corrupted_coco_annotations(tmp_path):
  coco = json.loads((DATA / "coco/test_coco.json").read_text())

  def write(name, i, **changes):
    """A copy of the file with annotation i's fields changed."""
    content = copy.deepcopy(coco)
    content["annotations"][i].update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return path

  def keypoints(i, j, value):
    values = list(coco["annotations"][i]["keypoints"])
    values[j] = value
    return values

  wrong_k = write("wrong_k.json", 5,
                  keypoints=coco["annotations"][5]["keypoints"][:-3])
  _raises(wrong_k, f"annotation 5 (id {coco['annotations'][5]['id']})",
          "has 48 values", "expected 51")
  nan = write("nan.json", 0, keypoints=keypoints(0, 0, float("nan")))
  _raises(nan, "annotation 0", "keypoint 0 (nose)", "NaN or infinite")
  flag = write("flag.json", 2, keypoints=keypoints(2, 5, -1))
  _raises(flag, "annotation 2", "keypoint 1 (left_eye)",
          "visibility flag -1")
  orphan = write("orphan.json", 4, image_id=7)
  _raises(orphan, "annotation 4", "image_id 7 is not in `images`")
  # An unlabelled point's coordinates carry nothing: NaN there is accepted.
  assert coco["annotations"][3]["keypoints"][2] == 0
  unlabelled = write("unlabelled.json", 3,
                     keypoints=keypoints(3, 0, float("nan")))
  assert not read_keypoints(unlabelled).xy[3].any()


def test_not_keypoint_files(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"info": {}, "id": 3}))
  _raises(tmp_path / "config.json", "not a keypoint file", "`people`",
          "`annotations`", "`joints`", "keys info, id")
  (tmp_path / "mpii.json").write_text(json.dumps([
      {"joints": [[1, 2]] * 16, "joints_vis": [1] * 16, "image": "a.jpg"},
      {"joints": [[1, 2]] * 15, "joints_vis": [1] * 16, "image": "b.jpg"}]))
  _raises(tmp_path / "mpii.json", "entry 1 (b.jpg)", "shape (15, 2)")
  _raises(tmp_path / "missing.json", "no such file or folder")
  _raises(tmp_path / "config.json", "unknown keypoint format 'body25'",
          format="body25")
  (tmp_path / "empty").mkdir()
  _raises(tmp_path / "empty", "no .json files, nor subfolders with any")
  with pytest.raises(ValueError, match="errors must be"):
    read_keypoints(tmp_path / "config.json", errors="ignore")


def test_openpose_negative_confidence(tmp_path):
  points = _random_points(np.random.default_rng(5), 25)
  points[3, 2] = -0.5
  path = _write_openpose(tmp_path / "f.json", [
      _openpose_person(points), _openpose_person(points)])
  _raises(path, "person 0, keypoint 3 (RElbow)",
          "confidence -0.5 is negative", "2 such points")


def test_folder_with_bad_files(tmp_path):
  rng = np.random.default_rng(6)
  for t in range(5):
    _write_openpose(tmp_path / f"v_{t:04d}_keypoints.json", [
        _openpose_person(_random_points(rng, 25)) for _ in range(2)])
  truncated = tmp_path / "v_0001_keypoints.json"
  truncated.write_bytes(truncated.read_bytes()[:100])
  _write_openpose(tmp_path / "v_0003_keypoints.json", [
      _openpose_person(_random_points(rng, 25)),
      _openpose_person(_random_points(rng, 18))])
  error = _raises(tmp_path, "2 of 5 files could not be read",
                  "v_0001_keypoints.json: not valid JSON",
                  "v_0003_keypoints.json: person 1: `pose_keypoints_2d` "
                  "has 54 values; expected 75")
  assert "v_0000" not in str(error)
  report = read_keypoints(tmp_path, errors="report")
  assert len(report) == 6
  assert list(report.frame) == [0, 0, 2, 2, 4, 4]  # frame = file position
  assert [Path(f).name for f, _ in report.errors] == [
      "v_0001_keypoints.json", "v_0003_keypoints.json"]
  assert "54 values" in report.errors[1][1]


def test_folder_with_mixed_formats(tmp_path):
  rng = np.random.default_rng(7)
  for t, k in enumerate((25, 25, 18, 25)):
    _write_openpose(tmp_path / f"{t}.json", [
        _openpose_person(_random_points(rng, k))])
  _raises(tmp_path, "1 of 4 files", "2.json: keypoints are openpose18, the "
          "other files' are openpose25")
  report = read_keypoints(tmp_path, errors="report")
  assert list(report.frame) == [0, 1, 3]


def test_report_mode_still_raises_when_nothing_is_readable(tmp_path):
  (tmp_path / "a.json").write_text("{")
  (tmp_path / "b.json").write_text("[]")
  _raises(tmp_path, "2 of 2 files", "a.json", "b.json", errors="report")
