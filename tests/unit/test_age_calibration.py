"""faceapi_age's calibration: the monotone map, its packaged table, the fit and the population metrics
(edge_agent/attributes/age_calibration.py, age_calfit.py, age_eval.py) on hand-built numbers."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from edge_agent.attributes.age_calfit import CalibrationSample, cross_validate, fit_age_map, fit_calibration
from edge_agent.attributes.age_calibration import (
    CALIBRATIONS,
    DEFAULT_CALIBRATION,
    AgeMap,
    calibration_for,
    load_calibration,
    parse_calibration,
)
from edge_agent.attributes.age_eval import decade_folds, population_errors, weighted_quantiles
from edge_agent.attributes.age_faceapi import MIRROR_POLICY, SINGLE_VIEW_POLICY, readout_for, summarise_views
from edge_agent.attributes.faceapi_crops import CropPolicy
from storelens.config.attributes import AgeConfig
from storelens.errors import ModelError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (5.0, 7.5),  # between knots: linear
        (10.0, 10.0),
        (40.0, 50.0),  # beyond the last knot: slope 1 (tail_slope)
        (-10.0, 0.0),  # never below 0
        (float("nan"), float("nan")),
    ],
)
def test_age_map_interpolates_continues_with_the_tail_slope_and_clips_at_zero(raw, expected):
    age_map = AgeMap((0.0, 10.0, 30.0), (5.0, 10.0, 40.0))
    np.testing.assert_allclose(age_map(np.array([raw])), [expected])


@pytest.mark.parametrize(
    ("knots", "values"),
    [((0.0,), (0.0,)), ((0.0, 10.0), (0.0,)), ((0.0, 0.0), (1.0, 2.0)), ((0.0, 10.0), (5.0, 4.0)),
     ((0.0, float("nan")), (0.0, 1.0))],
)
def test_age_map_refuses_tables_that_are_not_monotone_maps(knots, values):
    with pytest.raises(ValueError, match="age map"):
        AgeMap(knots, values)


def test_the_shipped_table_covers_both_policies_and_stays_a_gentle_monotone_map():
    entries = load_calibration(DEFAULT_CALIBRATION)
    assert {e.policy for e in entries} == {SINGLE_VIEW_POLICY, MIRROR_POLICY}
    ages = np.linspace(0, 110, 221)
    for entry in entries:
        mapped = entry.age_map(ages)
        assert np.all(np.diff(mapped) > 0), "strictly increasing: no two ages merge"
        assert np.max(np.abs(mapped - ages)) < 12, "a recalibration, not a different model"
        assert mapped[ages == 75][0] > 75, "the network reads the old too young: the map raises them"
        assert np.all(np.diff(entry.error_model.cdf_x) >= 0) and entry.error_model.cdf_p[-1] == 1.0


def test_config_choices_are_the_packaged_tables_plus_none():
    choices = typing.get_args(AgeConfig.model_fields["calibration"].annotation)
    assert set(choices) == {*CALIBRATIONS, "none"} and AgeConfig().calibration == DEFAULT_CALIBRATION


def test_an_unknown_policy_gets_the_nearest_entry_with_a_warning(caplog):
    entry = calibration_for("cal1", CropPolicy("context", (0.1,), align=False, flip=True))
    assert entry.policy == MIRROR_POLICY and "was not fitted for crop policy" in caplog.text


@pytest.mark.parametrize(
    ("doc", "reason"),
    [({"name": "x"}, "malformed"), ({"name": "x", "model_sha256": "ab", "policies": []}, "no crop policy"),
     ({"name": "x", "model_sha256": "ab", "policies": [{"crop": {}}]}, "malformed")],
)
def test_a_malformed_table_is_one_error_naming_the_file(doc, reason):
    with pytest.raises(ModelError, match=f"table.json.*{reason}|{reason}.*"):
        parse_calibration(doc, "table.json")


def test_unknown_calibration_name_is_one_error():
    with pytest.raises(ModelError, match="unknown age calibration 'cal9'"):
        load_calibration("cal9")


def test_summarised_views_apply_the_map_to_the_mean_and_report_the_raw_age():
    readout = readout_for(MIRROR_POLICY, "cal1")
    views = np.array([[30.0, 70.0], [34.0, 74.0]])
    out = summarise_views(views, np.full((2, 2, 2), 0.5), readout, 0.8, 5.0)
    np.testing.assert_allclose(out.age_raw, [32.0, 72.0])
    np.testing.assert_allclose(out.age, readout.age_map(np.array([32.0, 72.0])))
    assert np.all(out.age_low < out.age) and np.all(out.age < out.age_high)
    none = summarise_views(views, np.full((2, 2, 2), 0.5), readout_for(MIRROR_POLICY, "none"), 0.8, 5.0)
    np.testing.assert_allclose(none.age, none.age_raw)


def _pulled(true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A network that pulls ages towards 40 (by a third above 40) with 3 years of noise."""
    return np.where(true > 40, 40 + (true - 40) * 2 / 3, true) + rng.normal(0, 3, true.shape)


def test_the_fit_undoes_a_known_pull_towards_middle_age():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 90, 2000)
    age_map = fit_age_map(_pulled(true, rng), true, np.ones(len(true)))
    np.testing.assert_allclose(age_map(np.array([20.0, 40.0, 60.0])), [20.0, 40.0, 70.0], atol=2.0)


def test_cross_validation_shows_the_gain_out_of_fold_and_intervals_hold():
    rng = np.random.default_rng(1)
    true = np.repeat(np.arange(9) * 10 + 5.0, 60) + rng.uniform(-5, 5, 540)
    sample = CalibrationSample(true, _pulled(true, rng)[None], _pulled(true, rng)[None, None])
    raw, cal = (cross_validate(sample, folds=3, seeds=2, calibrate=c) for c in (False, True))
    for condition in ("clean", "camera"):
        before = np.mean([s.errors.balanced for s in getattr(raw, condition)])
        after = np.mean([s.errors.balanced for s in getattr(cal, condition)])
        assert after < before - 1.5, (condition, before, after)
        assert abs(np.mean([s.coverage.overall for s in getattr(cal, condition)]) - 0.8) < 0.05
    age_map, _ = fit_calibration(sample)
    assert age_map(np.array([70.0]))[0] > 80


def test_folds_are_stratified_by_decade():
    true = np.repeat(np.arange(0, 90, 10), 10) + 3
    fold = decade_folds(true, 5, seed=3)
    for d in range(9):
        assert sorted(np.bincount(fold[true // 10 == d], minlength=5)) == [2] * 5
    assert not np.array_equal(fold, decade_folds(true, 5, seed=4))


@pytest.mark.parametrize(
    ("true", "estimate", "distance"),
    [(25, 27.0, 0.0), (25, 31.0, 2.0), (1, 3.5, 1.5), (75, 95.0, 0.0), (75, 64.0, 6.0), (12, 8.5, 1.5)],
)
def test_distance_to_the_fairface_range(true, estimate, distance):
    got = population_errors(np.array([float(true)]), np.array([estimate]))
    assert got.distance_mix == pytest.approx(distance) and got.inside_mix == (distance == 0)


def test_fairface_mix_weighs_the_twenties_far_above_the_seventies():
    true = np.array([25.0, 75.0])
    young_wrong = population_errors(true, np.array([35.0, 75.0])).fairface_mix_mae
    old_wrong = population_errors(true, np.array([25.0, 85.0])).fairface_mix_mae
    assert young_wrong == pytest.approx(10 * 3300 / 3418) and old_wrong == pytest.approx(10 * 118 / 3418)


def test_weighted_quantiles_count_each_value_by_its_weight():
    values, weights = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_allclose(weighted_quantiles(values, np.ones(3), [0.5]), np.quantile(values, 0.5))
    assert weighted_quantiles(values, weights, [0.5])[0] > 2.0
