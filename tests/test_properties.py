"""Property tests (hypothesis) for srgan.metrics and srgan.imresize on random shapes and dtypes.

Hypothesis draws the structure of each case (shape, scale, dtype, kind of image, protocol) and a
seed; the pixels come from ``np.random.default_rng(seed)``, which is much faster than drawing
arrays element by element. Every test is derandomized and uses no example database, so a run
tests the same examples every time, in any order.

The golden numbers (MATLAB LR images, skimage's SSIM, hand-computed PSNRs) live in
test_imresize.py and test_metrics.py; the properties here hold for every input.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from srgan.imresize import _output_geometry, _resize_nchw, imresize
from srgan.metrics import PROTOCOLS, psnr, ssim

WIN = 11  # SSIM's Gaussian window side (Wang et al. 2004)
KINDS = ("noise", "binary", "smooth", "constant")
SEEDS = st.integers(0, 2**32 - 1)


def fixed(max_examples: int) -> settings:
    """The same examples on every run and in any test order: derandomized, no database."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None)


def _image(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """uint8 test image: uniform noise, 0/255 only, a smooth sinusoid, or one grey level."""
    if kind == "noise":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if kind == "binary":
        return (rng.integers(0, 2, size=shape) * 255).astype(np.uint8)
    if kind == "smooth":
        i, j = np.indices(shape[:2], dtype=np.float64)
        fi, fj, phase = rng.uniform(0, 0.5, size=3)
        wave = 127.5 + 127.5 * np.sin(fi * i + fj * j + phase)  # (H, W)
        wave = wave[..., None] * rng.uniform(0.5, 1, size=shape[2:]) if len(shape) == 3 else wave
        return np.floor(wave).astype(np.uint8)
    return np.full(shape, rng.integers(0, 256), dtype=np.uint8)


def _partner(rng: np.random.Generator, hr: np.ndarray, relation: str) -> np.ndarray:
    """An SR image for ``hr``: unrelated, inverted (anti-correlated), noisy, or equal."""
    if relation == "independent":
        return _image(rng, hr.shape, str(rng.choice(KINDS)))
    if relation == "inverted":
        return 255 - hr
    if relation == "noisy":
        noise = rng.integers(-40, 41, size=hr.shape)
        return np.clip(hr.astype(np.int64) + noise, 0, 255).astype(np.uint8)
    return hr.copy()


@st.composite
def scored_shapes(draw) -> tuple[str, int, int, int]:
    """(protocol, scale, H, W) whose scored area (after the standard crop) fits SSIM's window."""
    protocol = draw(st.sampled_from(PROTOCOLS))
    scale = draw(st.integers(0, 6)) if protocol == "standard" else 0  # the report does not crop
    h = draw(st.integers(WIN + 2 * scale, WIN + 2 * scale + 30))
    w = draw(st.integers(WIN + 2 * scale, WIN + 2 * scale + 30))
    return protocol, scale, h, w


# --- SSIM -----------------------------------------------------------------------------------

@fixed(150)
@given(geometry=scored_shapes(), kind=st.sampled_from(KINDS),
       relation=st.sampled_from(("independent", "inverted", "noisy", "identical")), seed=SEEDS)
def test_ssim_lies_in_minus_one_one(geometry, kind, relation, seed):
    # A wrong variance or covariance (a missing mu^2 term, sample vs population weights on one
    # side only) pushes the ratio out of [-1, 1]; inverted pairs reach the negative side.
    protocol, scale, h, w = geometry
    rng = np.random.default_rng(seed)
    hr = _image(rng, (h, w, 3), kind)
    sr = _partner(rng, hr, relation)
    value = ssim(sr, hr, scale=scale, protocol=protocol)
    assert math.isfinite(value)
    assert -1.0 <= value <= 1.0


@fixed(80)
@given(geometry=scored_shapes(), kind=st.sampled_from(KINDS), round_y=st.booleans(), seed=SEEDS)
def test_ssim_of_identical_images_is_one(geometry, kind, round_y, seed):
    # Constant images included: sigma = 0 there, and only C1, C2 keep the ratio at 1, not 0/0.
    protocol, scale, h, w = geometry
    hr = _image(np.random.default_rng(seed), (h, w, 3), kind)
    assert ssim(hr.copy(), hr, scale=scale, protocol=protocol, round_y=round_y) == pytest.approx(
        1.0, abs=1e-12)


@fixed(80)
@given(geometry=scored_shapes(), kind=st.sampled_from(KINDS),
       relation=st.sampled_from(("independent", "inverted", "noisy")), seed=SEEDS)
def test_psnr_and_ssim_are_symmetric(geometry, kind, relation, seed):
    # An asymmetric formula (C1/C2 or the crop applied to one image only, a signed error) breaks it.
    protocol, scale, h, w = geometry
    rng = np.random.default_rng(seed)
    hr = _image(rng, (h, w, 3), kind)
    sr = _partner(rng, hr, relation)
    assert psnr(sr, hr, scale=scale, protocol=protocol) == psnr(hr, sr, scale=scale,
                                                                protocol=protocol)
    assert ssim(sr, hr, scale=scale, protocol=protocol) == pytest.approx(
        ssim(hr, sr, scale=scale, protocol=protocol), abs=1e-12)


@fixed(200)
@given(protocol=st.sampled_from(PROTOCOLS), scale=st.integers(0, 6), h=st.integers(1, 26),
       w=st.integers(1, 26), seed=SEEDS)
def test_small_images_raise_a_clear_error_never_nan(protocol, scale, h, w, seed):
    # The domain exactly: a ValueError naming the problem where the border crop or the 11x11
    # window does not fit, a finite number (or PSNR's inf) everywhere else; never nan, never
    # a numpy error from an empty array.
    rng = np.random.default_rng(seed)
    hr = _image(rng, (h, w, 3), "noise")
    sr = _partner(rng, hr, "noisy")
    crop = 2 * scale if protocol == "standard" else 0
    if protocol == "standard" and min(h, w) <= crop:
        for metric in (psnr, ssim):
            with pytest.raises(ValueError, match=f"too small for a {scale}-pixel border crop"):
                metric(sr, hr, scale=scale, protocol=protocol)
        return
    assert not math.isnan(psnr(sr, hr, scale=scale, protocol=protocol))
    if min(h, w) - crop < WIN:
        with pytest.raises(ValueError, match=rf"at least 11x11 after cropping, got \({h - crop}, "
                                             rf"{w - crop}\)"):
            ssim(sr, hr, scale=scale, protocol=protocol)
    else:
        assert -1.0 <= ssim(sr, hr, scale=scale, protocol=protocol) <= 1.0


# --- PSNR -----------------------------------------------------------------------------------

@fixed(60)
@given(protocol=st.sampled_from(PROTOCOLS), h=st.integers(1, 40), w=st.integers(1, 40),
       kind=st.sampled_from(KINDS), seed=SEEDS)
def test_psnr_of_identical_images_is_inf(protocol, h, w, kind, seed):
    hr = _image(np.random.default_rng(seed), (h, w, 3), kind)
    assert psnr(hr.copy(), hr, scale=0, protocol=protocol) == math.inf


@fixed(80)
@given(protocol=st.sampled_from(PROTOCOLS), scale=st.integers(0, 4), h=st.integers(10, 40),
       w=st.integers(10, 40), seed=SEEDS)
def test_psnr_drops_6_db_when_the_error_doubles(protocol, scale, h, w, seed):
    # PSNR = 10 log10(255^2 / MSE): doubling every error quadruples the MSE, so PSNR falls by
    # exactly 20 log10(2) dB. Catches 20 log10 vs 10 log10, RMSE for MSE, a non-squared error.
    # HR in [64, 192) and errors in +-[1, 30] keep hr + 2 d inside [0, 255] (no clipping).
    # round_y=False keeps Y linear in RGB (rounded Y would not double exactly).
    rng = np.random.default_rng(seed)
    hr = rng.integers(64, 192, size=(h, w, 3))
    d = rng.integers(1, 31, size=(h, w, 3)) * rng.choice([-1, 1], size=(h, w, 3))
    near, far = (hr + d).astype(np.uint8), (hr + 2 * d).astype(np.uint8)
    hr = hr.astype(np.uint8)
    kwargs = dict(scale=scale, protocol=protocol, round_y=False)
    assert psnr(far, hr, **kwargs) == pytest.approx(psnr(near, hr, **kwargs) - 20 * math.log10(2),
                                                    abs=1e-9)


@fixed(60)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=SEEDS)
def test_gray_images_y_psnr_is_rgb_psnr_shifted(h, w, seed):
    # For R = G = B = v, Y = 16 + v (65.481 + 128.553 + 24.966) / 255 = 16 + 219 v / 255, so the
    # standard PSNR (unrounded Y, no crop) is the report's RGB PSNR minus 20 log10(219 / 255).
    # Catches a wrong Y coefficient or offset, or a channel dropped from either protocol.
    rng = np.random.default_rng(seed)
    hr = np.repeat(rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8), 3, axis=2)
    sr = np.repeat(rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8), 3, axis=2)
    assume(not np.array_equal(sr, hr))
    standard = psnr(sr, hr, scale=0, protocol="standard", round_y=False)
    report = psnr(sr, hr, protocol="report")
    assert standard == pytest.approx(report - 20 * math.log10(219 / 255), abs=1e-9)


@fixed(80)
@given(scale=st.integers(1, 6), extra_h=st.integers(0, 20), extra_w=st.integers(0, 20),
       side=st.sampled_from(("top", "bottom", "left", "right")), seed=SEEDS)
def test_standard_protocol_ignores_exactly_the_border(scale, extra_h, extra_w, side, seed):
    # Anything in the outer `scale` pixels is ignored; one pixel just inside is not. Catches an
    # off-by-one crop (scale - 1 or scale + 1) on any of the four sides.
    rng = np.random.default_rng(seed)
    h, w = 2 * scale + WIN + extra_h, 2 * scale + WIN + extra_w
    hr = _image(rng, (h, w, 3), "noise")
    sr = _image(rng, (h, w, 3), "noise")
    sr[scale:h - scale, scale:w - scale] = hr[scale:h - scale, scale:w - scale]  # same inside
    assert psnr(sr, hr, scale=scale) == math.inf
    assert ssim(sr, hr, scale=scale) == pytest.approx(1.0, abs=1e-12)
    row, col = {"top": (scale, scale + extra_w // 2), "bottom": (h - scale - 1, scale),
                "left": (scale + extra_h // 2, scale), "right": (scale, w - scale - 1)}[side]
    sr[row, col] = hr[row, col] ^ 128  # every channel moves by 128: |dY| >= 19 grey levels
    assert math.isfinite(psnr(sr, hr, scale=scale))
    assert ssim(sr, hr, scale=scale) < 1.0


@fixed(50)
@given(h=st.integers(WIN, 40), w=st.integers(WIN, 40), perm=st.permutations([0, 1, 2]),
       seed=SEEDS)
def test_report_protocol_treats_channels_alike(h, w, perm, seed):
    # The report protocol averages R, G and B with equal weight; scoring one channel, or
    # weighting them, changes under a channel permutation.
    rng = np.random.default_rng(seed)
    hr = _image(rng, (h, w, 3), "smooth")
    sr = _partner(rng, hr, "noisy")
    sr[..., 0] = _image(rng, (h, w), "noise")  # channels differ a lot in how well they match
    for metric in (psnr, ssim):
        assert metric(sr[..., perm], hr[..., perm], protocol="report") == pytest.approx(
            metric(sr, hr, protocol="report"), rel=1e-12)


@fixed(30)
@given(dtype=st.sampled_from([np.float32, np.float64, np.uint16, np.int64, np.bool_]),
       h=st.integers(11, 30), w=st.integers(11, 30), which=st.sampled_from(("sr", "hr")),
       seed=SEEDS)
def test_metrics_reject_non_uint8_instead_of_guessing_the_range(dtype, h, w, which, seed):
    # Floats are not accepted (so "uint8 PSNR == float PSNR" does not apply): a float image in
    # [0, 1] scored against data range 255 would silently give PSNRs ~48 dB too high.
    image = _image(np.random.default_rng(seed), (h, w, 3), "noise")
    pair = {"sr": image, "hr": image.copy()}
    pair[which] = pair[which].astype(dtype)
    for metric in (psnr, ssim):
        with pytest.raises(ValueError, match=f"{which} must be a uint8 numpy array, got "
                                             f"{np.dtype(dtype)}"):
            metric(pair["sr"], pair["hr"], scale=0)


# --- imresize -----------------------------------------------------------------------------------

SCALES = st.one_of(st.sampled_from([0.25, 1 / 3, 0.5, 0.75, 1.0, 2.0, 2.5, 3.0, 4.0]),
                   st.floats(0.15, 4.0))
FLOAT_DTYPES = st.sampled_from([np.float32, np.float64])
DTYPES = st.sampled_from([np.uint8, np.float32, np.float64])


@st.composite
def geometries(draw, *, max_side: int = 40, form: str | None = None,
               layouts: tuple = (None, 1, 3, 4)) -> tuple[tuple[int, ...], float | None, tuple | None]:
    """(input shape, scale, output_shape): the ``"scale"`` form or MATLAB's ``"[M N]"`` form.

    The shape is HxW (channel count None in ``layouts``) or HxWxC.
    """
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    channels = draw(st.sampled_from(layouts))
    shape = (h, w) if channels is None else (h, w, channels)
    if (form or draw(st.sampled_from(("scale", "[M N]")))) == "scale":
        return shape, draw(SCALES), None
    return shape, None, (draw(st.integers(1, 2 * max_side)), draw(st.integers(1, 2 * max_side)))


def _expected_hw(shape, scale, output_shape) -> tuple[int, int]:
    if output_shape is not None:
        return output_shape
    return math.ceil(shape[0] * scale), math.ceil(shape[1] * scale)


def _float_image(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Floats well outside [0, 255] too: the float path must neither clip nor round."""
    return (rng.normal(100, 200, size=shape)).astype(dtype)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    floor = np.floor(x)
    return np.clip(floor + (x - floor >= 0.5), 0, 255).astype(np.uint8)


def _cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


@functools.lru_cache(maxsize=None)
def _resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) matrix of one MATLAB bicubic pass, built independently of srgan.

    Output pixel i (0-based) sits at input coordinate (i + 0.5) / scale - 0.5; on downscale the
    kernel is stretched to s W(s x); samples outside [0, in_len) fold back half-sample
    symmetrically (MATLAB's 'symmetric' padding); each row is normalised to sum 1.
    """
    k = min(scale, 1.0)  # kernel scale: antialiasing on downscale only
    matrix = np.zeros((out_len, in_len))
    for i in range(out_len):
        centre = (i + 0.5) / scale - 0.5
        for p in range(math.floor(centre - 2 / k) - 1, math.ceil(centre + 2 / k) + 2):
            q = p % (2 * in_len)
            matrix[i, q if q < in_len else 2 * in_len - 1 - q] += k * _cubic(k * (centre - p))
    return matrix / matrix.sum(axis=1, keepdims=True)


def _reference_resize(image: np.ndarray, scale, output_shape) -> np.ndarray:
    """float64 HxW or HxWxC -> float64, as M_rows @ X @ M_cols^T per channel."""
    h, w = image.shape[:2]
    out_h, out_w = _expected_hw(image.shape, scale, output_shape)
    rows = _resize_matrix(h, out_h, scale if output_shape is None else out_h / h)
    cols = _resize_matrix(w, out_w, scale if output_shape is None else out_w / w)
    return np.einsum("ih,hw...,jw->ij...", rows, image.astype(np.float64), cols)


@fixed(100)
@given(geometry=geometries(), dtype=DTYPES, layout=st.sampled_from(("numpy", "torch")),
       seed=SEEDS)
def test_output_shape_dtype_and_layout(geometry, dtype, layout, seed):
    # ceil(in * scale), or [M N] exactly, in the input's dtype and layout; catches H and W
    # swapped on one pass order (columns first when they shrink more), round() or int()
    # instead of ceil, a lost or extra channel axis.
    shape, scale, output_shape = geometry
    rng = np.random.default_rng(seed)
    image = _image(rng, shape, "noise").astype(dtype)
    out_hw = _expected_hw(shape, scale, output_shape)
    out = imresize(image, scale, output_shape=output_shape)
    assert out.dtype == dtype and out.shape == (*out_hw, *shape[2:])
    if layout == "torch" and len(shape) == 3:
        tensor = torch.from_numpy(image).permute(2, 0, 1)  # (C, H, W)
        out_t = imresize(tensor, scale, output_shape=output_shape)
        assert out_t.dtype == tensor.dtype and out_t.shape == (shape[2], *out_hw)
        assert imresize(tensor[None], scale, output_shape=output_shape).shape == (1, shape[2], *out_hw)


@fixed(100)
@given(geometry=geometries(), dtype=DTYPES, seed=SEEDS)
def test_constant_image_stays_constant(geometry, dtype, seed):
    # Rows of weights must sum to 1 (normalisation, folded border taps, dropped zero taps);
    # uint8 must come back exactly (a truncating cast would give c - 1 from c * 0.99999...).
    shape, scale, output_shape = geometry
    rng = np.random.default_rng(seed)
    value = rng.integers(0, 256) if dtype == np.uint8 else rng.uniform(-1e3, 1e3)
    image = np.full(shape, value, dtype=dtype)
    out = imresize(image, scale, output_shape=output_shape)
    if dtype == np.uint8:
        assert np.all(out == value)
    else:
        np.testing.assert_allclose(out, image.flat[0], rtol=1e-6 if dtype == np.float32 else 1e-12,
                                   atol=1e-9)


@fixed(80)
@given(geometry=geometries(), a=st.floats(-3, 3), seed=SEEDS)
def test_float_resize_is_linear(geometry, a, seed):
    # resize(a x + y) = a resize(x) + resize(y): no clipping to [0, 255], no rounding, no
    # data-dependent weights on the float path (inputs go well outside [0, 255]).
    shape, scale, output_shape = geometry
    rng = np.random.default_rng(seed)
    x, y = _float_image(rng, shape, np.float64), _float_image(rng, shape, np.float64)
    resize = functools.partial(imresize, scale=scale, output_shape=output_shape)
    left, right = resize(a * x + y), a * resize(x) + resize(y)
    np.testing.assert_allclose(left, right, rtol=0, atol=1e-9 * (1 + np.abs(right).max()))


@fixed(100)
@given(geometry=geometries(), seed=SEEDS)
def test_float_matches_dense_matrix_reference(geometry, seed):
    # Against an independent float64 reference (a dense matrix per pass, built above from the
    # pixel-centre mapping): catches a wrong kernel, antialias width, coordinate offset, mirror
    # fold at either border, or a dropped tap column that was not all zero.
    shape, scale, output_shape = geometry
    image = _float_image(np.random.default_rng(seed), shape, np.float64)
    out = imresize(image, scale, output_shape=output_shape)
    np.testing.assert_allclose(out, _reference_resize(image, scale, output_shape), rtol=0,
                               atol=1e-9)


@fixed(50)
@given(h=st.integers(4, 60), w=st.integers(4, 60), seed=SEEDS)
def test_quarter_downscale_matches_the_float64_reference(h, w, seed):
    # The benchmark's operation, imresize(HR, 1/4), against the independent reference: float64
    # to round-off; uint8 within one grey level of the rounded reference (it rounds after each
    # pass; values in [64, 192) keep the overshoot away from the intermediate clip).
    rng = np.random.default_rng(seed)
    image = rng.integers(64, 192, size=(h, w, 3), dtype=np.uint8)
    reference = _reference_resize(image, 0.25, None)  # (ceil(h / 4), ceil(w / 4), 3)
    out = imresize(image.astype(np.float64), 0.25)
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-9)
    diff = imresize(image, 0.25).astype(np.int64) - _round_half_away(reference)
    assert np.abs(diff).max() <= 1


@fixed(80)
@given(geometry=geometries(form="[M N]"), axis=st.sampled_from((0, 1)), seed=SEEDS)
def test_flipping_the_input_flips_the_output(geometry, axis, seed):
    # In the [M N] form the grid is symmetric, so resize commutes with a flip; a half-pixel
    # offset, or a mirror fold that is wrong at one border only, breaks the symmetry.
    shape, _, output_shape = geometry
    image = _float_image(np.random.default_rng(seed), shape, np.float64)
    flipped = imresize(np.flip(image, axis), None, output_shape=output_shape)
    np.testing.assert_allclose(flipped, np.flip(imresize(image, None, output_shape=output_shape),
                                                axis), rtol=0, atol=1e-9)


@fixed(80)
@given(h=st.integers(1, 40), w=st.integers(1, 40), out=st.integers(1, 80),
       keep=st.sampled_from(("rows", "columns")), kind=st.sampled_from(KINDS), seed=SEEDS)
def test_uint8_one_pass_is_the_rounded_clipped_float_result(h, w, out, keep, kind, seed):
    # One dimension keeps its size (an identity pass), so there is a single filtering pass:
    # uint8 must be exactly round-half-away-from-zero and clip of the float result, overshoot
    # and ties included (a half-to-even round or a missing clip shows up here).
    image = _image(np.random.default_rng(seed), (h, w, 3), kind)
    output_shape = (h, out) if keep == "rows" else (out, w)
    float_out = imresize(image.astype(np.float64), None, output_shape=output_shape)
    got = imresize(image, None, output_shape=output_shape)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, _round_half_away(float_out))


@fixed(80)
@given(geometry=geometries(), seed=SEEDS)
def test_uint8_two_passes_are_within_one_level_of_the_float_result(geometry, seed):
    # Two passes: uint8 rounds in between, so it is at most 1 grey level off the rounded float
    # result (intermediate error <= 0.5 * sum|w| < 0.6). Values in [64, 192) keep the cubic
    # overshoot inside [0, 255], so the intermediate clip does not act.
    shape, scale, output_shape = geometry
    image = np.random.default_rng(seed).integers(64, 192, size=shape, dtype=np.uint8)
    float_out = imresize(image.astype(np.float64), scale, output_shape=output_shape)
    diff = imresize(image, scale, output_shape=output_shape).astype(np.int64) - _round_half_away(
        float_out)
    assert np.abs(diff).max() <= 1


@fixed(80)
@given(geometry=geometries(), seed=SEEDS)
def test_float32_is_computed_in_float64(geometry, seed):
    # As documented, the CPU computes every input in float64: float32 in gives exactly the
    # float64 result cast to float32 (a float32 accumulator would differ in the last bits).
    shape, scale, output_shape = geometry
    image = _float_image(np.random.default_rng(seed), shape, np.float32)
    out = imresize(image, scale, output_shape=output_shape)
    assert out.dtype == np.float32
    expected = imresize(image.astype(np.float64), scale, output_shape=output_shape)
    np.testing.assert_array_equal(out, expected.astype(np.float32))


@fixed(60)
@given(geometry=geometries(layouts=(1, 2, 3, 4)), dtype=st.sampled_from([np.uint8, np.float64]),
       seed=SEEDS)
def test_channels_are_resized_independently(geometry, dtype, seed):
    # HxWxC equals C separate HxW resizes, bit for bit, and so do the CxHxW / NxCxHxW tensors;
    # catches channels mixed up by the (H, W, B) packing or the transposed writes.
    shape, scale, output_shape = geometry
    image = _image(np.random.default_rng(seed), shape, "noise").astype(dtype)
    resize = functools.partial(imresize, scale=scale, output_shape=output_shape)
    out = resize(image)
    per_channel = np.stack([resize(image[..., c]) for c in range(shape[2])], axis=-1)
    np.testing.assert_array_equal(out, per_channel)
    batch = torch.from_numpy(np.stack([image, image[::-1, ::-1]])).permute(0, 3, 1, 2)  # (2, C, H, W)
    out_t = resize(batch)
    np.testing.assert_array_equal(out_t[0].permute(1, 2, 0).numpy(), out)
    np.testing.assert_array_equal(out_t[1].numpy(), resize(batch[1]).numpy())


@fixed(60)
@given(geometry=geometries(max_side=48), dtype=st.sampled_from([np.uint8, np.float64]),
       seed=SEEDS)
def test_cpu_loop_equals_torch_path(geometry, dtype, seed):
    # The compiled CPU loop and the torch path other devices run sum the same float64 terms in
    # the same order: identical bits on random shapes (thread blocks, odd sizes, both orders).
    shape, scale, output_shape = geometry
    rng = np.random.default_rng(seed)
    image = _image(rng, shape, "noise").astype(dtype)
    if dtype == np.float64:
        image += rng.random(shape)
    hwc = image if image.ndim == 3 else image[..., None]
    out_hw, scales = _output_geometry(shape[:2], scale, output_shape)
    x = torch.from_numpy(hwc).permute(2, 0, 1)[None].double()  # (1, C, H, W)
    expected = _resize_nchw(x, out_hw, scales, quantize=dtype == np.uint8)[0].permute(1, 2, 0)
    expected = expected.numpy().astype(dtype).reshape(*out_hw, *shape[2:])
    np.testing.assert_array_equal(imresize(image, scale, output_shape=output_shape), expected)
