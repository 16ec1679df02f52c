"""imdiffuse.edges and imdiffuse.scale_space: geometry, quality against Canny, exactness, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import imdiffuse as imd
from imdiffuse.diffusivity import gradient_scale
from imdiffuse.edges import _f_measure, _synthetic_shapes


def _boundary(mask):
    """Pixels of ``mask`` or its complement that touch the other side (face neighbours): both sides."""
    inner = mask & ~ndimage.binary_erosion(mask, border_value=1)
    outer = ~mask & ndimage.binary_dilation(mask)
    return inner | outer


def _within(a, b, tol):
    """Every True pixel of ``a`` is within ``tol`` of a True pixel of ``b``."""
    return bool((ndimage.distance_transform_edt(~b)[a] <= tol).all())


# ------------------------------------------------------------------- edges --


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_noiseless_square_gives_its_boundary(dtype):
    img = np.zeros((48, 48), dtype=dtype)
    img[12:36, 10:30] = 200
    e = imd.edges(img)
    truth = _boundary(img > 0)
    assert e.dtype == bool and e.shape == img.shape
    assert _within(e, truth, 1.0) and _within(truth, e, 1.0)
    # one pixel thin: about one pixel per unit of perimeter, not the two-pixel band
    assert abs(int(e.sum()) - 2 * (24 + 20)) <= 4
    assert not e[14:34, 12:28].any() and not e[:9].any()


def test_noisy_image_edges_near_truth_and_nothing_inside():
    rng = np.random.default_rng(3)
    clean = np.zeros((96, 96))
    yy, xx = np.mgrid[:96, :96]
    disc = (yy - 48) ** 2 + (xx - 45) ** 2 < 30 ** 2
    clean[disc] = 120.0
    noisy = clean + rng.normal(0, 25, clean.shape)
    e = imd.edges(noisy)
    truth = _boundary(disc)
    f, precision, recall = _f_measure(e, truth)
    assert precision > 0.97 and recall > 0.97
    far = e & ~ndimage.binary_dilation(truth, iterations=3)  # false edges in the flat regions
    assert far.sum() <= 0.02 * e.sum()


def test_cube_surface_in_3d():
    vol = np.zeros((24, 28, 26), dtype=np.float32)
    vol[6:18, 8:20, 5:21] = 100.0
    e = imd.edges(vol)
    truth = _boundary(vol > 0)
    assert e.shape == vol.shape
    assert _within(e, truth, 1.0) and _within(truth, e, 1.0)
    # a surface, one voxel thick: about the cube's surface area (12*12 + 12*16 + 12*16) * 2
    area = 2 * (12 * 12 + 12 * 16 + 12 * 16)
    assert 0.8 * area < e.sum() < 1.25 * area
    rng = np.random.default_rng(0)
    e = imd.edges(vol + rng.normal(0, 15, vol.shape).astype(np.float32))
    f, precision, recall = _f_measure(e, truth, tolerance=1.5)
    assert f > 0.95


def test_colour_edges_use_the_joint_gradient():
    """An isoluminant edge (red -> green) is invisible in the channels' sum but found jointly."""
    img = np.zeros((40, 40, 3))
    img[:, :20, 0] = 150.0
    img[:, 20:, 1] = 150.0
    e = imd.edges(img, channel_axis=-1)
    assert e.shape == (40, 40)
    assert e[:, 19:21].any(axis=1).all() and not e[:, :17].any() and not e[:, 23:].any()
    assert not imd.edges(img.sum(axis=-1)).any()
    e0 = imd.edges(np.moveaxis(img, -1, 0), channel_axis=0)
    np.testing.assert_array_equal(e, e0)
    rng = np.random.default_rng(1)
    noisy = img + rng.normal(0, 15, img.shape)
    e = imd.edges(noisy, channel_axis=2)
    # (a few false edges can appear within 3 pixels of the image border, where the
    # reflecting boundary leaves more noise after smoothing)
    assert e[:, 18:22].any(axis=1).mean() > 0.95 and not e[3:-3, 3:15].any()


def test_return_magnitude_in_physical_units():
    y, x = np.mgrid[:20, :30].astype(np.float64)
    ramp = 3.0 * x * 0.5 + 1.0 * y * 2.0  # spacing (2, 0.5): slopes 1 and 3 per unit length
    e, mag = imd.edges(ramp, spacing=(2.0, 0.5), t=0, return_magnitude=True)
    assert mag.dtype == np.float64 and mag.shape == ramp.shape
    np.testing.assert_allclose(mag[1:-1, 1:-1], np.hypot(1.0, 3.0), rtol=1e-12)
    e, mag = imd.edges(ramp.astype(np.uint8), t=0, return_magnitude=True)
    assert mag.dtype == np.float32 and e.dtype == bool


def test_thresholds_given():
    img = np.zeros((32, 32)); img[8:24, 8:24] = 100.0
    _, mag = imd.edges(img, t=0, return_magnitude=True)
    assert not imd.edges(img, t=0, low=0.0, high=float(mag.max()) * 1.01).any()
    assert imd.edges(img, t=0, high=float(mag.max())).sum() == imd.edges(img, t=0).sum()
    # a single given threshold keeps the rule's ratio for the other
    assert imd.edges(img, t=0, low=1.0).sum() == imd.edges(img, t=0).sum()


@pytest.mark.parametrize("method", ["perona_malik", "eed", "heat"])
def test_every_method_finds_a_step(method):
    rng = np.random.default_rng(2)
    img = np.zeros((48, 48)); img[:, 24:] = 100.0
    e = imd.edges(img + rng.normal(0, 10, img.shape), method=method)
    assert e[:, 22:26].any(axis=1).mean() > 0.95  # Canny-style NMS may leave a one-pixel gap
    assert not e[3:-3, 3:20].any() and not e[3:-3, 28:-3].any()
    assert e[:, 20:28].sum() < 1.25 * 48  # about one pixel per row


@pytest.mark.slow
def test_default_edges_beat_tuned_canny_on_noisy_synthetic_set():
    """The benchmark's claim on a small version of its set: default edges() > Canny tuned on these very images."""
    from skimage.feature import canny

    cases = []
    for k, sigma in enumerate((25.0, 50.0)):
        clean, truth = _synthetic_shapes(2000 + k, shape=(160, 160))
        noisy = clean + np.random.default_rng(k).normal(0, sigma, clean.shape)
        cases.append((noisy, truth))
    ours = np.mean([_f_measure(imd.edges(noisy), truth)[0] for noisy, truth in cases])
    best = 0.0
    for s in (1.0, 1.5, 2.0, 2.5, 3.0):
        for hi in (0.8, 0.85, 0.9, 0.94, 0.97):
            f = np.mean([_f_measure(canny(noisy, s, hi - 0.1, hi, use_quantiles=True), truth)[0]
                         for noisy, truth in cases])
            best = max(best, f)
    assert ours > best, (ours, best)


# ------------------------------------------------------------- scale_space --


def test_scale_space_heat_equals_direct_calls():
    rng = np.random.default_rng(4)
    img = rng.normal(100, 20, (40, 36)).astype(np.float32)
    times = [0.0, 0.5, 2.0, 4.5]
    stack = imd.scale_space(img, times, model="heat")
    assert stack.shape == (4, 40, 36) and stack.dtype == np.float32
    np.testing.assert_array_equal(stack[0], img)
    for k, t in enumerate(times[1:], 1):
        np.testing.assert_array_equal(stack[k], imd.heat(img, t))
    # PDE scheme: times on the explicit step grid (0.25 in 2-D) give the direct call's steps
    img64 = img.astype(np.float64)
    stack = imd.scale_space(img64, [1.0, 2.5, 4.0], model="heat", scheme="explicit")
    for k, t in enumerate([1.0, 2.5, 4.0]):
        ref = imd.heat(img64, t, scheme="explicit")
        assert np.abs(stack[k] - ref).max() <= 1e-6 * np.abs(ref).max()


def test_scale_space_perona_malik_explicit_equals_direct_calls():
    rng = np.random.default_rng(5)
    img = np.zeros((48, 48)); img[12:36, 12:36] = 100.0
    img += rng.normal(0, 10, img.shape)
    times = [0.5, 1.75, 5.0]
    stack = imd.scale_space(img, times, model="perona_malik")  # kappa="auto", sigma=0 -> explicit
    for k, t in enumerate(times):
        ref = imd.perona_malik(img, t)
        assert np.abs(stack[k] - ref).max() <= 1e-6 * np.abs(ref).max()
    # 3-D with channels and a fixed kappa
    vol = rng.normal(50, 10, (10, 12, 14, 2))
    stack = imd.scale_space(vol, [1.0 / 3, 1.0], model="perona_malik", kappa=8.0, channel_axis=-1,
                            diffusivity="exponential")
    ref = imd.perona_malik(vol, 1.0, kappa=8.0, channel_axis=-1, diffusivity="exponential")
    assert stack.shape == (2,) + vol.shape
    assert np.abs(stack[1] - ref).max() <= 1e-6 * np.abs(ref).max()


@pytest.mark.parametrize("model, options, tol", [("perona_malik", {"sigma": 1.0}, 0.02), ("eed", {}, 0.04)])
def test_scale_space_fed_close_to_direct_calls(model, options, tol):
    rng = np.random.default_rng(6)
    img = np.zeros((48, 48)); img[10:30, 14:40] = 100.0
    img += rng.normal(0, 10, img.shape)
    times = [2.0, 6.0, 12.0]
    stack = imd.scale_space(img, times, model=model, **options)
    func = imd.perona_malik if model == "perona_malik" else imd.edge_enhancing
    kappa = gradient_scale(img[None, None], (1.0, 1.0, 1.0))
    for k, t in enumerate(times):
        ref = func(img, t, kappa=kappa, **options)
        assert np.abs(stack[k] - ref).max() <= tol * np.ptp(img)
    # and it is a real scale space: smoother and smoother
    tv = [np.abs(np.diff(s, axis=1)).sum() for s in stack]
    assert tv[0] > tv[1] > tv[2]


# ------------------------------------------------------------------ errors --


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(method="sobel"), ValueError, "method must be one of"),
    (dict(sigma=0.0), ValueError, "sigma must be"),
    (dict(low=-1.0), ValueError, "low must be"),
    (dict(low=5.0, high=2.0), ValueError, "low must be <= high"),
    (dict(return_magnitude=1), TypeError, "return_magnitude must be True or False"),
    (dict(t=-1.0), ValueError, "t must be"),
    (dict(spacing=(1.0, 0.0)), ValueError, "spacing"),
    (dict(channel_axis=3), ValueError, "channel_axis"),
])
def test_edges_bad_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        imd.edges(np.zeros((16, 16)), **kwargs)


def test_edges_bad_images():
    with pytest.raises(TypeError, match="image"):
        imd.edges(np.zeros((8, 8), dtype=bool))
    with pytest.raises(ValueError, match="image must be 2-D or 3-D"):
        imd.edges(np.zeros(8))
    with pytest.raises(ValueError, match="finite"):
        imd.edges(np.full((8, 8), np.nan))


@pytest.mark.parametrize("times, match", [
    ([1.0, 1.0], "strictly increasing"),
    ([2.0, 1.0], "strictly increasing"),
    ([-1.0, 1.0], ">= 0"),
    ([0.0, np.inf], "finite"),
    ([], "empty"),
    ([[1.0, 2.0]], "1-D"),
    (3.0, "1-D"),
    ("1,2", "1-D"),
])
def test_scale_space_bad_times(times, match):
    with pytest.raises(ValueError, match=match):
        imd.scale_space(np.zeros((8, 8)), times)


def test_scale_space_bad_model_and_options():
    img = np.zeros((8, 8))
    with pytest.raises(ValueError, match="model must be one of"):
        imd.scale_space(img, [1.0], model="tv")
    with pytest.raises(TypeError, match="unknown option.*'rho'"):
        imd.scale_space(img, [1.0], model="perona_malik", rho=2.0)
    with pytest.raises(TypeError, match="unknown option.*'kappa'"):
        imd.scale_space(img, [1.0], model="heat", kappa=2.0)
    with pytest.raises(ValueError, match="kappa must be"):
        imd.scale_space(img, [1.0], kappa=-2.0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        imd.scale_space(img, [1.0], model="eed", scheme="magic")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=-10, max_value=10, allow_nan=False), min_size=2, max_size=5))
def test_scale_space_rejects_any_non_increasing_or_negative_times(times):
    bad = any(t < 0 for t in times) or any(b <= a for a, b in zip(times, times[1:]))
    if bad:
        with pytest.raises(ValueError, match="times must"):
            imd.scale_space(np.zeros((6, 6)), times, model="heat")
    else:
        assert imd.scale_space(np.zeros((6, 6)), times, model="heat").shape == (len(times), 6, 6)


# --------------------------------------------------------------------- CLI --


def test_cli_edges(tmp_path):
    import os
    import subprocess
    import sys

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "imdiffuse.cli", *map(str, args)], capture_output=True,
                              text=True, env={**os.environ, "IMDIFFUSE_DEBUG": ""})
        return proc.returncode, proc.stdout, proc.stderr

    img = np.zeros((40, 40), dtype=np.uint8)
    img[10:30, 12:28] = 180
    src = tmp_path / "square.png"
    imd.io.write(src, img)
    code, out, err = run("edges", src, "-o", tmp_path / "e.png")
    assert code == 0, err
    written = imd.io.read(tmp_path / "e.png").data
    assert written.dtype == np.uint8 and set(np.unique(written)) == {0, 255}
    np.testing.assert_array_equal(written == 255, imd.edges(img))
    assert f"{int(imd.edges(img).sum())} edge pixels" in out
    code, _, err = run("edges", src, "-o", tmp_path / "m.tif", "--magnitude", "--method", "heat")
    assert code == 0, err
    mag = imd.io.read(tmp_path / "m.tif").data
    assert mag.dtype == np.float32 and mag.shape == img.shape
    np.testing.assert_allclose(mag, imd.edges(img, method="heat", return_magnitude=True)[1], rtol=1e-6)
    code, _, err = run("edges", src, "-o", tmp_path / "x.png", "--low", "5", "--high", "2")
    assert code != 0 and "low must be <= high" in err and "Traceback" not in err
    code, _, err = run("edges", src, "-o", tmp_path / "e.png")
    assert code == 1 and "exists" in err
