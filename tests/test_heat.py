"""imdiffuse.heat: analytic solutions, conservation, maximum principle, spacing, channels."""

import numpy as np
import pytest
from scipy import ndimage

import imdiffuse as imd
from conftest import spectral_heat

PDE = ("explicit", "fed", "aos")
ALL = ("exact",) + PDE


@pytest.mark.parametrize("t", [0.5, 2.0, 12.5])
@pytest.mark.parametrize("spacing", [None, (0.5, 2.0)])
def test_exact_is_scipy_gaussian(camera, t, spacing):
    h = (1.0, 1.0) if spacing is None else spacing
    sigma = [np.sqrt(2 * t) / hi for hi in h]
    ref = ndimage.gaussian_filter(camera, sigma, mode="reflect", truncate=5.0)
    np.testing.assert_allclose(imd.heat(camera, t, spacing=spacing), ref, rtol=0, atol=1e-10)
    assert imd.heat(camera, t, scheme="auto", spacing=spacing).tobytes() == imd.heat(camera, t, scheme="exact", spacing=spacing).tobytes()


def test_exact_matches_continuous_gaussian_of_impulse():
    img = np.zeros((81, 81))
    img[40, 40] = 1.0
    t = 6.0
    y, x = np.mgrid[-40:41, -40:41]
    analytic = np.exp(-(x**2 + y**2) / (4 * t)) / (4 * np.pi * t)
    np.testing.assert_allclose(imd.heat(img, t), analytic, atol=2e-4 * analytic.max())


@pytest.mark.parametrize("scheme", PDE)
@pytest.mark.parametrize("t", [1.0, 10.0])
def test_pde_schemes_match_semidiscrete_solution(camera, scheme, t):
    ref = spectral_heat(camera, t)
    n = {"explicit": int(4 * t / 0.25), "fed": 64, "aos": 256}[scheme]
    u = imd.heat(camera, t, scheme=scheme, n_steps=n)
    assert np.abs(u - ref).max() < 0.02 * 255


@pytest.mark.parametrize("scheme", PDE)
def test_pde_converges_to_gaussian_on_fine_grids(scheme):
    """Refining the grid, the PDE solution approaches the continuous Gaussian (2nd order in h)."""
    errs = []
    for n in (33, 65, 129):
        x = np.linspace(-1, 1, n)
        h = x[1] - x[0]
        X, Y = np.meshgrid(x, x, indexing="ij")
        u0 = np.exp(-(X**2 + Y**2) / 0.02)
        t = 0.01
        exact = 0.02 / (0.02 + 4 * t) * np.exp(-(X**2 + Y**2) / (0.02 + 4 * t))
        # time steps shrink like h**2, so the time error stays below the O(h**2) space error
        n = {"explicit": None, "fed": 256, "aos": int(16 * t / h**2)}[scheme]
        u = imd.heat(u0, t, scheme=scheme, spacing=h, n_steps=n)
        errs.append(np.abs(u - exact).max())
    order = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert errs[-1] < 2e-3
    assert (order > 1.5).all(), (errs, order)


@pytest.mark.parametrize("scheme", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_preserved(camera, scheme, dtype):
    img = camera.astype(dtype)
    for t in (0.3, 5.0, 40.0):
        u = imd.heat(img, t, scheme=scheme)
        assert u.dtype == dtype
        np.testing.assert_allclose(u.mean(dtype=np.float64), img.mean(dtype=np.float64), rtol=1e-6)


@pytest.mark.parametrize("scheme", ALL)
def test_mean_preserved_3d_anisotropic(scheme):
    vol = np.random.default_rng(1).random((9, 14, 17)) * 1000
    u = imd.heat(vol, 3.0, scheme=scheme, spacing=(2.5, 0.7, 1.0))
    np.testing.assert_allclose(u.mean(), vol.mean(), rtol=1e-6)


@pytest.mark.parametrize("scheme", ("exact", "explicit", "aos"))
@pytest.mark.parametrize("t", [0.1, 1.0, 7.3, 100.0])
def test_no_new_extrema_strict(scheme, t):
    """Explicit (at its limit), AOS and the Gaussian obey the discrete maximum principle exactly."""
    rng = np.random.default_rng(2)
    for img in (rng.random((30, 40)), np.pad(np.ones((1, 1)), 12), rng.random((8, 9, 10)) - 0.5):
        u = imd.heat(img, t, scheme=scheme)
        assert u.min() >= img.min() - 1e-12 and u.max() <= img.max() + 1e-12


@pytest.mark.parametrize("t", [0.5, 3.0, 50.0])
def test_no_new_extrema_fed_on_images(camera, t):
    for img in (camera, np.random.default_rng(3).random((16, 24, 20)) * 100, np.pad(np.full((6, 6), 255.0), 20)):
        u = imd.heat(img, t, scheme="fed")
        assert u.min() >= img.min() - 1e-9 * img.max() and u.max() <= img.max() * (1 + 1e-9)


@pytest.mark.parametrize("scheme", ALL)
def test_constant_image_unchanged(scheme):
    img = np.full((7, 8, 9), 42.0, np.float32)
    np.testing.assert_allclose(imd.heat(img, 10.0, scheme=scheme), 42.0, rtol=1e-6)


@pytest.mark.parametrize("scheme", ALL)
def test_t_zero_is_identity_copy(scheme):
    img = np.random.default_rng(0).random((5, 6))
    u = imd.heat(img, 0.0, scheme=scheme)
    np.testing.assert_array_equal(u, img)
    assert not np.shares_memory(u, img)


@pytest.mark.parametrize("scheme", ALL)
def test_rotation_commutes(camera, scheme):
    img = camera[:100, :120]
    np.testing.assert_allclose(imd.heat(np.rot90(img), 4.0, scheme=scheme), np.rot90(imd.heat(img, 4.0, scheme=scheme)), atol=1e-9)


@pytest.mark.parametrize("scheme", ALL)
def test_channel_axis(scheme):
    rng = np.random.default_rng(4)
    rgb = rng.random((20, 30, 3)) * 255
    u = imd.heat(rgb, 2.0, scheme=scheme, channel_axis=-1)
    assert u.shape == rgb.shape
    for c in range(3):
        np.testing.assert_allclose(u[..., c], imd.heat(rgb[..., c], 2.0, scheme=scheme), atol=1e-9)
    # channels first, and a 3-D volume with channels
    u0 = imd.heat(np.moveaxis(rgb, -1, 0), 2.0, scheme=scheme, channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(u0, 0, -1), u, atol=1e-9)
    vol = rng.random((2, 6, 7, 8))
    v = imd.heat(vol, 1.0, scheme=scheme, channel_axis=0)
    np.testing.assert_allclose(v[1], imd.heat(vol[1], 1.0, scheme=scheme), atol=1e-9)


@pytest.mark.parametrize("scheme", ALL)
def test_3d_slab_has_no_flux_across_slices(scheme):
    img = np.random.default_rng(5).random((20, 25))
    vol = np.repeat(img[None], 4, axis=0)
    u = imd.heat(vol, 3.0, scheme=scheme)
    for k in range(1, 4):
        np.testing.assert_allclose(u[k], u[0], atol=1e-12)
    if scheme == "exact":  # the step rules of the PDE schemes depend on the dimension
        np.testing.assert_allclose(u[0], imd.heat(img, 3.0), atol=1e-12)
    else:
        # 3-D steps are smaller (explicit, FED) and AOS splits over 3 axes instead of 2
        assert np.abs(u[0] - imd.heat(img, 3.0)).max() < (0.1 if scheme == "aos" else 0.02)


@pytest.mark.parametrize("scheme", ALL)
def test_anisotropic_spacing_equals_resampled_isotropic(scheme):
    """Spacing (1, 1, 3) on a coarse grid gives what the fine isotropic grid gives at its samples."""
    fine_x = np.arange(0, 61) * 1.0  # spacing 1 along the last axis
    y = np.arange(20) * 1.0
    z = np.arange(16) * 1.0

    def f(Z, Y, X):
        return 100 + 40 * np.cos(2 * np.pi * X / 60) * np.cos(np.pi * Y / 19) + 30 * np.exp(-((Z - 7.5) ** 2) / 30)

    fine = f(*np.meshgrid(z, y, fine_x, indexing="ij"))
    coarse = fine[..., ::3]  # spacing 3 along the last axis
    t = 4.0
    n = None if scheme in ("exact", "explicit") else 64
    u_fine = imd.heat(fine, t, scheme=scheme, n_steps=n)[..., ::3]
    u_coarse = imd.heat(coarse, t, scheme=scheme, spacing=(1, 1, 3), n_steps=n)
    assert np.abs(u_coarse - u_fine).max() < 0.01 * (fine.max() - fine.min())


def test_single_pixel_and_thin_images():
    for shape in [(1, 1), (1, 7), (5, 1), (1, 1, 1), (1, 4, 1)]:
        img = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        for scheme in ALL:
            u = imd.heat(img, 2.0, scheme=scheme)
            assert u.shape == shape
            np.testing.assert_allclose(u.mean(), img.mean())


def test_callback_reports_progress():
    seen = []
    imd.heat(np.zeros((10, 10)), 5.0, scheme="explicit", callback=seen.append)
    assert seen[-1] == pytest.approx(5.0) and len(seen) == 20
    seen.clear()
    imd.heat(np.zeros((10, 10)), 5.0, scheme="fed", callback=seen.append)
    assert seen[-1] == pytest.approx(5.0)


def test_large_t_float32_stable():
    img = np.random.default_rng(6).random((12, 16, 10)).astype(np.float32) * 1000
    for scheme in PDE:
        u = imd.heat(img, 1000.0, scheme=scheme, spacing=(1, 1, 0.3))
        assert np.isfinite(u).all()
        assert u.min() >= img.min() - 1e-3 and u.max() <= img.max() + 1e-3
        np.testing.assert_allclose(u.mean(dtype=np.float64), img.mean(dtype=np.float64), rtol=1e-5)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("shape, sigma", [
    ((1, 1, 64, 80), (0, 0, 1.0, 1.0)),
    ((2, 9, 12, 30), (0, 2.0, 0.5, 3.0)),
    ((1, 1, 5, 300), (0, 0, 7.0, 7.0)),  # kernel wider than an axis: reflect repeats
    ((3, 4, 1, 2), (0, 1.5, 1.0, 1.0)),
    ((1, 20, 1, 1), (0, 0.0, 0.0, 0.0)),
])
def test_gaussian_filter_matches_scipy(dtype, tol, shape, sigma):
    # the project's separable Gaussian (used by heat, Catte smoothing, the
    # structure tensor) is scipy.ndimage's reflect-mode filter, faster
    from imdiffuse._kernels import gaussian_filter

    u = np.random.default_rng(0).random(shape).astype(dtype)
    ref = ndimage.gaussian_filter(u, sigma, mode="reflect", truncate=4.0)
    got = gaussian_filter(u, sigma, truncate=4.0)
    assert got.dtype == dtype
    assert np.abs(got - ref).max() <= tol * np.abs(ref).max()
    inplace = u.copy()
    gaussian_filter(inplace, sigma, truncate=4.0, output=inplace)
    assert np.abs(inplace - ref).max() <= tol * np.abs(ref).max()


def test_gaussian_filter_odd_outputs_and_dtypes():
    # a strided or differently typed output and integer input are handled like scipy
    from imdiffuse._kernels import gaussian_filter

    u = np.random.default_rng(1).integers(0, 255, (1, 1, 40, 50))
    ref = ndimage.gaussian_filter(u.astype(np.float64), (0, 0, 1.5, 1.0), mode="reflect", truncate=4.0)
    np.testing.assert_allclose(gaussian_filter(u, (0, 0, 1.5, 1.0)), ref, rtol=1e-12)
    big = np.zeros((1, 1, 40, 100))
    view = big[..., ::2]  # not contiguous
    gaussian_filter(u.astype(np.float64), (0, 0, 1.5, 1.0), output=view)
    np.testing.assert_allclose(view, ref, rtol=1e-12)
    out32 = np.empty(u.shape, np.float32)
    gaussian_filter(u.astype(np.float64), (0, 0, 1.5, 1.0), output=out32)
    np.testing.assert_allclose(out32, ref, rtol=1e-6)


@pytest.mark.parametrize("inplace", [False, True])
def test_gaussian_filter_needs_one_temporary(inplace):
    # three passes ping-pong between the output and one temporary (two temporaries before)
    import tracemalloc

    from imdiffuse._kernels import gaussian_filter

    u = np.random.default_rng(2).random((1, 40, 50, 60))
    ref = ndimage.gaussian_filter(u, (0, 1.0, 1.5, 2.0), mode="reflect", truncate=4.0)
    gaussian_filter(u[:, :4, :5, :6], (0, 1.0, 1.5, 2.0))  # compiled before measuring
    work = u.copy()
    tracemalloc.start()
    got = gaussian_filter(work, (0, 1.0, 1.5, 2.0), output=work if inplace else None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert peak < (1.2 if inplace else 2.2) * u.nbytes


def test_gaussian_filter_uses_lent_work_array():
    # a scratch array lent by the caller (AOS lends its Thomas work array) replaces the temporary
    import tracemalloc

    from imdiffuse._kernels import gaussian_filter

    u = np.random.default_rng(3).random((1, 30, 40, 50))
    ref = ndimage.gaussian_filter(u, (0, 1.0, 1.5, 2.0), mode="reflect", truncate=4.0)
    out = np.empty_like(u)
    work = np.empty_like(u)
    gaussian_filter(u[:, :4, :5, :6], (0, 1.0, 1.5, 2.0))  # compiled before measuring
    tracemalloc.start()
    got = gaussian_filter(u, (0, 1.0, 1.5, 2.0), output=out, work=work)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got is out
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert peak < 0.2 * u.nbytes
    # an unusable scratch (wrong shape, or the output itself) is ignored, not written over the result
    np.testing.assert_allclose(gaussian_filter(u, (0, 1.0, 1.5, 2.0), work=np.empty((3, 3))), ref, rtol=1e-12)
    np.testing.assert_allclose(gaussian_filter(u, (0, 1.0, 1.5, 2.0), output=out, work=out), ref, rtol=1e-12)
