"""The time integrators in imdiffuse.schemes: step rules and convergence orders."""

import math

import numpy as np
import pytest

import imdiffuse as imd
from conftest import spectral_heat
from imdiffuse import schemes
from imdiffuse._grid import prepare


def test_explicit_steps_respect_limit_and_reach_t():
    for limit, t in [(0.25, 1.0), (0.25, 1.1), (1 / 6, 10.0), (0.1, 0.05)]:
        steps = schemes._steps(t, limit, None, "explicit")
        assert max(steps) <= limit
        assert math.isclose(sum(steps), t, rel_tol=1e-12)
        assert len(steps) == math.ceil(t / limit - 1e-9)
        assert all(s == limit for s in steps[:-1])


@pytest.mark.parametrize("spacing, limit", [((1, 1), 0.25), ((1, 1, 1), 1 / 6), ((2.0, 0.5), 1 / (2 * (0.25 + 4))),
                                            ((3.0, 1.0, 1.0), 1 / (2 * (1 / 9 + 2)))])
def test_explicit_limit_formula(spacing, limit):
    _, grid = prepare(np.zeros((4,) * len(spacing)), spacing)
    assert grid.explicit_limit() == pytest.approx(limit)


def test_explicit_at_limit_is_stable_slightly_above_is_not():
    """tau = 1/(2 sum h^-2) keeps the checkerboard bounded; 10 % more makes it blow up."""
    _, grid = prepare(np.zeros((16, 16)), None)
    op = schemes.ScalarDiffusion(grid)
    checker = (np.indices((16, 16)).sum(0) % 2).astype(np.float64)[None, None] - 0.5
    u = checker.copy()
    out = np.empty_like(u)
    for _ in range(200):
        op.step(u, out, grid.explicit_limit())
        u, out = out, u
    assert np.abs(u).max() <= 0.5 + 1e-12
    u = checker.copy()
    for _ in range(200):
        op.step(u, out, 1.1 * grid.explicit_limit())
        u, out = out, u
    assert np.abs(u).max() > 1e3


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 37, 100])
def test_fed_step_sizes(n):
    tau_max = 0.25
    raw = schemes.fed_step_sizes(n, tau_max, reorder=False)
    assert raw.sum() == pytest.approx(tau_max * (n * n + n) / 3)
    assert raw.min() == pytest.approx(tau_max / 2 / math.cos(math.pi / (4 * n + 2)) ** 2)
    ordered = schemes.fed_step_sizes(n, tau_max, 1.234)
    assert ordered.sum() == pytest.approx(1.234)
    # the reordering is a permutation of the scaled steps
    np.testing.assert_allclose(np.sort(ordered), np.sort(raw * 1.234 / raw.sum()))


@pytest.mark.parametrize("n", [5, 10, 20, 35, 50, 70, 99, 140])
def test_fed_reordering_bounds_rounding_amplification(n):
    """Leja order keeps the in-cycle amplification of rounding errors below 0.5 n^2.

    The ascending order amplifies them by 1e15 already at n = 35, and the
    kappa-cycle (kappa = n // 2) of the FED reference code by 5e20 at n = 70.
    """
    tau_max = 0.25
    lam_max = 2 / tau_max
    ordered = schemes.fed_step_sizes(n, tau_max)
    assert schemes.fed_amplification(ordered, lam_max) < 0.5 * n * n
    if n >= 20:
        ascending = schemes.fed_step_sizes(n, tau_max, reorder=False)
        assert schemes.fed_amplification(ascending, lam_max) > 1e6


@pytest.mark.parametrize("cycles", [1, 2, 4, 8, 16, 32])
def test_fed_float32_long_cycles_stable(cycles):
    """Long float32 cycles (up to ~140 steps) stay accurate: mean kept, no blow-up."""
    img = np.random.default_rng(6).random((12, 16, 10)).astype(np.float32) * 1000
    u = imd.heat(img, 1000.0, scheme="fed", spacing=(1, 1, 0.3), n_steps=cycles)
    u64 = imd.heat(img.astype(np.float64), 1000.0, scheme="fed", spacing=(1, 1, 0.3), n_steps=cycles)
    assert np.isfinite(u).all()
    np.testing.assert_allclose(u.mean(dtype=np.float64), img.mean(dtype=np.float64), rtol=1e-4)
    assert np.abs(u - u64).max() < 1e-3 * 1000


def test_fed_cycle_steps_minimal():
    tau_max = 0.25
    for theta in [0.01, 0.25, 0.5, 1.0, 7.7, 100.0, 1e4]:
        n = schemes.fed_cycle_steps(theta, tau_max)
        assert tau_max * (n * n + n) / 3 >= theta * (1 - 1e-12)
        assert n == 1 or tau_max * ((n - 1) ** 2 + n - 1) / 3 < theta


def test_fed_cost_grows_like_sqrt_t():
    """Steps per cycle ~ sqrt(3 theta / tau_max): far fewer than the explicit scheme needs."""
    n100 = schemes.fed_cycle_steps(100.0, 0.25)
    assert n100 == 35
    assert n100 < 100 / 0.25 / 10


@pytest.mark.parametrize("scheme, ns", [("explicit", (64, 128, 256)), ("fed", (4, 8, 16, 32)), ("aos", (8, 16, 32))])
def test_first_order_convergence_in_time(camera, scheme, ns):
    """Halving the step (cycle) halves the error: observed order ~1 for all three schemes.

    Observed (camera 256^2, t = 8, max norm): explicit 1.00, FED 0.88 (the
    number of steps per cycle changes discretely), AOS 1.0.
    """
    t = 8.0
    ref = spectral_heat(camera, t)
    errs = [np.abs(imd.heat(camera, t, scheme=scheme, n_steps=n) - ref).max() for n in ns]
    order = -np.polyfit(np.log2(ns), np.log2(errs), 1)[0]
    assert 0.8 < order < 1.3, (errs, order)
    assert all(e1 > e2 for e1, e2 in zip(errs, errs[1:]))


def test_aos_matches_direct_sparse_solve():
    """One AOS step equals the average of the per-axis implicit solves built with scipy.sparse."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(0)
    u0 = rng.random((6, 7))
    spacing = (0.8, 1.3)
    tau = 0.9
    m = 2
    expected = np.zeros_like(u0)
    for ax in range(2):
        n = u0.shape[ax]
        main = np.full(n, 2.0)
        main[0] = main[-1] = 1.0
        A = sp.diags([-np.ones(n - 1), main, -np.ones(n - 1)], [-1, 0, 1]) / spacing[ax] ** 2
        M = (sp.eye(n) + m * tau * A).tocsc()
        moved = np.moveaxis(u0, ax, 0).reshape(n, -1)
        sol = spla.spsolve(M, moved).reshape(np.moveaxis(u0, ax, 0).shape)
        expected += np.moveaxis(sol, 0, ax) / m
    got = imd.heat(u0, tau, scheme="aos", spacing=spacing, n_steps=1)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_aos_nonlinear_diffusivity_matches_sparse():
    """With a diffusivity field g, the AOS kernel uses face values (g_i + g_i+1)/2."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(1)
    u0 = rng.random((5, 6, 7))
    g = rng.random((5, 6, 7)) * 0.9 + 0.1
    _, grid = prepare(u0, (1.0, 2.0, 0.5))

    def diffusivity(u, out):
        out[...] = g

    op = schemes.ScalarDiffusion(grid, diffusivity)
    got = grid.from_canonical(schemes.aos(op, grid.to_canonical(u0), 0.7, n_steps=1))
    expected = np.zeros_like(u0)
    m, tau = 3, 0.7
    for ax in range(3):
        h = grid.spacing[ax]
        gm = np.moveaxis(g, ax, 0)
        um = np.moveaxis(u0, ax, 0)
        n = um.shape[0]
        res = np.empty_like(um)
        for idx in np.ndindex(um.shape[1:]):
            gl = gm[(slice(None),) + idx]
            w = 0.5 * (gl[:-1] + gl[1:]) / h**2
            main = np.zeros(n)
            main[:-1] += w
            main[1:] += w
            A = sp.diags([-w, main, -w], [-1, 0, 1])
            res[(slice(None),) + idx] = spla.spsolve((sp.eye(n) + m * tau * A).tocsc(), um[(slice(None),) + idx])
        expected += np.moveaxis(res, 0, ax) / m
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_scalar_step_matches_numpy_reference():
    """The Numba flux kernel equals a plain NumPy reference with reflecting boundaries."""
    rng = np.random.default_rng(2)
    u0 = rng.random((2, 5, 6, 7))
    g = rng.random((5, 6, 7))
    spacing = (1.5, 1.0, 0.7)
    tau = 0.05
    ref = u0.copy()
    for ax, h in enumerate(spacing, start=1):
        up = np.concatenate([u0, np.take(u0, [-1], axis=ax)], axis=ax)
        gp = np.concatenate([g, np.take(g, [-1], axis=ax - 1)], axis=ax - 1)
        du = np.diff(up, axis=ax)  # forward difference, zero at the last face
        gf = 0.5 * (np.take(gp, range(g.shape[ax - 1]), axis=ax - 1) + np.take(gp, range(1, g.shape[ax - 1] + 1), axis=ax - 1))
        flux = gf[None] * du
        back = np.concatenate([np.zeros_like(np.take(flux, [0], axis=ax)), np.take(flux, range(flux.shape[ax] - 1), axis=ax)], axis=ax)
        ref += tau * (flux - back) / h**2
    from imdiffuse import _kernels

    out = np.empty_like(u0)
    _kernels.scalar_step(u0, g, out, tau, np.array([1 / h**2 for h in spacing]))
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_registry():
    assert set(schemes.SCHEMES) == {"explicit", "fed", "aos"}


_NO_COPY_CALLS = [
    ("heat", lambda img, s, t: imd.heat(img, t, scheme=s), ("explicit", "fed", "aos")),
    ("perona_malik", lambda img, s, t: imd.perona_malik(img, t, kappa=10.0, scheme=s), ("explicit", "fed", "aos")),
    ("perona_malik sigma", lambda img, s, t: imd.perona_malik(img, t, kappa=10.0, sigma=1.0, scheme=s),
     ("explicit", "fed")),
    ("tv_flow", lambda img, s, t: imd.tv_flow(img, t, scheme=s), ("explicit", "fed", "aos")),
    ("edge_enhancing", lambda img, s, t: imd.edge_enhancing(img, t, scheme=s), ("explicit", "fed")),
    ("coherence_enhancing", lambda img, s, t: imd.coherence_enhancing(img, t, scheme=s), ("explicit", "fed")),
]


@pytest.mark.parametrize("name, call, schemes", _NO_COPY_CALLS, ids=[c[0] for c in _NO_COPY_CALLS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("t", [0.0, 0.3, 3.0])
def test_input_never_written_nor_returned(name, call, schemes, dtype, t):
    """The schemes read a float image in place (no copy) but never write it or hand it back."""
    rng = np.random.default_rng(3)
    img = (rng.random((24, 20)) * 100).astype(dtype)
    keep = img.copy()
    for scheme in schemes:
        out = call(img, scheme, t)
        np.testing.assert_array_equal(img, keep, err_msg=f"{name} scheme={scheme} wrote into its input")
        assert not np.shares_memory(out, img), f"{name} scheme={scheme} returned its input's memory"
        assert out.dtype == dtype
        out[...] = -1.0  # the result is the caller's to write
        np.testing.assert_array_equal(img, keep)


def test_reading_in_place_gives_the_copied_result():
    """A read-only start (the user's array) gives bit for bit the result of a private copy."""
    from imdiffuse._grid import prepare
    from imdiffuse.nonlinear import FaceDiffusion

    rng = np.random.default_rng(4)
    img = (rng.random((30, 26)) * 100).astype(np.float32)
    array, grid = prepare(img)
    for scheme in ("explicit", "fed", "aos"):
        results = []
        for overwrite in (True, False):
            u, owned = grid.canonical(array)
            assert not owned
            start = u.copy() if overwrite else u
            op = FaceDiffusion(grid, 1, 100.0, 0.0)
            results.append(schemes.integrate(op, start, 2.0, scheme, overwrite=overwrite))
        np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(img, array)
