"""imdiffuse.inpaint: harmonic, biharmonic, eed (telea's engine: tests/test_telea.py)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from hypothesis import given, settings
from hypothesis import strategies as st

import imdiffuse as imd
from imdiffuse import _sparse

LINEAR = ("harmonic", "biharmonic")


def graph_laplacian(shape, spacing):
    """The Neumann graph Laplacian of the grid as a scipy matrix (the reference)."""
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    rows, cols, vals = [], [], []
    for a, h in enumerate(spacing):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        i, j = idx[tuple(lo)].ravel(), idx[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(i.size, 1.0 / h**2)] * 2
    W = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return W - sp.diags(np.asarray(W.sum(axis=1)).ravel())


def reference(image, mask, kind, spacing):
    """Exact harmonic / (unclipped) biharmonic fill by a sparse direct solve of the whole system."""
    L = graph_laplacian(image.shape, spacing)
    m = mask.ravel()
    g = np.where(m, 0.0, image.ravel())
    if kind == "harmonic":
        A, b = -L[m][:, m], (L @ g)[m]
    else:
        LE = L[:, m]
        A, b = LE.T @ LE, -(LE.T @ (L @ g))
    out = image.ravel().astype(np.float64).copy()
    out[m] = spl.spsolve(A.tocsc(), b)
    return out.reshape(image.shape)


def ramp(shape, spacing=None):
    spacing = spacing or (1.0,) * len(shape)
    grids = np.meshgrid(*[np.arange(n) * h for n, h in zip(shape, spacing)], indexing="ij")
    return sum((k + 1.5) * g for k, g in enumerate(grids)) + 10.0


@pytest.fixture(scope="module")
def camera_masks(camera):
    rng = np.random.default_rng(5)
    masks = {"rand50": rng.random(camera.shape) < 0.5}
    hole = np.zeros(camera.shape, bool)
    hole[100:132, 60:92] = True
    masks["hole"] = hole
    scratch = np.zeros(camera.shape, bool)
    scratch[:, 120:122] = True
    scratch[40:43, :] = True
    masks["scratch"] = scratch
    return masks


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("kind", LINEAR)
def test_equals_sparse_reference(camera, camera_masks, kind, direct):
    # both solvers (CG and the sparse LU of the masked system) against a
    # direct solve of the whole image's system, to the solver's tolerance
    for name, mask in camera_masks.items():
        code = _sparse.HARMONIC if kind == "harmonic" else _sparse.BIHARMONIC
        out, info = _sparse.solve_masked(camera[None], mask, (1.0, 1.0), code, tol=1e-10, direct=direct)
        ref = reference(camera, mask, kind, (1.0, 1.0))
        assert np.abs(out[0] - ref).max() < 1e-4 * 255, (name, info)


@pytest.mark.parametrize("shape, spacing", [((40, 50, 30), (1.0, 1.0, 3.0)), ((60, 70), (1.0, 2.0)),
                                             ((30, 1, 40), (1.0, 1.0, 1.0)), ((200,), (1.0,))])
def test_dense_and_row_list_operators_agree(monkeypatch, shape, spacing):
    # the biharmonic operator runs densely over the image for scattered masks
    # and along the row lists otherwise: both must give the same solve,
    # including the image borders, unit-length axes and anisotropic spacing
    rng = np.random.default_rng(3)
    values = rng.random((1,) + shape)
    mask = rng.random(shape) < 0.3
    outs = []
    for fraction in (0.0, 2.0):  # always dense, never dense
        monkeypatch.setattr(_sparse, "DENSE_FRACTION", fraction)
        out, info = _sparse.solve_masked(values, mask, spacing, _sparse.BIHARMONIC, tol=1e-12, direct=False)
        assert info["residual"] <= 1e-12
        outs.append(out)
    ref, _ = _sparse.solve_masked(values, mask, spacing, _sparse.BIHARMONIC, direct=True)
    assert np.abs(outs[0] - outs[1]).max() < 1e-9
    assert np.abs(outs[0] - ref).max() < 1e-9


@pytest.mark.parametrize("kind", LINEAR)
def test_anisotropic_spacing_matches_reference(kind):
    rng = np.random.default_rng(1)
    img = rng.normal(100, 20, (30, 40))
    mask = np.zeros(img.shape, bool)
    mask[8:20, 10:25] = True
    spacing = (2.0, 0.5)
    got = imd.inpaint(img, mask, method=kind, spacing=spacing, tol=1e-12)
    ref = reference(img, mask, kind, spacing)
    if kind == "biharmonic":
        ref = np.clip(ref, img[~mask].min(), img[~mask].max())
    np.testing.assert_allclose(got, ref, atol=1e-6 * 255)


@pytest.mark.parametrize("method", LINEAR + ("eed",))
@pytest.mark.parametrize("shape", [(40, 50), (16, 18, 20)])
def test_linear_ramp_restored(method, shape):
    # a ramp is harmonic and biharmonic: restored exactly.  EED starts from
    # the biharmonic fill and keeps it nearly (its tensor varies slightly
    # where the Gaussian pre-smoothing meets the reflecting borders)
    u = ramp(shape, (1.0,) * len(shape))
    mask = np.zeros(shape, bool)
    inner = tuple(slice(3, n - 3) for n in shape)
    rng = np.random.default_rng(0)
    mask[inner] = rng.random(mask[inner].shape) < 0.6
    mask[tuple(slice(n // 3, n // 3 + 5) for n in shape)] = True
    out = imd.inpaint(u, mask, method=method, tol=1e-12)
    assert np.abs(out - u).max() < (1e-3 if method == "eed" else 1e-6) * np.ptp(u)


@pytest.mark.parametrize("method", ("harmonic", "biharmonic", "eed"))
def test_known_pixels_unchanged_and_dtype(camera, method):
    rng = np.random.default_rng(2)
    mask = rng.random(camera.shape) < 0.3
    for dtype in (np.uint8, np.uint16, np.float32, np.float64, np.int16):
        img = camera.astype(dtype)
        out = imd.inpaint(img, mask, method=method)
        assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)
        assert np.array_equal(out[~mask], img[~mask].astype(out.dtype))
        assert np.isfinite(out).all()


def test_nan_under_mask_is_ignored(camera, camera_masks):
    mask = camera_masks["hole"]
    a = imd.inpaint(np.where(mask, np.nan, camera), mask, method="biharmonic")
    b = imd.inpaint(np.where(mask, 1e9, camera), mask, method="biharmonic")
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_harmonic_maximum_principle(camera, camera_masks):
    for mask in camera_masks.values():
        out = imd.inpaint(camera, mask, method="harmonic")
        assert out.min() >= camera[~mask].min() - 1e-6 and out.max() <= camera[~mask].max() + 1e-6


def test_biharmonic_clipped_to_known_range():
    img = np.zeros((40, 40))
    img[:, 20:] = 100.0
    mask = np.zeros(img.shape, bool)
    mask[10:30, 12:28] = True  # a hole across a step: the biharmonic fill overshoots
    out = imd.inpaint(img, mask, method="biharmonic")
    assert out.min() >= 0.0 and out.max() <= 100.0


def test_mask_touching_border_and_corner(camera):
    mask = np.zeros(camera.shape, bool)
    mask[:, :12] = True
    mask[-15:, -15:] = True
    for method in ("harmonic", "biharmonic", "eed"):
        out = imd.inpaint(camera, mask, method=method)
        err = np.abs(out - camera)[mask].mean()
        # a fill of the image's mean would be off by ~50 grey levels here
        assert err < 25, (method, err)
        # border pixels get values from inside, not zeros from outside
        assert out[:, 0].mean() > 0.5 * camera[:, 12].mean()


def test_eed_beats_biharmonic_on_sparse_data(camera, camera_masks):
    for name in ("rand50", "hole"):
        mask = camera_masks[name]
        psnr = {}
        for method in ("biharmonic", "eed"):
            out = imd.inpaint(camera, mask, method=method)
            psnr[method] = 10 * np.log10(255**2 / np.mean((out[mask] - camera[mask]) ** 2))
        assert psnr["eed"] > psnr["biharmonic"] + 0.2, (name, psnr)


def test_auto_is_eed(camera, camera_masks):
    mask = camera_masks["scratch"]
    np.testing.assert_array_equal(imd.inpaint(camera, mask), imd.inpaint(camera, mask, method="eed"))


@pytest.mark.parametrize("method", LINEAR + ("eed",))
def test_missing_slices_filled_smoothly(method, smooth_volume):
    vol = smooth_volume
    mask = np.zeros(vol.shape, bool)
    mask[3] = True
    mask[7:9] = True
    out = imd.inpaint(vol, mask, method=method)
    err = np.abs(out - vol)[mask] / np.ptp(vol)
    # biharmonic continues the slopes across the gap; harmonic and EED
    # bend towards the neighbours' mean (measured: max 0.9 % / 2.8 % / 2.7 %)
    assert err.max() < (0.012 if method == "biharmonic" else 0.035)
    assert err.mean() < 0.01
    assert np.array_equal(out[~mask], vol[~mask])


def test_channels_match_single_channel_runs(camera, camera_masks):
    rgb = np.stack([camera, 255 - camera, 0.5 * camera + 20], axis=-1)
    mask = camera_masks["scratch"]
    for method in LINEAR:
        joint = imd.inpaint(rgb, mask, method=method, channel_axis=-1)
        for c in range(3):
            single = imd.inpaint(rgb[..., c], mask, method=method)
            np.testing.assert_allclose(joint[..., c], single, atol=1e-6 * 255)
    first = imd.inpaint(np.moveaxis(rgb, -1, 0), mask, method="eed", channel_axis=0)
    assert first.shape == (3,) + camera.shape and np.isfinite(first).all()


def test_empty_and_full_masks(camera):
    out = imd.inpaint(camera.astype(np.uint8), np.zeros(camera.shape, bool))
    assert out.dtype == np.float32 and np.array_equal(out, camera.astype(np.float32))
    with pytest.raises(ValueError, match="no known pixels"):
        imd.inpaint(camera, np.ones(camera.shape, bool))


def test_integer_mask_accepted_other_values_rejected(camera, camera_masks):
    mask = camera_masks["hole"]
    np.testing.assert_array_equal(imd.inpaint(camera, mask.astype(np.uint8), method="harmonic"),
                                  imd.inpaint(camera, mask, method="harmonic"))
    with pytest.raises(ValueError, match="only 0 and 1"):
        imd.inpaint(camera, mask.astype(np.uint8) * 255)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"method": "navier"}, ValueError, "method must be one of"),
        ({"method": "harmonic", "radius": 3}, TypeError, "radius"),
        ({"method": "telea", "t": 3}, TypeError, "does not take"),
        ({"tol": -1}, ValueError, "tol"),
        ({"method": "eed", "kappa": 0}, ValueError, "kappa"),
        ({"max_iter": 0, "method": "harmonic"}, ValueError, "max_iter"),
        ({"spacing": (1, 2, 3)}, ValueError, "spacing"),
    ],
)
def test_bad_options(camera, camera_masks, kwargs, error, match):
    with pytest.raises(error, match=match):
        imd.inpaint(camera, camera_masks["hole"], **kwargs)


def test_bad_masks(camera):
    with pytest.raises(ValueError, match="spatial shape"):
        imd.inpaint(camera, np.zeros((3, 3), bool))
    with pytest.raises(TypeError, match="mask"):
        imd.inpaint(camera, np.zeros(camera.shape, dtype="U1"))
    with pytest.raises(ValueError, match="finite outside the mask"):
        bad = camera.copy()
        bad[0, 0] = np.nan
        imd.inpaint(bad, np.zeros(camera.shape, bool) | (np.arange(camera.size).reshape(camera.shape) == 5))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(2, 12), st.integers(2, 12)),
    density=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(["harmonic", "biharmonic", "eed"]),
)
def test_property_fill_within_range_and_known_kept(shape, density, seed, method):
    rng = np.random.default_rng(seed)
    img = rng.uniform(-50, 50, shape)
    mask = rng.random(shape) < density
    if mask.all():
        mask.flat[0] = False
    out = imd.inpaint(img, mask, method=method)
    assert np.isfinite(out).all()
    assert np.array_equal(out[~mask], img[~mask])
    lo, hi = img[~mask].min(), img[~mask].max()
    assert out.min() >= lo - 1e-6 * (hi - lo + 1) and out.max() <= hi + 1e-6 * (hi - lo + 1)


def test_cli_inpaint_png(tmp_path, camera):
    from imdiffuse import cli

    img = camera.astype(np.uint8)
    mask = np.zeros(img.shape, np.uint8)
    mask[50:60, :] = 255
    imd.io.write(tmp_path / "img.png", img)
    imd.io.write(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"
    assert cli.main(["inpaint", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out),
                     "--method", "harmonic", "-q"]) == 0
    got = imd.io.read(out).data
    assert got.dtype == np.uint8
    assert np.array_equal(got[mask == 0], img[mask == 0])
    expected = np.clip(np.rint(imd.inpaint(img, mask != 0, method="harmonic")), 0, 255)
    assert np.abs(got.astype(float) - expected).max() <= 1
    # never overwrites without --overwrite; a mask of the wrong shape is a usage error
    assert cli.main(["inpaint", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out),
                     "-q"]) == 1
    imd.io.write(tmp_path / "small.png", mask[:10, :10])
    assert cli.main(["inpaint", str(tmp_path / "img.png"), "--mask", str(tmp_path / "small.png"), "-o",
                     str(tmp_path / "o2.png"), "-q"]) == 2
    assert not (tmp_path / "o2.png").exists()


def test_cli_inpaint_missing_slices_nifti(tmp_path, smooth_volume):
    from imdiffuse import cli

    vol = smooth_volume.astype(np.float32)
    mask = np.zeros(vol.shape, np.uint8)
    mask[5] = 1
    imd.io.write(tmp_path / "vol.nii.gz", vol, spacing=(2.0, 1.0, 1.0))
    imd.io.write(tmp_path / "mask.nii.gz", mask, spacing=(2.0, 1.0, 1.0))
    out = tmp_path / "out.nii.gz"
    assert cli.main(["inpaint", str(tmp_path / "vol.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz"), "-o",
                     str(out), "--method", "biharmonic", "-q"]) == 0
    got = imd.io.read(out)
    assert got.spacing == (2.0, 1.0, 1.0)
    expected = imd.inpaint(vol, mask != 0, method="biharmonic", spacing=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(got.data, expected, atol=1e-4)
