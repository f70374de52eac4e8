"""Colour transforms (``color`` is [N, 3] RGB in 0..255 until ``NormalizeColor``).

Random draws follow the reference call for call (numpy's global RNG; Python's
``random`` for ``RandomDropColor``; ``torch.randperm`` for ``RandomColorJitter``'s order).
Each transform writes into a copy of ``color`` with the reference's assignment rules
(the result keeps the input dtype), so outputs equal the reference's while the input
is left untouched.

Deviations: ``ChromaticAutoContrast`` on an *integer* colour array computes in float32
and casts back (the reference's integer arithmetic would overflow); float colours —
what the datasets produce — follow the reference exactly. ``RandomColorGrayScale``
returns a writable array (the reference returns a read-only broadcast view).
"""
from __future__ import annotations

import numbers
import random

import numpy as np
import torch

from pointlab.data.transforms.geometry import apply_rows, col_max, col_min
from pointlab.registry import TRANSFORMS


def _with_rgb(color: np.ndarray, rgb, clip: bool = False) -> np.ndarray:
    """A copy of ``color`` with its first three columns replaced (cast to color's dtype);
    ``clip``: by ``np.clip(rgb, 0, 255)``."""
    color = np.asarray(color)
    if color.ndim == 2 and color.shape[1] == 3 and np.shape(rgb) == color.shape:
        out = np.empty_like(color)  # every entry is overwritten: no need to copy color first
    else:
        out = np.array(color, copy=True)
    if clip and out.dtype.kind == "f":
        np.clip(rgb, 0, 255, out=out[:, :3])  # clipped in rgb's dtype, then cast: one pass
    else:
        out[:, :3] = np.clip(rgb, 0, 255) if clip else rgb
    return out


@TRANSFORMS.register_module()
class NormalizeColor:
    """``color = color / 255``."""

    row_keys = ("color",)  # the only per-point key read or written (see Compose)

    def __call__(self, data_dict):
        if "color" in data_dict:
            data_dict = dict(data_dict, color=data_dict["color"] / 255)
        return data_dict


@TRANSFORMS.register_module()
class ChromaticAutoContrast:
    """With probability p stretch each channel to 0..255 and blend with the original.

    ``contrast = (c − lo)·255/(hi − lo)`` per channel (scale 1 where hi == lo; nothing
    happens when no channel has a range); ``c = (1−b)·c + b·contrast`` with
    ``b = blend_factor`` or ``rand()``; no clipping.
    """

    def __init__(self, p=0.2, blend_factor=None):
        self.p = p
        self.blend_factor = blend_factor

    def __call__(self, data_dict):
        if "color" in data_dict and np.random.rand() < self.p:
            color = np.asarray(data_dict["color"])
            if color.shape[0] == 0:
                return data_dict
            work = color if np.issubdtype(color.dtype, np.floating) else color.astype(np.float32)
            lo = col_min(work)[None]  # == np.min(work, 0, keepdims=True), several times faster
            hi = col_max(work)[None]
            diff = hi - lo
            if not np.any(diff > 0):
                return data_dict
            scale = np.divide(255, diff, out=np.ones_like(diff, dtype=work.dtype), where=diff > 0)
            blend = np.random.rand() if self.blend_factor is None else self.blend_factor
            rgb_in = work[:, :3]
            contrast = apply_rows(np.subtract, rgb_in, lo, np.empty(rgb_in.shape, np.result_type(rgb_in, lo)))
            apply_rows(np.multiply, contrast, scale, out=contrast)  # (c − lo)·scale
            if isinstance(blend, (float, int)):  # a Python number keeps work's dtype: in place
                contrast *= blend  # b·x == x·b
                rgb = (1 - blend) * work[:, :3]
                rgb += contrast
            else:  # e.g. a numpy float64 factor promotes, as in the reference's expression
                rgb = (1 - blend) * work[:, :3] + blend * contrast
            if color.shape[1] == 3 and rgb.dtype == color.dtype:
                data_dict = dict(data_dict, color=rgb)  # what _with_rgb would copy it into
            else:
                data_dict = dict(data_dict, color=_with_rgb(color, rgb))
        return data_dict


def _round_then_clip_exact(dtype, offset) -> bool:
    """Whether ``round(clip(c + offset, 0, 255))`` to ``dtype`` equals ``clip(round(c + offset))``
    for every ``c`` of ``dtype`` (the float64 sum rounded to ``dtype``).

    Rounding is monotonic and 0, 255 are exact, so the two agree except where a tiny negative
    sum rounds to −0 (kept by clip, +0 in the reference). float64: no rounding. float32: if
    each offset is 0 or ≥ 2⁻⁹⁷ in magnitude, offsets and float32 values are all multiples of
    2⁻¹⁴⁹, so a nonzero sum is at least 2⁻¹⁴⁹ in magnitude and never rounds to ±0.
    """
    if dtype == np.float64:
        return True
    off = np.abs(np.asarray(offset, dtype=np.float64))
    return dtype == np.float32 and bool(np.all((off == 0) | (off >= 2.0**-97)))


@TRANSFORMS.register_module()
class ChromaticTranslation:
    """With probability p: ``c = clip(c + (rand(1,3) − 0.5)·255·2·ratio, 0, 255)``."""

    def __init__(self, p=0.95, ratio=0.05):
        self.p = p
        self.ratio = ratio

    def __call__(self, data_dict):
        if "color" in data_dict and np.random.rand() < self.p:
            color = data_dict["color"]
            tr = (np.random.rand(1, 3) - 0.5) * 255 * 2 * self.ratio
            color = np.asarray(color)
            rgb_in = color[:, :3]
            if color.ndim == 2 and color.shape[1] == 3 and _round_then_clip_exact(color.dtype, tr):
                out = apply_rows(np.add, rgb_in, tr, np.empty_like(color))
                data_dict = dict(data_dict, color=np.clip(out, 0, 255, out=out))
            else:
                rgb = apply_rows(np.add, rgb_in, tr, np.empty(rgb_in.shape, np.result_type(rgb_in, tr)))  # == tr + c
                data_dict = dict(data_dict, color=_with_rgb(color, rgb, clip=True))
        return data_dict


@TRANSFORMS.register_module()
class ChromaticJitter:
    """With probability p: ``c = clip(c + randn(N,3)·std·255, 0, 255)``."""

    def __init__(self, p=0.95, std=0.005):
        self.p = p
        self.std = std

    def __call__(self, data_dict):
        if "color" in data_dict and np.random.rand() < self.p:
            color = data_dict["color"]
            noise = np.random.randn(color.shape[0], 3)
            noise *= self.std * 255
            noise += color[:, :3]  # == noise + color (float64)
            data_dict = dict(data_dict, color=_with_rgb(color, noise, clip=True))
        return data_dict


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] RGB (any scale) → float64 HSV with h, s in [0, 1) and v in the input's scale."""
    rgb = rgb.astype(float)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc = np.max(rgb[..., :3], axis=-1)
    minc = np.min(rgb[..., :3], axis=-1)
    chroma = maxc - minc
    has = maxc != minc
    safe = np.where(has, chroma, 1.0)
    s = np.where(has, chroma / np.where(has, maxc, 1.0), 0.0)
    rc = np.where(has, (maxc - r) / safe, 0.0)
    gc = np.where(has, (maxc - g) / safe, 0.0)
    bc = np.where(has, (maxc - b) / safe, 0.0)
    h = np.select([r == maxc, g == maxc], [bc - gc, 2.0 + rc - bc], default=4.0 + gc - rc)
    h = (h / 6.0) % 1.0
    return np.stack([h, s, maxc], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv` → uint8 (values truncated)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = (h * 6.0).astype("uint8")
    f = (h * 6.0) - i
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    i = i % 6
    cond = [s == 0.0, i == 1, i == 2, i == 3, i == 4, i == 5]
    r_ = np.select(cond, [v, q, p, p, t, v], default=v)
    g_ = np.select(cond, [v, v, v, q, p, p], default=t)
    b_ = np.select(cond, [v, p, t, v, v, q], default=p)
    return np.stack([r_, g_, b_], axis=-1).astype("uint8")


@TRANSFORMS.register_module()
class HueSaturationTranslation:
    """Always: shift hue by ``U(−hue_max, hue_max)`` (mod 1) and scale saturation by
    ``1 + U(−saturation_max, saturation_max)`` (clipped to [0, 1]); back to RGB as uint8
    values (written into ``color``'s dtype)."""

    rgb_to_hsv = staticmethod(rgb_to_hsv)
    hsv_to_rgb = staticmethod(hsv_to_rgb)

    def __init__(self, hue_max=0.5, saturation_max=0.2):
        self.hue_max = hue_max
        self.saturation_max = saturation_max

    def __call__(self, data_dict):
        if "color" in data_dict:
            color = data_dict["color"]
            hsv = rgb_to_hsv(color[:, :3])
            hue_val = (np.random.rand() - 0.5) * 2 * self.hue_max
            sat_ratio = 1 + (np.random.rand() - 0.5) * 2 * self.saturation_max
            hsv[..., 0] = np.remainder(hue_val + hsv[..., 0] + 1, 1)
            hsv[..., 1] = np.clip(sat_ratio * hsv[..., 1], 0, 1)
            data_dict = dict(data_dict, color=_with_rgb(color, np.clip(hsv_to_rgb(hsv), 0, 255)))
        return data_dict


@TRANSFORMS.register_module()
class RandomDropColor:
    """With probability ``drop_application_ratio`` (py-random) set the colour of
    ``int(n·drop_ratio)`` random points (numpy ``choice`` without replacement) to 0."""

    def __init__(self, drop_ratio=0.2, drop_application_ratio=0.5):
        self.drop_ratio = drop_ratio
        self.drop_application_ratio = drop_application_ratio
        self.drop_value = 0.0

    def __call__(self, data_dict):
        if "color" in data_dict and random.random() < self.drop_application_ratio:
            color = np.array(data_dict["color"], copy=True)
            n = len(color)
            idx = np.random.choice(n, int(n * self.drop_ratio), replace=False)
            color[idx] = self.drop_value
            data_dict = dict(data_dict, color=color)
        return data_dict


@TRANSFORMS.register_module()
class RandomColorDrop:
    """Legacy (Pointcept ≤ v1.5): with probability p (numpy ``rand() < p``),
    ``color *= color_augment``."""

    def __init__(self, p=0.2, color_augment=0.0):
        self.p = p
        self.color_augment = color_augment

    def __call__(self, data_dict):
        if "color" in data_dict and np.random.rand() < self.p:
            color = np.array(data_dict["color"], copy=True)
            color *= self.color_augment
            data_dict = dict(data_dict, color=color)
        return data_dict


def rgb_to_grayscale(color: np.ndarray, num_output_channels: int = 1) -> np.ndarray:
    """ITU-R 601 luma ``0.2989 r + 0.587 g + 0.114 b`` in color's dtype → [N, 1] or [N, 3]."""
    if color.shape[-1] < 3:
        raise ValueError(f"rgb_to_grayscale needs at least 3 colour channels, got shape {color.shape}")
    if num_output_channels not in (1, 3):
        raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels}")
    r, g, b = color[..., 0], color[..., 1], color[..., 2]
    gray = (0.2989 * r + 0.587 * g + 0.114 * b).astype(color.dtype)[..., None]
    if num_output_channels == 3:
        gray = np.broadcast_to(gray, color.shape).copy()
    return gray


@TRANSFORMS.register_module()
class RandomColorGrayScale:
    """With probability p replace ``color`` by its grey value in every channel."""

    rgb_to_grayscale = staticmethod(rgb_to_grayscale)

    def __init__(self, p):
        self.p = p

    def __call__(self, data_dict):
        if np.random.rand() < self.p:
            if "color" not in data_dict:
                raise KeyError(f"RandomColorGrayScale needs key 'color'; present keys: {sorted(data_dict)}")
            data_dict = dict(data_dict, color=rgb_to_grayscale(np.asarray(data_dict["color"]), 3))
        return data_dict


def _rgb2hsv_unit(rgb: np.ndarray) -> np.ndarray:
    """torchvision-style RGB (0..1) → HSV (all in 0..1)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc = np.max(rgb, axis=-1)
    minc = np.min(rgb, axis=-1)
    eqc = maxc == minc
    cr = maxc - minc
    s = cr / (np.ones_like(maxc) * eqc + maxc * (1 - eqc))
    cr_divisor = np.ones_like(maxc) * eqc + cr * (1 - eqc)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = (hr + hg + hb) / 6.0
    h = (h + 1.0) % 1.0
    return np.stack((h, s, maxc), axis=-1)


def _hsv2rgb_unit(hsv: np.ndarray) -> np.ndarray:
    """torchvision-style HSV (0..1) → RGB (0..1)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    # rows: sector 0..5; columns: r, g, b
    table = np.stack(
        (np.stack((v, q, p, p, t, v), -1), np.stack((t, v, v, q, p, p), -1), np.stack((p, p, t, v, v, q), -1)),
        axis=-1,
    )
    return np.take_along_axis(table, i[..., None, None], axis=-2)[..., 0, :]


@TRANSFORMS.register_module()
class RandomColorJitter:
    """torchvision-style colour jitter on 0..255 colours.

    Draws a random order of the four adjustments (``torch.randperm(4)``) and the factors
    (numpy uniform: brightness, contrast, saturation, hue — those configured), then
    applies each configured adjustment with probability p (numpy ``rand()``).
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, p=0.95):
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)
        self.p = p

    @staticmethod
    def _check_input(value, name, center=1, bound=(0, float("inf")), clip_first_on_zero=True):
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"RandomColorJitter: {name} as a single number must be non-negative, got {value}")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            if not bound[0] <= value[0] <= value[1] <= bound[1]:
                raise ValueError(f"RandomColorJitter: {name} values should be between {bound}, got {value}")
        else:
            raise TypeError(f"RandomColorJitter: {name} must be a number or a (min, max) pair, got {value!r}")
        if value[0] == value[1] == center:  # no-op range
            return None
        return value

    @staticmethod
    def blend(color1, color2, ratio):
        ratio = float(ratio)
        return (ratio * color1 + (1.0 - ratio) * color2).clip(0, 255.0).astype(color1.dtype)

    def adjust_brightness(self, color, factor):
        return self.blend(color, np.zeros_like(color), factor)

    def adjust_contrast(self, color, factor):
        return self.blend(color, np.mean(rgb_to_grayscale(color)), factor)

    def adjust_saturation(self, color, factor):
        return self.blend(color, rgb_to_grayscale(color), factor)

    def adjust_hue(self, color, factor):
        if not -0.5 <= factor <= 0.5:
            raise ValueError(f"hue_factor ({factor}) is not in [-0.5, 0.5]")
        hsv = _rgb2hsv_unit(color / 255.0)
        hsv[..., 0] = (hsv[..., 0] + factor) % 1.0
        return (_hsv2rgb_unit(hsv) * 255.0).astype(color.dtype)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        fn_idx = torch.randperm(4)
        b = None if brightness is None else np.random.uniform(brightness[0], brightness[1])
        c = None if contrast is None else np.random.uniform(contrast[0], contrast[1])
        s = None if saturation is None else np.random.uniform(saturation[0], saturation[1])
        h = None if hue is None else np.random.uniform(hue[0], hue[1])
        return fn_idx, b, c, s, h

    def __call__(self, data_dict):
        fn_idx, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        steps = {0: (b, self.adjust_brightness), 1: (c, self.adjust_contrast), 2: (s, self.adjust_saturation), 3: (h, self.adjust_hue)}
        for fn_id in fn_idx.tolist():
            factor, fn = steps[fn_id]
            if factor is not None and np.random.rand() < self.p:
                if "color" not in data_dict:
                    raise KeyError(f"RandomColorJitter needs key 'color'; present keys: {sorted(data_dict)}")
                data_dict = dict(data_dict, color=fn(np.asarray(data_dict["color"]), factor))
        return data_dict


__all__ = [
    "NormalizeColor",
    "ChromaticAutoContrast",
    "ChromaticTranslation",
    "ChromaticJitter",
    "HueSaturationTranslation",
    "RandomDropColor",
    "RandomColorDrop",
    "RandomColorGrayScale",
    "RandomColorJitter",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "rgb_to_grayscale",
]
