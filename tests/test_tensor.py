"""imdiffuse.edge_enhancing / coherence_enhancing / structure_tensor: limits, invariants, peers, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imdiffuse as imd
from imdiffuse import _kernels
from imdiffuse.tensor import TensorDiffusion


@pytest.fixture(scope="module")
def noisy():
    from skimage import data

    img = data.camera()[160:288, 180:324].astype(np.float32)
    return img + np.random.default_rng(0).normal(0, 20, img.shape).astype(np.float32)


def _stripes(n=96, period=8.0, gap=(40, 52), noise=0.0, seed=0):
    """Vertical stripes with a horizontal band (the gap) set to the mean grey."""
    y, x = np.mgrid[0:n, 0:n]
    clean = 127.5 + 100.0 * np.cos(2 * np.pi * x / period)
    img = clean.copy()
    img[gap[0] : gap[1]] = 127.5
    img += np.random.default_rng(seed).normal(0, noise, img.shape)
    return clean, img


def _gap_corr(u, clean, gap=(40, 52)):
    a = u[gap[0] + 2 : gap[1] - 2]
    b = clean[gap[0] + 2 : gap[1] - 2]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("scheme", ("explicit", "fed"))
def test_isotropic_limit_is_heat(noisy, scheme):
    """kappa -> infinity: D = I and the stencil is the 2d+1 point Laplacian, step for step."""
    n = None if scheme == "explicit" else 5
    u = imd.edge_enhancing(noisy, 3.0, kappa=1e12, scheme=scheme, n_steps=n)
    v = imd.heat(noisy, 3.0, scheme=scheme, n_steps=n)
    np.testing.assert_allclose(u, v, atol=1e-3)
    vol = np.random.default_rng(1).normal(100, 20, (8, 10, 12))
    kw = dict(scheme=scheme, spacing=(2.0, 1.0, 0.7), n_steps=40 if scheme == "explicit" else 4)
    np.testing.assert_allclose(imd.edge_enhancing(vol, 2.0, kappa=1e12, **kw), imd.heat(vol, 2.0, **kw), atol=1e-9)


def test_straight_edge_smoothed_along_not_across():
    rng = np.random.default_rng(3)
    clean = np.zeros((80, 80), np.float32)
    clean[:, 40:] = 100
    noisy = clean + rng.normal(0, 8, clean.shape).astype(np.float32)
    u = imd.edge_enhancing(noisy, 20.0, kappa=3.0, sigma=1.0)
    h = imd.heat(noisy, 20.0)
    assert np.abs(u - clean).mean() < 0.3 * np.abs(noisy - clean).mean()
    # across: the edge stays sharp where the heat equation blurs it
    assert u[:, 41].mean() - u[:, 38].mean() > 85
    assert h[:, 41].mean() - h[:, 38].mean() < 60
    # along: the noise *on* the edge columns is smoothed (Perona-Malik keeps it)
    assert u[:, 39:41].std(axis=0).max() < 0.45 * noisy[:, 39:41].std(axis=0).min()


@pytest.mark.parametrize("scheme", ("explicit", "fed"))
@pytest.mark.parametrize("model", ("eed", "ced"))
def test_mean_preserved_and_range_kept(noisy, scheme, model):
    f = imd.edge_enhancing if model == "eed" else imd.coherence_enhancing
    kw = dict(kappa=10.0) if model == "eed" else dict(C=1e4)
    u = f(noisy, 15.0, scheme=scheme, **kw)
    np.testing.assert_allclose(u.mean(dtype=np.float64), noisy.mean(dtype=np.float64), rtol=1e-5)
    assert u.min() >= noisy.min() and u.max() <= noisy.max()


def _random_tensor_field(shape, rng, nonneg):
    """Plane tensors (2-D) with random orientation and anisotropy; |B| <= min(A, C) if nonneg."""
    th = rng.uniform(0, np.pi, shape)
    l1 = rng.uniform(0.0, 1.0, shape)
    l2 = rng.uniform(0.0, 1.0, shape)
    c, s = np.cos(th), np.sin(th)
    A = l1 * c * c + l2 * s * s
    C = l1 * s * s + l2 * c * c
    B = (l1 - l2) * c * s
    if nonneg:
        B = np.clip(B, -np.minimum(A, C), np.minimum(A, C))
    return np.stack([A, C, B])[:, None]


@pytest.mark.parametrize("stencil", (0.0, -1.0))
def test_no_new_extrema_at_step_limit(stencil):
    """At tau = 2 / radius every update is a convex combination of neighbours (nonnegative weights)."""
    rng = np.random.default_rng(5)
    Y, X = 40, 50
    T = _random_tensor_field((1, Y, X), rng, nonneg=stencil == 0.0)[:, 0]
    u = rng.normal(0, 1, (1, 1, Y, X))
    out = np.empty_like(u)
    factor = 1.0 if stencil == 0.0 else (1 + np.sqrt(2)) / 2
    tau = 2.0 / (_kernels.tensor_radius(T) * factor)
    _kernels.tensor_step(u, T, out, tau, stencil, 8)
    pad = np.pad(u[0, 0], 1, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, (3, 3))
    assert (out[0, 0] <= win.max(axis=(2, 3)) + 1e-12).all()
    assert (out[0, 0] >= win.min(axis=(2, 3)) - 1e-12).all()
    np.testing.assert_allclose(out.mean(), u.mean(), atol=1e-13)


def test_explicit_limit_is_stated_one():
    """The explicit scheme steps at the heat limit 1 / (2 sum h**-2) in 2-D, half of it in 3-D."""
    from imdiffuse._grid import prepare

    for shape, spacing, factor in (((20, 30), (1.0, 2.0), 1.0), ((6, 20, 30), (1.0, 1.0, 2.0), 0.5)):
        _, grid = prepare(np.zeros(shape), spacing)
        op = TensorDiffusion(grid, 0, sigma=1.0, rho=0.0, fixed_limit=True)
        assert op.limit() == pytest.approx(factor * grid.explicit_limit())


def test_nonnegative_stencil_max_principle_on_oblique_edges():
    y, x = np.mgrid[0:64, 0:64].astype(float)
    for ang in (10.0, 30.0):
        a = np.deg2rad(ang)
        img = np.where(np.cos(a) * (x - 32) + np.sin(a) * (y - 32) > 0, 200.0, 50.0)
        for scheme in ("explicit",):
            u = imd.edge_enhancing(img, 10.0, kappa=0.5, sigma=0.5, scheme=scheme, stencil="nonnegative")
            assert u.min() >= 50.0 - 1e-9 and u.max() <= 200.0 + 1e-9
        # the default (exact) stencil is L2-stable; its overshoot stays small
        u = imd.edge_enhancing(img, 10.0, kappa=0.5, sigma=0.5)
        assert u.min() >= 50.0 - 0.1 * 150 and u.max() <= 200.0 + 0.1 * 150


def test_operator_negative_semidefinite():
    """Random tensors of any anisotropy: the step matrix is symmetric with eigenvalues in [-radius, 0]."""
    rng = np.random.default_rng(7)
    Y, X = 7, 8
    T = _random_tensor_field((1, Y, X), rng, nonneg=False)[:, 0]
    n = Y * X
    L = np.empty((n, n))
    out = np.empty((1, 1, Y, X))
    for k in range(n):
        e = np.zeros((1, 1, Y, X))
        e.flat[k] = 1.0
        _kernels.tensor_step(e, T, out, 1.0, 0.0, 8)
        L[:, k] = out.ravel() - e.ravel()
    np.testing.assert_allclose(L, L.T, atol=1e-12)
    ev = np.linalg.eigvalsh(0.5 * (L + L.T))
    assert ev.max() < 1e-12 and ev.min() >= -_kernels.tensor_radius(T) - 1e-12


@pytest.mark.parametrize("scheme", ("explicit", "fed"))
def test_rotation_commutes(noisy, scheme):
    img = noisy[:, :120]
    for k in (1, 2):
        a = imd.edge_enhancing(np.rot90(img, k), 5.0, kappa=8.0, scheme=scheme)
        b = np.rot90(imd.edge_enhancing(img, 5.0, kappa=8.0, scheme=scheme), k)
        np.testing.assert_allclose(a, b, atol=2e-3)
    a = imd.coherence_enhancing(np.rot90(img), 5.0, scheme=scheme)
    b = np.rot90(imd.coherence_enhancing(img, 5.0, scheme=scheme))
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_3d_slices_equal_2d_and_spacing(noisy):
    img = noisy[:40, :48].astype(np.float64)
    vol = np.repeat(img[None], 4, axis=0)
    # (3-D CED would smooth along z here: z is the direction of least variation)
    for f, kw in ((imd.edge_enhancing, dict(kappa=8.0)), (imd.edge_enhancing, dict(kappa=8.0, rho=1.0))):
        u3 = f(vol, 4.0, scheme="explicit", n_steps=40, spacing=(3.0, 1.0, 1.0), **kw)
        u2 = f(img, 4.0, scheme="explicit", n_steps=40, **kw)
        # the same PDE; the 3-D stencil splits D_xx, D_yy between coordinate
        # planes, so the discretisations differ slightly
        for z in range(4):
            np.testing.assert_allclose(u3[z], u3[0], atol=1e-9)
        assert np.abs(u3[0] - u2).max() < 0.02 * (img.max() - img.min())
    # anisotropic spacing: an edge along z in a volume with thick slices behaves like a 2-D edge
    z, y, x = np.mgrid[0:6, 0:20, 0:24]
    edge = np.where(x >= 12, 100.0, 0.0) + np.random.default_rng(2).normal(0, 5, x.shape)
    u = imd.edge_enhancing(edge, 5.0, kappa=2.0, spacing=(4.0, 1.0, 0.5))
    assert np.isfinite(u).all()
    assert u[..., 13].mean() - u[..., 10].mean() > 80
    np.testing.assert_allclose(u.mean(), edge.mean(), rtol=1e-10)


def test_ced_joins_gap_that_pm_and_eed_do_not():
    clean, img = _stripes(noise=10.0)
    c = _gap_corr(imd.coherence_enhancing(img, 30.0, sigma=1.0, rho=4.0), clean)
    p = _gap_corr(imd.perona_malik(img, 30.0, kappa=10.0, sigma=1.0), clean)
    e = _gap_corr(imd.edge_enhancing(img, 30.0, kappa=10.0, sigma=1.0), clean)
    assert c > 0.8
    assert c > p + 0.3 and c > e + 0.3


def test_eigh3_matches_numpy():
    rng = np.random.default_rng(11)
    mats = [rng.normal(size=(3, 3)) for _ in range(200)]
    mats = [m + m.T for m in mats]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    mats += [np.zeros((3, 3)), np.eye(3) * 2.5, np.diag([1.0, 1.0, 3.0]),
             q @ np.diag([2.0, 2.0, -1.0]) @ q.T, q @ np.diag([0.0, 0.0, 5.0]) @ q.T,
             q @ np.diag([1e-12, 1.0, 1e12]) @ q.T]
    w = np.empty(3)
    V = np.empty((3, 3))
    for m in mats:
        _kernels.eigh3(m.copy(), w, V)
        w_ref = np.linalg.eigvalsh(m)
        scale = max(np.abs(w_ref).max(), 1e-300)
        np.testing.assert_allclose(w, w_ref, atol=1e-12 * scale)
        np.testing.assert_allclose(V.T @ V, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(V @ np.diag(w) @ V.T, m, atol=1e-12 * scale)


def test_eigh2_matches_numpy():
    rng = np.random.default_rng(12)
    for a, b, c in list(rng.normal(size=(100, 3))) + [(1.0, 0.0, 1.0), (0.0, 0.0, 0.0), (2.0, 0.0, 1.0)]:
        mu1, mu2, vy, vx = _kernels.eigh2(a, b, c)
        m = np.array([[a, b], [b, c]])
        np.testing.assert_allclose([mu2, mu1], np.linalg.eigvalsh(m), atol=1e-12)
        np.testing.assert_allclose(m @ [vy, vx], mu1 * np.array([vy, vx]), atol=1e-12)


def test_structure_tensor_matches_numpy():
    rng = np.random.default_rng(4)
    img = rng.normal(size=(20, 24))
    J = imd.structure_tensor(img, sigma=0.0, spacing=(2.0, 0.5))
    gy, gx = np.gradient(np.pad(img, 1, mode="edge"), 2.0, 0.5)
    gy, gx = gy[1:-1, 1:-1], gx[1:-1, 1:-1]
    np.testing.assert_allclose(J[..., 0, 0], gy * gy, atol=1e-12)
    np.testing.assert_allclose(J[..., 1, 1], gx * gx, atol=1e-12)
    np.testing.assert_allclose(J[..., 0, 1], gx * gy, atol=1e-12)
    vol = rng.normal(size=(5, 6, 7))
    J3 = imd.structure_tensor(vol, sigma=1.0, rho=1.5)
    assert J3.shape == (5, 6, 7, 3, 3) and J3.dtype == np.float64
    np.testing.assert_array_equal(J3, np.swapaxes(J3, -1, -2))
    assert (np.linalg.eigvalsh(J3) >= -1e-9).all()
    rgb = np.stack([img, 2 * img], axis=-1)
    np.testing.assert_allclose(imd.structure_tensor(rgb, sigma=0.0, channel_axis=-1),
                               5 * imd.structure_tensor(img, sigma=0.0), rtol=1e-12)


def test_channels_joint(noisy):
    rgb = np.stack([noisy, noisy[::-1], 0.5 * noisy], axis=-1)
    u = imd.edge_enhancing(rgb, 5.0, kappa=20.0, channel_axis=-1)
    v = imd.edge_enhancing(rgb[..., ::-1], 5.0, kappa=20.0, channel_axis=-1)[..., ::-1]
    np.testing.assert_allclose(u, v, atol=1e-3)
    two = np.stack([noisy, noisy], axis=0)
    j = imd.edge_enhancing(two, 5.0, kappa=20.0 * np.sqrt(2), rho=0.5, channel_axis=0)
    np.testing.assert_allclose(j[0], imd.edge_enhancing(noisy, 5.0, kappa=20.0, rho=0.5), atol=1e-2)


@pytest.mark.parametrize(
    "f, kwargs, err, match",
    [
        ("eed", dict(kappa=-3.0), ValueError, r'kappa must be a finite number > 0 or "auto", got -3.0'),
        ("eed", dict(diffusivity="huber"), ValueError, "diffusivity must be one of"),
        ("eed", dict(sigma=-1.0), ValueError, "sigma must be a finite number >= 0"),
        ("eed", dict(rho=np.nan), ValueError, "rho must be a finite number >= 0"),
        ("eed", dict(scheme="aos"), ValueError, "scheme='aos' is not available for tensor diffusion"),
        ("ced", dict(scheme="aos"), ValueError, "scheme='aos' is not available for tensor diffusion"),
        ("eed", dict(scheme="exact"), ValueError, "scheme must be one of 'auto', 'explicit', 'fed'"),
        ("eed", dict(stencil="9pt"), ValueError, "stencil must be one of 'www', 'nonnegative'"),
        ("ced", dict(alpha=0.0), ValueError, "alpha must be a finite number > 0"),
        ("ced", dict(alpha=1.5), ValueError, r"alpha must be in \(0, 1\]"),
        ("ced", dict(C=-1.0), ValueError, "C must be a finite number > 0"),
        ("ced", dict(C="1"), TypeError, "C must be a real number"),
        ("ced", dict(n_steps=0), ValueError, "n_steps must be >= 1"),
        ("eed", dict(channel_axis=3), ValueError, "channel_axis"),
        ("eed", dict(kapa=3), TypeError, "unexpected keyword"),
    ],
)
def test_bad_options(f, kwargs, err, match):
    fn = imd.edge_enhancing if f == "eed" else imd.coherence_enhancing
    with pytest.raises(err, match=match):
        fn(np.zeros((8, 9)), 1.0, **kwargs)


def test_bad_images_and_t():
    with pytest.raises(ValueError, match="t must be a finite number >= 0"):
        imd.edge_enhancing(np.zeros((8, 9)), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        imd.coherence_enhancing(np.array([[np.nan, 1.0], [1.0, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        imd.edge_enhancing(np.zeros(8), 1.0)
    with pytest.raises(TypeError, match="real numeric dtype"):
        imd.structure_tensor(np.zeros((4, 4), bool))


def test_dtype_and_constant():
    for dtype, out in ((np.uint8, np.float32), (np.float64, np.float64), (np.int16, np.float32)):
        img = np.full((6, 7), 9, dtype)
        for f in (imd.edge_enhancing, imd.coherence_enhancing):
            u = f(img, 3.0)
            assert u.dtype == out
            np.testing.assert_allclose(u, 9.0)
    assert imd.edge_enhancing(np.ones((1, 1)), 5.0).shape == (1, 1)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    t=st.floats(0.0, 20.0),
    model=st.sampled_from(["eed", "ced"]),
    scheme=st.sampled_from(["explicit", "fed"]),
)
def test_invariants_hypothesis(seed, shape, t, model, scheme):
    """Mean kept, finite, within the input range (nonnegative stencil) for any small image and time."""
    img = np.random.default_rng(seed).uniform(-50, 300, shape)
    if model == "eed":
        u = imd.edge_enhancing(img, t, kappa=5.0, scheme=scheme, stencil="nonnegative")
    else:
        u = imd.coherence_enhancing(img, t, scheme=scheme, stencil="nonnegative")
    assert u.shape == img.shape and np.isfinite(u).all()
    np.testing.assert_allclose(u.mean(), img.mean(), rtol=1e-9, atol=1e-9)
    tol = 1e-9 if scheme == "explicit" else 0.02 * (img.max() - img.min())
    assert u.min() >= img.min() - tol and u.max() <= img.max() + tol
