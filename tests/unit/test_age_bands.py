"""Age bands: presets, custom bounds, labels, per-age lookup and histogram re-binning."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.agebands import (
    AGE_BINS,
    PRESETS,
    age_histogram,
    band_edges,
    band_labels,
    band_names,
    rebin_histogram,
)
from storelens.config import parse_config
from storelens.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "labels"),
    [
        ("fine", ["0-12", "13-17", "18-21", "22-25", "26-30", "31-35", "36-45", "46-55", "56-65", "66+"]),
        ("coarse", ["0-17", "18-34", "35-54", "55+"]),
        ([0, 18, 35, 55], ["0-17", "18-34", "35-54", "55+"]),
        ([0, 1, 90], ["0", "1-89", "90+"]),
    ],
)
def test_labels_per_preset_and_custom(spec, labels):
    assert band_labels(band_edges(spec)) == labels


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("medium", "unknown age band preset"),
        ([], "must start at 0"),
        ([5, 18], "must start at 0"),
        ([0, 18, 18, 30], "strictly increasing"),
        ([0, 30, 20], "strictly increasing"),
        ([0, 95], "at most 90"),
    ],
)
def test_invalid_band_specs_say_why(spec, reason):
    with pytest.raises(ValueError, match=reason):
        band_edges(spec)


@pytest.mark.parametrize(
    ("age", "fine", "coarse"),
    [
        (0.0, "0-12", "0-17"),
        (12.99, "0-12", "0-17"),
        (13.0, "13-17", "0-17"),
        (17.5, "13-17", "0-17"),
        (18.0, "18-21", "18-34"),
        (25.9, "22-25", "18-34"),
        (34.99, "31-35", "18-34"),
        (35.0, "31-35", "35-54"),
        (65.5, "56-65", "55+"),
        (66.0, "66+", "55+"),
        (104.0, "66+", "55+"),
        (float("nan"), "", ""),
    ],
)
def test_band_of_each_age(age, fine, coarse):
    assert band_names(np.array([age]), PRESETS["fine"])[0] == fine
    assert band_names(np.array([age]), PRESETS["coarse"])[0] == coarse


def test_rebin_keeps_every_count_in_the_right_band():
    hist = np.zeros(AGE_BINS, int)
    hist[[5, 13, 17, 18, 40, 66, 90]] = [1, 2, 3, 4, 5, 6, 7]
    fine = rebin_histogram(hist, PRESETS["fine"])
    assert fine.tolist() == [1, 5, 4, 0, 0, 0, 5, 0, 0, 13]
    assert rebin_histogram(hist, PRESETS["coarse"]).tolist() == [6, 4, 5, 13]
    assert fine.sum() == hist.sum()


def test_rebin_rejects_a_histogram_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"shape \(90,\)"):
        rebin_histogram(np.zeros(90), PRESETS["fine"])


def test_age_histogram_floors_clips_and_skips_missing_ages():
    hist = age_histogram(np.array([0.4, 17.9, 18.0, 95.0, np.nan]))
    assert hist.shape == (AGE_BINS,)
    assert hist[0] == 1 and hist[17] == 1 and hist[18] == 1 and hist[90] == 1
    assert hist.sum() == 4


def test_config_rejects_bad_bands_with_the_key_path():
    with pytest.raises(ConfigError) as err:
        parse_config({"edge": {"age": {"bands": [0, 30, 20]}}}, "store.yaml")
    text = str(err.value)
    assert text.startswith("store.yaml: edge.age.bands:") and "strictly increasing" in text
    assert len(text.splitlines()) == 1


def test_config_accepts_presets_and_custom_bands():
    assert parse_config({"edge": {"age": {"bands": "coarse"}}}).edge.age.bands == "coarse"
    assert parse_config({"edge": {"age": {"bands": [0, 25, 50]}}}).edge.age.bands == [0, 25, 50]
