"""Colour transforms: values on hand-made colours, probabilities, dtype handling."""
import colorsys
import copy
import random

import numpy as np
import pytest

from pointlab.data.transforms import (
    ChromaticAutoContrast,
    ChromaticJitter,
    ChromaticTranslation,
    HueSaturationTranslation,
    NormalizeColor,
    RandomColorDrop,
    RandomColorGrayScale,
    RandomColorJitter,
    RandomDropColor,
)
from pointlab.data.transforms.color import hsv_to_rgb, rgb_to_hsv

COLOR = np.array([[10, 20, 30], [110, 60, 230], [50, 140, 90], [255, 0, 128]], dtype=np.float32)


def sample():
    return dict(color=COLOR.copy(), coord=np.zeros((4, 3), np.float32))


def test_normalize_color():
    out = NormalizeColor()(sample())
    np.testing.assert_allclose(out["color"], COLOR / 255)
    assert out["color"].dtype == np.float32


def test_auto_contrast_stretches_each_channel():
    out = ChromaticAutoContrast(p=1.0, blend_factor=1.0)(sample())
    lo, hi = COLOR.min(0), COLOR.max(0)
    np.testing.assert_allclose(out["color"], (COLOR - lo) * 255 / (hi - lo), rtol=1e-6)
    assert out["color"].min() == 0 and np.isclose(out["color"].max(), 255)
    half = ChromaticAutoContrast(p=1.0, blend_factor=0.5)(sample())["color"]
    np.testing.assert_allclose(half, 0.5 * COLOR + 0.5 * out["color"], rtol=1e-5)
    flat = dict(color=np.full((3, 3), 7.0, np.float32))
    assert ChromaticAutoContrast(p=1.0)(flat) is flat  # no channel has a range
    np.testing.assert_array_equal(ChromaticAutoContrast(p=0.0)(sample())["color"], COLOR)


def test_translation_and_jitter_use_numpy_rng_and_clip():
    np.random.seed(0)
    np.random.rand()  # the p test comes first
    tr = (np.random.rand(1, 3) - 0.5) * 255 * 2 * 0.5
    np.random.seed(0)
    out = ChromaticTranslation(p=1.0, ratio=0.5)(sample())
    np.testing.assert_allclose(out["color"], np.clip(COLOR + tr, 0, 255), rtol=1e-6)
    out = ChromaticJitter(p=1.0, std=1.0)(sample())
    assert out["color"].min() >= 0 and out["color"].max() <= 255
    assert not np.array_equal(out["color"], COLOR)
    np.testing.assert_array_equal(ChromaticJitter(p=0.0)(sample())["color"], COLOR)


def test_hsv_round_trip_and_colorsys():
    rgb = np.array([[10, 20, 30], [255, 0, 0], [7, 7, 7], [0, 200, 100]], dtype=np.float64)
    hsv = rgb_to_hsv(rgb)
    for row, h in zip(rgb, hsv):
        ref = colorsys.rgb_to_hsv(*row)
        np.testing.assert_allclose(h, ref, atol=1e-12)
    back = hsv_to_rgb(hsv)
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb).max() <= 1


def test_hue_saturation_translation():
    out = HueSaturationTranslation(hue_max=0.0, saturation_max=0.0)(sample())
    assert out["color"].dtype == np.float32
    assert np.abs(out["color"] - COLOR).max() <= 1  # identity up to uint8 truncation
    out = HueSaturationTranslation(hue_max=0.5, saturation_max=0.2)(sample())
    assert out["color"].min() >= 0 and out["color"].max() <= 255


def test_drop_colors(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    data = dict(color=np.full((10, 3), 9.0, np.float32))
    out = RandomDropColor(drop_ratio=0.3, drop_application_ratio=0.5)(data)
    assert (out["color"].sum(1) == 0).sum() == 3
    monkeypatch.setattr(random, "random", lambda: 0.5)
    assert RandomDropColor(0.3, 0.5)(data) is data
    out = RandomColorDrop(p=1.0, color_augment=0.0)(data)
    assert np.all(out["color"] == 0)
    np.testing.assert_array_equal(RandomColorDrop(p=0.0)(data)["color"], data["color"])


def test_grayscale_and_color_jitter():
    out = RandomColorGrayScale(p=1.0)(sample())
    gray = (0.2989 * COLOR[:, 0] + 0.587 * COLOR[:, 1] + 0.114 * COLOR[:, 2]).astype(np.float32)
    np.testing.assert_allclose(out["color"], np.repeat(gray[:, None], 3, 1))
    out["color"][0, 0] = 1  # writable
    j = RandomColorJitter(brightness=(0.5, 0.5), p=1.0)(sample())
    np.testing.assert_allclose(j["color"], np.clip(COLOR * 0.5, 0, 255))
    h = RandomColorJitter(hue=(0.0, 0.0), p=1.0)
    assert h.hue is None  # no-op range
    same = RandomColorJitter(hue=0.1, p=0.0)(sample())
    np.testing.assert_array_equal(same["color"], COLOR)
    with pytest.raises(ValueError):
        RandomColorJitter(brightness=-1)


def test_color_transforms_never_mutate_input(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    data = sample()
    snapshot = copy.deepcopy(data)
    for t in (ChromaticAutoContrast(p=1), ChromaticTranslation(p=1), ChromaticJitter(p=1), HueSaturationTranslation(),
              RandomDropColor(), RandomColorDrop(p=1), RandomColorGrayScale(p=1), NormalizeColor(),
              RandomColorJitter(0.4, 0.4, 0.2, 0.1, p=1)):
        t(data)
        np.testing.assert_array_equal(data["color"], snapshot["color"], err_msg=type(t).__name__)


def test_auto_contrast_on_uint8_colour_computes_in_float():
    data = dict(color=np.array([[0, 10, 100], [50, 20, 200]], dtype=np.uint8))
    out = ChromaticAutoContrast(p=1.0, blend_factor=1.0)(data)
    assert out["color"].dtype == np.uint8
    np.testing.assert_array_equal(out["color"], [[0, 0, 0], [255, 255, 255]])



def _clip_ref(color, offset):
    ref = color.copy()
    ref[:, :3] = np.clip(offset + color[:, :3], 0, 255)
    return ref


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [3, 4])
def test_translation_and_jitter_clip_then_cast_like_the_reference(dtype, channels):
    """Both clip straight into color's dtype; values must equal the reference's clip-then-assign."""
    rs = np.random.RandomState(channels)
    color = (rs.rand(400, channels) * 300 - 20).clip(0, 255).astype(dtype)
    for seed in range(3):
        np.random.seed(seed)
        out = ChromaticTranslation(p=1.0, ratio=0.3)(dict(color=color))["color"]
        np.random.seed(seed)
        np.random.rand()  # the p draw
        ref = _clip_ref(color, (np.random.rand(1, 3) - 0.5) * 255 * 2 * 0.3)
        assert out.dtype == color.dtype and out.tobytes() == ref.tobytes()
        np.random.seed(seed)
        out = ChromaticJitter(p=1.0, std=0.2)(dict(color=color))["color"]
        np.random.seed(seed)
        np.random.rand()
        ref = _clip_ref(color, np.random.randn(color.shape[0], 3) * (0.2 * 255))
        assert out.dtype == color.dtype and out.tobytes() == ref.tobytes()


def test_translation_round_then_clip_guard():
    """ChromaticTranslation rounds to float32 before clipping only where that cannot turn a tiny
    negative sum into -0 (which clip keeps and the reference's clip-then-round makes +0)."""
    from pointlab.data.transforms.color import _round_then_clip_exact

    hazard = np.float32(np.float64(-1e-50))  # rounds to -0.0 in float32
    assert np.signbit(np.clip(np.array([hazard]), 0, 255))[0]
    assert not np.signbit(np.float32(np.clip(-1e-50, 0, 255)))
    assert _round_then_clip_exact(np.dtype(np.float32), [[0.5, 0.0, -2.0]])
    assert _round_then_clip_exact(np.dtype(np.float64), [[1e-300, 0.0, 0.0]])
    assert not _round_then_clip_exact(np.dtype(np.float32), [[1e-35, 0.0, 0.0]])
    assert not _round_then_clip_exact(np.dtype(np.float32), [[np.nan, 0.0, 0.0]])
    assert not _round_then_clip_exact(np.dtype(np.float16), [[0.5, 0.5, 0.5]])
    # the guarded fallback on a float32 colour with a tiny offset still equals the reference
    color = np.array([[-1e-40, 3.0, 255.0], [0.0, -0.0, 300.0]], dtype=np.float32)
    np.random.seed(2)
    out = ChromaticTranslation(p=1.0, ratio=1e-38)(dict(color=color))["color"]
    np.random.seed(2)
    np.random.rand()
    ref = _clip_ref(color, (np.random.rand(1, 3) - 0.5) * 255 * 2 * 1e-38)
    assert out.dtype == np.float32 and out.tobytes() == ref.tobytes()
