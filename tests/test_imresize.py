"""Tests for srgan.imresize: MATLAB-exact bicubic resize and modcrop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from srgan.imresize import _output_geometry, _resize_nchw, imresize, modcrop

# Offline benchmark images beside the checkout (../shared/data, see its README.md).
SHARED_DATA = Path(os.environ.get("SRGAN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                reason=f"benchmark data not found at {SHARED_DATA} "
                                       "(set SRGAN_SHARED_DATA)")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


def _names(dataset: str, limit: int | None = None) -> list[str]:
    if not SHARED_DATA.is_dir():
        return []
    return sorted(p.name for p in (SHARED_DATA / dataset / "HR").glob("*.png"))[:limit]


def _load_pair(dataset: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR_x4) as uint8 HxWx3; grayscale (Set14 ``bridge``) is stacked to 3 channels."""
    from PIL import Image

    def load(sub: str) -> np.ndarray:
        with Image.open(SHARED_DATA / dataset / sub / name) as im:
            return np.asarray(im.convert("RGB"))

    return load("HR"), load("LR_x4")


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """Reference rounding for uint8 outputs: half away from zero, then clip to [0, 255]."""
    floor = np.floor(x)
    return np.clip(floor + (x - floor >= 0.5), 0, 255).astype(np.uint8)


# --- golden tests against MATLAB-made LR images ----------------------------------------------

@needs_data
@pytest.mark.parametrize("name", _names("Set5"))
def test_set5_matches_matlab_exactly(name):
    # Source: ../shared/data/Set5/LR_x4, the EDSR benchmark's MATLAB imresize(HR, 1/4,
    # 'bicubic') output (SwinIR copy, testsets/Set5/LR_bicubic/X4); every pixel must match.
    hr, lr = _load_pair("Set5", name)
    out = imresize(modcrop(hr, 4), 0.25)
    assert out.dtype == np.uint8 and out.shape == lr.shape
    assert np.count_nonzero(out != lr) == 0


@needs_data
@pytest.mark.parametrize("dataset,name",
                         [("Set14", n) for n in _names("Set14")]
                         + [("BSD100", n) for n in _names("BSD100", 10)]
                         + [("Urban100", n) for n in _names("Urban100", 5)])
def test_selfexsr_matches_matlab_inside_border(dataset, name):
    # Source: ../shared/data/<set>/LR_x4 from jbhuang0604/SelfExSR. It uses MATLAB's kernel and
    # per-pass uint8 rounding but replicate edge padding, so it agrees with MATLAB imresize
    # everywhere except the outer 2 LR pixels (see ../shared/data/README.md).
    hr, lr = _load_pair(dataset, name)
    out = imresize(modcrop(hr, 4), 0.25)
    assert out.shape == lr.shape
    assert np.count_nonzero(out[2:-2, 2:-2] != lr[2:-2, 2:-2]) == 0


# --- API, dtypes and layouts --------------------------------------------------------------------

@pytest.fixture
def image_u8() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_numpy_dtype_and_layout_preserved(image_u8, dtype):
    image = image_u8.astype(dtype)
    out = imresize(image, 0.5)
    assert out.dtype == dtype and out.shape == (19, 27, 3)
    assert imresize(image[..., 0], 0.5).shape == (19, 27)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_torch_dtype_and_layout_preserved(image_u8, dtype):
    image = torch.from_numpy(image_u8).permute(2, 0, 1).to(dtype)  # (3, 37, 53)
    out = imresize(image, 0.25)
    assert out.dtype == dtype and out.shape == (3, 10, 14)
    assert imresize(image[None], 0.25).shape == (1, 3, 10, 14)


@pytest.mark.parametrize("scale,expected", [(0.25, (10, 14)), (0.5, (19, 27)), (4, (148, 212)),
                                            (1 / 3, (13, 18)), (2.5, (93, 133))])
def test_output_size_is_ceil(image_u8, scale, expected):
    assert imresize(image_u8, scale).shape == (*expected, 3)


def test_output_shape_matches_scale_form():
    image = np.random.default_rng(1).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(imresize(image, None, output_shape=(10, 12)),
                                  imresize(image, 0.25))
    assert imresize(image, None, output_shape=(17, 100)).shape == (17, 100, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
@pytest.mark.parametrize("scale", [0.25, 4])
def test_layouts_agree(image_u8, dtype, scale):
    image = image_u8.astype(dtype)
    hwc = imresize(image, scale)  # (H, W, 3)
    per_channel = np.stack([imresize(image[..., c], scale) for c in range(3)], axis=-1)
    nchw = imresize(torch.from_numpy(image).permute(2, 0, 1)[None], scale)
    np.testing.assert_array_equal(hwc, per_channel)
    np.testing.assert_array_equal(hwc, nchw[0].permute(1, 2, 0).numpy())


def test_batched_equals_per_image():
    batch = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (4, 3, 24, 20),
                                                                dtype=np.uint8))
    out = imresize(batch, 0.25)  # (4, 3, 6, 5)
    assert out.shape == (4, 3, 6, 5)
    for i in range(4):
        assert torch.equal(out[i], imresize(batch[i], 0.25))


def test_non_contiguous_and_read_only_numpy(image_u8):
    expected = imresize(np.ascontiguousarray(image_u8[:, ::-1]), 0.25)
    np.testing.assert_array_equal(imresize(image_u8[:, ::-1], 0.25), expected)
    frozen = image_u8.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(imresize(frozen, 0.25), imresize(image_u8, 0.25))


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
@pytest.mark.parametrize("scale", [0.25, 0.5, 3, 4])
def test_constant_image_stays_constant(dtype, scale):
    image = np.full((21, 30, 3), 117, dtype=dtype)
    out = imresize(image, scale)
    np.testing.assert_allclose(out, 117, rtol=0, atol=1e-12 if dtype == np.float64 else 0)


def test_single_pass_float_then_round_equals_uint8(image_u8):
    # Rows keep their size (identity pass), so only the column pass filters: the uint8 path
    # must equal the float path rounded half away from zero and clipped.
    float_out = imresize(image_u8.astype(np.float64), None, output_shape=(37, 14))
    np.testing.assert_array_equal(imresize(image_u8, None, output_shape=(37, 14)),
                                  _round_half_away(float_out))


@pytest.mark.parametrize("scale", [0.25, 4])
def test_float_and_uint8_paths_differ_only_by_rounding(scale):
    # Two passes: the uint8 path also rounds between them, so it may differ from the rounded
    # float result by at most one grey level (on ~10-20% of pixels for noise). Values in [64, 192) keep the cubic overshoot
    # inside [0, 255], so the intermediate clip does not act.
    image = np.random.default_rng(3).integers(64, 192, size=(37, 53, 3), dtype=np.uint8)
    float_out = imresize(image.astype(np.float64), scale)
    diff = imresize(image, scale).astype(np.int64) - _round_half_away(float_out)
    assert np.abs(diff).max() <= 1  # intermediate error <= 0.5 * sum|w| < 0.6, then rounding


def test_rounds_half_away_from_zero():
    # A 2x upscale has dyadic weights (multiples of 1/128), so integer inputs give exact .5
    # ties; on ties with an even floor, half-to-even (numpy/torch round) would round down.
    image = np.random.default_rng(0).integers(0, 256, size=(16, 32), dtype=np.uint8)
    float_out = imresize(image.astype(np.float64), None, output_shape=(16, 64))  # one pass
    floor = np.floor(float_out)
    even_ties = (float_out - floor == 0.5) & (floor % 2 == 0) & (floor >= 0) & (floor < 255)
    assert even_ties.sum() >= 3
    out = imresize(image, None, output_shape=(16, 64))
    np.testing.assert_array_equal(out[even_ties], floor[even_ties] + 1)


# --- the compiled CPU loop against the torch path (what other devices run) ----------------------

def _torch_path(image: np.ndarray, scale: float | None,
                output_shape: tuple[int, int] | None = None) -> np.ndarray:
    """srgan's device path, run on the CPU in float64: (H, W, C) -> (H', W', C), same dtype."""
    out_hw, scales = _output_geometry(image.shape[:2], scale, output_shape)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].double()
    y = _resize_nchw(x, out_hw, scales, quantize=image.dtype == np.uint8)
    return y[0].permute(1, 2, 0).numpy().astype(image.dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
@pytest.mark.parametrize("shape,scale,output_shape", [
    ((37, 53, 3), 0.25, None), ((37, 53, 3), 1 / 3, None), ((40, 41, 2), 0.5, None),
    ((37, 53, 3), 4, None), ((37, 53, 3), 2.5, None), ((9, 7, 1), 0.25, None),
    ((37, 53, 3), None, (30, 10)),  # columns shrink more: the column pass runs first
    ((37, 53, 3), None, (12, 60)),  # rows down, columns up
])
def test_cpu_loop_equals_torch_path(dtype, shape, scale, output_shape):
    # The same float64 sums in the same order: identical bits, uint8 and float alike (an FMA
    # or a reordered sum in the compiled loop would show up here as last-bit differences).
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, size=shape).astype(dtype)
    if dtype == np.float64:
        image += rng.random(shape)
    out = imresize(image, scale, output_shape=output_shape)
    expected = _torch_path(image, scale, output_shape)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_cpu_loop_gives_the_same_bits_on_any_thread_count(image_u8):
    large = np.tile(image_u8, (4, 4, 1))  # 148 x 212: enough rows for several threads
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(imresize(large, 0.25))
    finally:
        torch.set_num_threads(before)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_strided_views_are_read_in_place_and_right(image_u8):
    expected = imresize(np.ascontiguousarray(image_u8[:36, :52]), 0.25)
    np.testing.assert_array_equal(imresize(modcrop(image_u8, 4), 0.25), expected)  # a view
    np.testing.assert_array_equal(imresize(image_u8[::-1], 0.25),
                                  imresize(np.ascontiguousarray(image_u8[::-1]), 0.25))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors_on_cpu(image_u8, dtype):
    image = torch.from_numpy(image_u8).permute(2, 0, 1).to(dtype)
    out = imresize(image, 0.25)
    assert out.dtype == dtype and out.shape == (3, 10, 14)
    torch.testing.assert_close(out.double(), imresize(image.double(), 0.25).to(dtype).double())
    half = imresize(image_u8.astype(np.float16), 0.25)
    assert half.dtype == np.float16 and half.shape == (10, 14, 3)


def test_requires_grad_keeps_autograd(image_u8):
    image = torch.from_numpy(image_u8).permute(2, 0, 1).double().requires_grad_()
    out = imresize(image, 0.5)
    out.sum().backward()
    assert image.grad is not None and image.grad.shape == image.shape
    torch.testing.assert_close(out.detach(), imresize(image.detach(), 0.5), rtol=0, atol=1e-9)


def _resize_in_child(queue) -> None:
    image = np.random.default_rng(5).integers(0, 256, size=(96, 64, 3), dtype=np.uint8)
    queue.put(imresize(image, 0.25))


def test_forked_child_can_resize_after_parent_did():
    # A forked child (a DataLoader worker, say) gets no threads of the parent's pool; resizing
    # there must not hang on that dead pool nor abort as numba's OpenMP layer would.
    import multiprocessing

    image = np.random.default_rng(5).integers(0, 256, size=(96, 64, 3), dtype=np.uint8)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = imresize(image, 0.25)  # the parent's pool now has a thread
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_resize_in_child, args=(queue,))
        child.start()
        out = queue.get(timeout=120)
        child.join(timeout=60)
    finally:
        torch.set_num_threads(before)
    assert child.exitcode == 0
    np.testing.assert_array_equal(out, expected)


# --- errors ---------------------------------------------------------------------------------------

def test_rejects_bad_dtype():
    with pytest.raises(ValueError, match="uint8 or floating point, got int32"):
        imresize(np.zeros((8, 8), dtype=np.int32), 0.5)
    with pytest.raises(ValueError, match="uint8 or floating point, got torch.int64"):
        imresize(torch.zeros(1, 8, 8, dtype=torch.int64), 0.5)


def test_rejects_bad_layout():
    with pytest.raises(ValueError, match=r"HxW or HxWxC, got shape \(2, 8, 8, 3\)"):
        imresize(np.zeros((2, 8, 8, 3), dtype=np.uint8), 0.5)
    with pytest.raises(ValueError, match=r"CxHxW or NxCxHxW, got shape \(8, 8\)"):
        imresize(torch.zeros(8, 8), 0.5)
    with pytest.raises(TypeError, match="got list"):
        imresize([[1, 2], [3, 4]], 0.5)


@pytest.mark.parametrize("scale", [0, -0.25, float("nan"), float("inf"), None])
def test_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale must be a positive finite number"):
        imresize(np.zeros((8, 8), dtype=np.uint8), scale)


@pytest.mark.parametrize("shape", [(0, 4), (4,), (2.5, 4)])
def test_rejects_bad_output_shape(shape):
    with pytest.raises(ValueError, match="output_shape must be two positive ints"):
        imresize(np.zeros((8, 8), dtype=np.uint8), None, output_shape=shape)


def test_modcrop():
    image = np.arange(10 * 13 * 3).reshape(10, 13, 3)
    out = modcrop(image, 4)
    assert out.shape == (8, 12, 3)
    np.testing.assert_array_equal(out, image[:8, :12])
    assert modcrop(image[..., 0], 5).shape == (10, 10)
    with pytest.raises(ValueError, match="positive int, got 0"):
        modcrop(image, 0)
    with pytest.raises(ValueError, match="smaller than scale 16"):
        modcrop(image, 16)


# --- CUDA -------------------------------------------------------------------------------------

@needs_cuda
def test_cuda_matches_cpu(image_u8):
    cpu = torch.from_numpy(image_u8).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)  # (2, 3, 37, 53)
    for scale in (0.25, 4):
        out = imresize(cpu.cuda(), scale)
        assert out.is_cuda and out.dtype == torch.uint8
        assert torch.equal(out.cpu(), imresize(cpu, scale))  # uint8: float64 on GPU, exact
        out32 = imresize(cpu.float().cuda(), scale)  # float32 on GPU
        assert out32.is_cuda and out32.dtype == torch.float32
        torch.testing.assert_close(out32.cpu(), imresize(cpu.double(), scale).float(),
                                   rtol=0, atol=1e-3)


def test_speed_benchmark_runs_and_ends_with_its_ratio(tmp_path):
    # Smoke test only (speed is never asserted in tests): the benchmark checks pixel equality
    # of all four implementations itself and must end with its `ratio: N.NN` line.
    import re
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "imresize_speed.py"
    run = subprocess.run([sys.executable, str(script), "--images", str(tmp_path / "none"),
                          "--repeat", "1", "--threads", "1"],
                         capture_output=True, text=True, timeout=300, check=True)
    lines = run.stdout.strip().splitlines()
    assert "all outputs pixel-equal" in run.stdout
    assert re.fullmatch(r"ratio: \d+\.\d\d", lines[-1])
