"""The backlight benchmark's recipe and bookkeeping, on a drawn scene (no models, no media)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from devkit.bench import synth
from devkit.bench.backlight import Tally, false_faces, variant_renderer
from storelens.errors import InputError

FACE = np.array([[120, 60, 200, 160]], np.float32)


def _scene() -> np.ndarray:
    """A mid-grey room with a textured face-sized patch (sRGB 150 +- 40)."""
    rng = np.random.default_rng(3)
    img = np.full((300, 400, 3), 120, np.uint8)
    img[60:160, 120:200] = np.clip(150 + rng.normal(0, 40, (100, 80, 3)), 0, 255).astype(np.uint8)
    return img


def test_the_street_clips_and_the_people_fall_by_the_stops():
    img = _scene()
    out = {s: synth.render_backlit(img, FACE, replace(synth.draw_backlight(s, 0), glare=0.0)) for s in (3, 4, 5)}
    assert (out[3][:, 280:] >= 240).mean() > 0.95  # the room beside the person is blown out
    lin = {s: float(synth._to_linear(o[80:140, 140:180]).mean()) for s, o in out.items()}
    # Without glare one stop is a factor of two in linear light (measured 2.00 and 2.02).
    assert 1.8 < lin[3] / lin[4] < 2.2 and 1.8 < lin[4] / lin[5] < 2.2


def test_glare_lifts_and_flattens_the_faces_and_grows_with_strength():
    img = _scene()
    base = synth.draw_backlight(4, 0)
    levels = [replace(base, glare=g) for g in (0.0, 0.02, 0.08)]
    faces = [synth.render_backlit(img, FACE, p)[70:150, 130:190].astype(np.float32) for p in levels]
    means = [f.mean() for f in faces]
    assert means[0] < means[1] < means[2]
    assert faces[2].std() / faces[2].mean() < faces[0].std() / faces[0].mean()  # less contrast under the veil


def test_variants_are_seeded():
    img = _scene()
    a, b = synth.backlit(img, FACE, 4, seed=5), synth.backlit(img, FACE, 4, seed=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synth.backlit(img, FACE, 4, seed=6))
    assert synth.draw_backlight(3, 0, flare=True).glare >= 0.05 > synth.draw_backlight(3, 0).glare


@pytest.mark.parametrize("name", ["original", "backlit-3", "backlit-4.5", "flare", "dark-5"])
def test_variant_names(name):
    frame = variant_renderer(name)(_scene(), FACE, 0)
    assert frame.shape == (300, 400, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("name", ["backlit", "backlit-x", "glare-3", ""])
def test_bad_variant_names_are_refused(name):
    with pytest.raises(InputError, match="expected original, flare, backlit-STOPS or dark-STOPS"):
        variant_renderer(name)


def test_false_faces_and_precision():
    reference = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    found = np.array([[1, 0, 11, 10], [50, 50, 60, 60], [22, 0, 32, 10]], np.float32)
    assert false_faces(reference, found) == 1
    assert false_faces(np.zeros((0, 4), np.float32), found) == 3
    tally = Tally(faces=2, frames=1)
    tally.add("auto", found=2, detections=3, false=1, seconds=0.05)
    assert tally.recall("auto") == 1.0 and tally.precision("auto") == pytest.approx(2 / 3)
    assert tally.ms("auto") == pytest.approx(50.0)
