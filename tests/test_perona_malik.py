"""imdiffuse.perona_malik: limits, conservation, maximum principle, peers, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imdiffuse as imd
from imdiffuse.diffusivity import DIFFUSIVITIES, diffusivity, estimate_kappa

DIFFS = tuple(DIFFUSIVITIES)
SCHEMES = ("explicit", "fed", "aos")


@pytest.fixture(scope="module")
def noisy():
    from skimage import data

    img = data.camera()[128:320, 128:352].astype(np.float32)
    return img + np.random.default_rng(0).normal(0, 20, img.shape).astype(np.float32)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_linear_limit_is_heat(noisy, scheme):
    """kappa -> infinity: g = 1 and Perona-Malik is the heat equation, step for step."""
    n = {"explicit": None, "fed": 5, "aos": 12}[scheme]
    for diff in DIFFS:
        u = imd.perona_malik(noisy, 3.0, kappa=1e12, diffusivity=diff, scheme=scheme, n_steps=n)
        v = imd.heat(noisy, 3.0, scheme=scheme, n_steps=n)
        np.testing.assert_allclose(u, v, atol=1e-3)


def test_same_step_as_medpy_option_2_and_1(noisy):
    medpy = pytest.importorskip("medpy.filter.smoothing")
    for option, diff in ((1, "exponential"), (2, "rational")):
        m = medpy.anisotropic_diffusion(noisy, niter=5, kappa=25.0, gamma=0.2, option=option)
        u = imd.perona_malik(noisy, 1.0, kappa=25.0, diffusivity=diff, scheme="explicit", n_steps=5)
        assert np.abs(u - m).max() <= 1e-4 * np.abs(m).max()
    vol = np.random.default_rng(1).normal(100, 20, (12, 14, 16)).astype(np.float32)
    m = medpy.anisotropic_diffusion(vol, niter=3, kappa=30.0, gamma=0.15, option=2)
    u = imd.perona_malik(vol, 0.45, kappa=30.0, scheme="explicit", n_steps=3)
    assert np.abs(u - m).max() <= 1e-4 * np.abs(m).max()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("diff", DIFFS)
def test_mean_preserved_and_no_new_extrema(noisy, scheme, diff):
    for sigma in (0.0, 1.5):
        u = imd.perona_malik(noisy, 15.0, kappa=20.0, diffusivity=diff, sigma=sigma, scheme=scheme)
        np.testing.assert_allclose(u.mean(dtype=np.float64), noisy.mean(dtype=np.float64), rtol=1e-5)
        tol = 1e-3 if scheme != "fed" else 1e-3 * (noisy.max() - noisy.min())
        assert u.min() >= noisy.min() - tol and u.max() <= noisy.max() + tol


@pytest.mark.parametrize("scheme", SCHEMES)
def test_rotation_commutes(noisy, scheme):
    img = noisy[:, :150]
    for k in (1, 2):
        a = imd.perona_malik(np.rot90(img, k), 5.0, kappa=15.0, sigma=1.0, scheme=scheme)
        b = np.rot90(imd.perona_malik(img, 5.0, kappa=15.0, sigma=1.0, scheme=scheme), k)
        np.testing.assert_allclose(a, b, atol=2e-3)


def test_edge_kept_noise_removed():
    rng = np.random.default_rng(3)
    clean = np.zeros((80, 80), np.float32)
    clean[:, 40:] = 100
    noisy = clean + rng.normal(0, 8, clean.shape).astype(np.float32)
    u = imd.perona_malik(noisy, 20.0)  # kappa auto
    h = imd.heat(noisy, 20.0)
    assert np.abs(u - clean).mean() < 0.5 * np.abs(noisy - clean).mean()
    # the edge stays sharp where the heat equation blurs it
    assert u[:, 41].mean() - u[:, 38].mean() > 85
    assert h[:, 41].mean() - h[:, 38].mean() < 60


@pytest.mark.parametrize("scheme", SCHEMES)
def test_stable_t1000_3d_anisotropic_spacing(scheme):
    vol = imd.data.phantom3d((16, 20, 24), noise=20.0, seed=0)
    for diff in DIFFS:
        u = imd.perona_malik(vol, 1000.0, kappa=5.0, diffusivity=diff, scheme=scheme, spacing=(1, 1, 0.3))
        assert np.isfinite(u).all()
        assert u.min() >= vol.min() - 0.5 and u.max() <= vol.max() + 0.5
        np.testing.assert_allclose(u.mean(dtype=np.float64), vol.mean(dtype=np.float64), rtol=1e-4)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_spacing_consistent_with_resampled(scheme):
    z, y, x = np.meshgrid(np.arange(10.0), np.arange(16.0), np.arange(61.0), indexing="ij")
    fine = 100 + 60 * np.tanh((x - 30) / 6) + 20 * np.cos(np.pi * y / 15)
    coarse = fine[..., ::3]
    kw = dict(kappa=8.0, scheme=scheme, n_steps=None if scheme == "explicit" else 40)
    a = imd.perona_malik(fine, 4.0, **kw)[..., ::3]
    b = imd.perona_malik(coarse, 4.0, spacing=(1, 1, 3), **kw)
    assert np.abs(a - b).max() < 0.02 * (fine.max() - fine.min())


def test_channels_joint_and_order_invariant(noisy):
    rgb = np.stack([noisy, noisy[::-1], 0.5 * noisy], axis=-1)
    u = imd.perona_malik(rgb, 5.0, kappa=20.0, channel_axis=-1)
    v = imd.perona_malik(rgb[..., ::-1], 5.0, kappa=20.0, channel_axis=-1)[..., ::-1]
    np.testing.assert_allclose(u, v, atol=1e-4)
    w = imd.perona_malik(np.moveaxis(rgb, -1, 0), 5.0, kappa=20.0, channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(w, 0, -1), u, atol=1e-4)
    # joint: identical channels diffuse like one channel with the summed gradient
    two = np.stack([noisy, noisy], axis=-1)
    j = imd.perona_malik(two, 5.0, kappa=20.0 * np.sqrt(2), channel_axis=-1)
    np.testing.assert_allclose(j[..., 0], imd.perona_malik(noisy, 5.0, kappa=20.0), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(kappa=0), ValueError, r'kappa must be a finite number > 0 or "auto", got 0.0'),
        (dict(kappa=-3.0), ValueError, r'kappa must be a finite number > 0 or "auto", got -3.0'),
        (dict(kappa="big"), ValueError, r'kappa must be a number > 0 or "auto"'),
        (dict(diffusivity="huber"), ValueError, "diffusivity must be one of 'exponential', 'rational'"),
        (dict(sigma=-1.0), ValueError, "sigma must be a finite number >= 0"),
        (dict(scheme="exact"), ValueError, "scheme must be one of 'auto', 'explicit', 'fed', 'aos'"),
        (dict(channel_axis=3), ValueError, "channel_axis"),
        (dict(kapa=3), TypeError, "unexpected keyword"),
    ],
)
def test_bad_options(kwargs, err, match):
    with pytest.raises(err, match=match):
        imd.perona_malik(np.zeros((8, 9)), 1.0, **kwargs)


def test_bad_images_and_t():
    with pytest.raises(ValueError, match="t must be a finite number >= 0"):
        imd.perona_malik(np.zeros((8, 9)), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        imd.perona_malik(np.array([[np.nan, 1.0], [1.0, 1.0]]), 1.0)


def test_kappa_auto_scales_with_intensity(noisy):
    """kappa="auto" is in intensity units: scaling the image scales the result."""
    u = imd.perona_malik(noisy, 5.0)
    v = imd.perona_malik(noisy * 10.0, 5.0)
    np.testing.assert_allclose(v, 10.0 * u, rtol=1e-4, atol=1e-3)
    assert estimate_kappa(noisy * 10.0) == pytest.approx(10.0 * estimate_kappa(noisy), rel=1e-6)


def test_constant_image_and_dtype():
    for dtype, out in ((np.uint8, np.float32), (np.float64, np.float64), (np.int16, np.float32)):
        img = np.full((6, 7), 9, dtype)
        u = imd.perona_malik(img, 3.0)
        assert u.dtype == out
        np.testing.assert_allclose(u, 9.0)


def test_diffusivities_in_unit_interval_and_monotone():
    s = np.concatenate([[0.0], np.logspace(-4, 4, 200)])
    for name in DIFFS:
        g = diffusivity(s, 1.0, name)
        assert g[0] == 1.0 and (g >= 0).all() and (g <= 1).all()
        assert (np.diff(g) <= 1e-15).all()


def test_kernel_diffusivities_match_reference():
    """The Numba diffusivities equal the NumPy formulas of imdiffuse.diffusivity."""
    from imdiffuse import _kernels

    s = np.concatenate([[0.0], np.logspace(-3, 3, 101)])
    for name, code in DIFFUSIVITIES.items():
        buf = s.copy()
        _kernels.apply_diffusivity(buf, len(buf), code, 2.0**2)
        np.testing.assert_allclose(buf, diffusivity(s, 2.0, name), rtol=1e-12, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(5, 6), (1, 9), (4, 1), (3, 4, 5), (2, 1, 7)]),
    t=st.floats(0, 50),
    kappa=st.floats(0.01, 1e4),
    diff=st.sampled_from(DIFFS),
    scheme=st.sampled_from(SCHEMES),
    seed=st.integers(0, 2**16),
)
def test_invariants_hypothesis(shape, t, kappa, diff, scheme, seed):
    img = np.random.default_rng(seed).normal(0, 100, shape)
    u = imd.perona_malik(img, t, kappa=kappa, diffusivity=diff, scheme=scheme)
    assert u.shape == shape and u.dtype == np.float64 and np.isfinite(u).all()
    np.testing.assert_allclose(u.mean(), img.mean(), atol=1e-9 * (1 + np.abs(img).max()))
    slack = 1e-9 if scheme != "fed" else 0.02 * (img.max() - img.min())
    assert u.min() >= img.min() - slack and u.max() <= img.max() + slack


@pytest.mark.parametrize("scheme", ["explicit", "fed", "aos"])
def test_stop_when_ends_the_diffusion_early(noisy, scheme):
    """stop_when(u, t_done) -> True ends the run after that step/cycle, as if t had been t_done."""
    seen = []

    def stop_when(u, t_done):
        assert u.ndim == 4 and np.isfinite(u).all()
        seen.append(t_done)
        return len(seen) == 3

    u = imd.perona_malik(noisy, 2.0, kappa=10.0, scheme=scheme, n_steps=10, stop_when=stop_when)
    assert len(seen) == 3
    np.testing.assert_allclose(seen[-1], 0.6)
    v = imd.perona_malik(noisy, 2.0, kappa=10.0, scheme=scheme, n_steps=10)
    assert not np.allclose(u, v)
    if scheme != "fed":  # explicit/AOS steps of t/10: three of them are the run to t = 0.6 in 3 steps
        np.testing.assert_array_equal(u, imd.perona_malik(noisy, 0.6, kappa=10.0, scheme=scheme, n_steps=3))
