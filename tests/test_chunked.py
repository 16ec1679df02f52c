"""imdiffuse.chunked (Dask map_overlap execution) and zarr / OME-Zarr / lazy TIFF I/O.

Equality with the in-memory call is checked on arrays whose chunks are
small compared with the image, so most voxels lie near a chunk border.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("zarr")

import dask  # noqa: E402

import imdiffuse as imd  # noqa: E402
from imdiffuse import chunked  # noqa: E402

TOL = 1e-5  # relative to max |in-memory result|, float32


def rel_err(u, ref):
    return float(np.abs(np.asarray(u, np.float64) - ref).max() / np.abs(ref).max())


def _image(shape, seed=0):
    """Smooth structure + sharp edges + noise, float32 (values ~0..300)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0) * 300.0
    x += (np.indices(shape).sum(0) % 24 > 11) * 60.0
    return (x + rng.normal(0, 8, shape)).astype(np.float32)


IMAGES = {
    2: (_image((96, 90)), (1.0, 0.6), 24),
    3: (_image((36, 54, 54), seed=1), (1.6, 1.0, 0.8), 18),
}

# (name, in-memory call, chunked call); every call gets spacing=
FILTERS = [
    ("heat-exact", lambda a, **k: imd.heat(a, 2.0, **k), lambda d, **k: chunked.heat(d, 2.0, **k)),
    ("heat-fed", lambda a, **k: imd.heat(a, 2.0, scheme="fed", **k),
     lambda d, **k: chunked.heat(d, 2.0, scheme="fed", **k)),
    ("heat-aos", lambda a, **k: imd.heat(a, 2.0, scheme="aos", **k),
     lambda d, **k: chunked.heat(d, 2.0, scheme="aos", **k)),
    ("perona_malik", lambda a, **k: imd.perona_malik(a, 2.0, kappa=12.0, **k),
     lambda d, **k: chunked.perona_malik(d, 2.0, kappa=12.0, **k)),
    ("perona_malik-catte-fed", lambda a, **k: imd.perona_malik(a, 2.0, kappa=12.0, sigma=1.0, **k),
     lambda d, **k: chunked.perona_malik(d, 2.0, kappa=12.0, sigma=1.0, **k)),
    ("tv_flow", lambda a, **k: imd.tv_flow(a, 6.0, epsilon=2.0, **k),
     lambda d, **k: chunked.tv_flow(d, 6.0, epsilon=2.0, **k)),
    ("edge_enhancing-explicit", lambda a, **k: imd.edge_enhancing(a, 2.0, kappa=8.0, scheme="explicit", **k),
     lambda d, **k: chunked.edge_enhancing(d, 2.0, kappa=8.0, scheme="explicit", **k)),
    ("edge_enhancing-fed", lambda a, **k: imd.edge_enhancing(a, 2.0, kappa=8.0, **k),
     lambda d, **k: chunked.edge_enhancing(d, 2.0, kappa=8.0, **k)),
    ("coherence_enhancing-fed", lambda a, **k: imd.coherence_enhancing(a, 2.0, rho=1.0, **k),
     lambda d, **k: chunked.coherence_enhancing(d, 2.0, rho=1.0, **k)),
    ("coherence_enhancing-explicit",
     lambda a, **k: imd.coherence_enhancing(a, 1.0, rho=1.0, scheme="explicit", **k),
     lambda d, **k: chunked.coherence_enhancing(d, 1.0, rho=1.0, scheme="explicit", **k)),
]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name,mem,chk", FILTERS, ids=[f[0] for f in FILTERS])
def test_equal_to_in_memory_on_chunk_borders(name, mem, chk, ndim):
    x, spacing, c = IMAGES[ndim]
    ref = mem(x, spacing=spacing)
    out = chk(da.from_array(x, chunks=c), spacing=spacing)
    assert isinstance(out, da.Array) and out.dtype == np.float32 and out.shape == x.shape
    u = out.compute(scheduler="threads")
    assert u.dtype == np.float32
    assert rel_err(u, ref) <= TOL, name
    # the chunks really cut the image and a too-small halo is visibly wrong (the test can fail)
    assert any(len(ch) > 1 for ch in out.chunks)
    if name != "heat-exact" and not name.endswith("enhancing-fed"):  # tensor FED: exact halo per cycle
        bad = chk(da.from_array(x, chunks=c), spacing=spacing, depth=1).compute()
        assert rel_err(bad, ref) > 10 * TOL


def _fixed_limit_tensor_fed(x, spacing, mode, **kw):
    """In-memory FED with the universal step limit: what the chunked tensor filters compute."""
    from imdiffuse._grid import prepare
    from imdiffuse.schemes import integrate
    from imdiffuse.tensor import TensorDiffusion

    array, grid = prepare(x, spacing)
    t = kw.pop("t")
    op = TensorDiffusion(grid, mode, fixed_limit=True, **kw)
    return grid.from_canonical(integrate(op, grid.to_canonical(array), t, "fed"))


@pytest.mark.parametrize("ndim", [2, 3])
def test_tensor_fed_universal_limit(ndim):
    """fed_limit="universal": one streaming pass, equal to in-memory FED with the universal limit."""
    x, spacing, c = IMAGES[ndim]
    d = da.from_array(x, chunks=c)
    eed = chunked.edge_enhancing(d, 3.0, kappa=8.0, spacing=spacing, fed_limit="universal").compute()
    ref = _fixed_limit_tensor_fed(x, spacing, 0, t=3.0, sigma=1.0, rho=0.0, kind=4, lam=64.0)
    assert rel_err(eed, ref) <= TOL
    # and it stays close to the in-memory FED with its data-dependent limit
    assert rel_err(eed, imd.edge_enhancing(x, 3.0, kappa=8.0, spacing=spacing)) < 5e-3
    ced = chunked.coherence_enhancing(d, 3.0, rho=1.5, spacing=spacing, fed_limit="universal").compute()
    ref = _fixed_limit_tensor_fed(x, spacing, 1, t=3.0, sigma=0.5, rho=1.5)
    assert rel_err(ced, ref) <= TOL


def test_tensor_fed_global_on_disk(tmp_path):
    """fed_limit="global" with workdir: cycles go through zarr stores, only the last one is kept."""
    x, spacing, c = IMAGES[3]
    out = chunked.edge_enhancing(da.from_array(x, chunks=c), 2.0, kappa=8.0, spacing=spacing, workdir=tmp_path)
    (folder,) = list(tmp_path.iterdir())
    assert folder.name.startswith("imdiffuse-fed-") and len(list(folder.iterdir())) == 1
    assert rel_err(out.compute(), imd.edge_enhancing(x, 2.0, kappa=8.0, spacing=spacing)) <= TOL


def test_denoise_eed_equal_to_in_memory():
    clean = imd.data.phantom3d((24, 48, 48))
    noisy = (clean + np.random.default_rng(5).normal(0, 20, clean.shape)).astype(np.float32)
    d = da.from_array(noisy, chunks=(12, 24, 24))
    params = chunked.denoise_parameters(d, method="eed", spacing=(2.0, 1.0, 1.0))
    out = chunked.denoise(d, spacing=(2.0, 1.0, 1.0), **params).compute()
    assert rel_err(out, imd.denoise(noisy, spacing=(2.0, 1.0, 1.0), **params)) <= TOL


def test_float64_channels_and_numpy_input():
    x, spacing, c = IMAGES[2]
    rgb = np.stack([x, 0.5 * x, x[::-1]], axis=-1).astype(np.float64)
    out = chunked.perona_malik(rgb, 3.0, kappa=10.0, spacing=spacing, channel_axis=-1, chunks=24)
    assert out.dtype == np.float64 and out.chunks[-1] == (3,)
    ref = imd.perona_malik(rgb, 3.0, kappa=10.0, spacing=spacing, channel_axis=-1)
    assert rel_err(out.compute(), ref) <= 1e-10
    u8 = np.clip(x, 0, 255).astype(np.uint8)
    out = chunked.heat(da.from_array(u8, chunks=c), 2.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.compute(), imd.heat(u8, 2.0))


def test_global_kappa_identical_across_chunks(monkeypatch):
    """kappa='auto' is estimated once and every chunk receives that value."""
    from imdiffuse import nonlinear

    x, spacing, c = IMAGES[3]
    seen = []
    original = nonlinear.perona_malik

    def spy(block, t, **kw):
        seen.append(kw["kappa"])
        return original(block, t, **kw)

    monkeypatch.setattr(nonlinear, "perona_malik", spy)
    out = chunked.perona_malik(da.from_array(x, chunks=c), 2.0, spacing=spacing).compute(scheduler="sync")
    n_chunks = math.prod(math.ceil(n / c) for n in x.shape)
    assert len(seen) == n_chunks and len(set(seen)) == 1
    assert seen[0] == imd.estimate_kappa(x, spacing=spacing)  # the whole array is the sample here
    monkeypatch.undo()
    assert rel_err(out, imd.perona_malik(x, 2.0, spacing=spacing)) <= TOL


def test_denoise_parameters_global_and_equal(monkeypatch):
    import importlib

    dn = importlib.import_module("imdiffuse.denoise")

    clean = imd.data.phantom3d((32, 64, 64))
    noisy = (clean + np.random.default_rng(3).normal(0, 20, clean.shape)).astype(np.float32)
    spacing = (2.0, 1.0, 1.0)
    d = da.from_array(noisy, chunks=(16, 32, 32))
    params = chunked.denoise_parameters(d, spacing=spacing, tuning="rule")
    assert params["method"] == "perona_malik" and params["noise"] == "gaussian"
    assert params["diffusivity"] is None and params["regularization"] is None  # the rule's
    assert params["sigma"] == pytest.approx(imd.estimate_noise(noisy), rel=1e-12)
    assert 0 < params["t"] and params["kappa"] > 0
    seen = []
    original = dn.denoise

    def spy(block, **kw):
        if kw.get("t") is not None:  # the chunks (not the stopping-time run on the sample)
            seen.append(tuple(kw[k] for k in ("method", "noise", "sigma", "t", "kappa")))
        return original(block, **kw)

    monkeypatch.setattr(dn, "denoise", spy)
    graph = chunked.denoise(d, spacing=spacing, tuning="rule")
    out = graph.compute(scheduler="sync")
    monkeypatch.undo()
    assert graph.numblocks == (2, 2, 2) and len(seen) == 8 and len(set(seen)) == 1
    ref = imd.denoise(noisy, spacing=spacing, **params)
    assert rel_err(out, ref) <= TOL
    assert np.abs(out - clean).mean() < 0.5 * np.abs(noisy - clean).mean()
    # a large array's parameters come from a mosaic sample: deterministic
    p1 = chunked.denoise_parameters(d, spacing=spacing, sample_size=16**3, stop="none", tuning="rule")
    p2 = chunked.denoise_parameters(d, spacing=spacing, sample_size=16**3, stop="none", tuning="rule")
    assert p1 == p2 and p1["sigma"] == pytest.approx(params["sigma"], rel=0.2)


def test_denoise_parameters_sure_on_the_sample():
    """SURE's choice on the sample becomes explicit parameters; the chunks equal the in-memory call with them."""
    clean = imd.data.phantom3d((24, 96, 96))
    noisy = (clean + np.random.default_rng(4).normal(0, 15, clean.shape)).astype(np.float32)
    d = da.from_array(noisy, chunks=(24, 48, 48))
    params = chunked.denoise_parameters(d)
    # the whole array is the sample here: the same candidate as the in-memory SURE search
    assert params["diffusivity"] == "rational" and params["regularization"] == 0.0 and params["t"] > 0
    out = chunked.denoise(d).compute()
    ref = imd.denoise(noisy, **params)
    assert rel_err(out, ref) <= TOL
    assert ((out - clean) ** 2).mean() < 0.6 * ((imd.denoise(noisy, tuning="rule") - clean) ** 2).mean()
    with pytest.raises(ValueError, match="diffusivity applies to method='perona_malik' or 'eed' only"):
        chunked.denoise_parameters(d, method="heat", diffusivity="rational")


def test_sample_mosaic():
    x = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    s = chunked.sample(da.from_array(x, chunks=50), size=64 * 64, block=16)
    assert s.shape == (64, 64)
    assert s[0, 0] == x[0, 0] and s[-1, -1] == x[-1, -1]  # corners included
    np.testing.assert_array_equal(s[:16, :16], x[:16, :16])  # whole blocks, in order
    assert chunked.sample(x, size=10**6).shape == x.shape  # small: the whole array


def test_distributed_client_same_answer():
    distributed = pytest.importorskip("distributed")
    x, spacing, c = IMAGES[2]
    graph = chunked.perona_malik(da.from_array(x, chunks=c), 3.0, kappa=12.0, sigma=0.5, spacing=spacing)
    local = graph.compute(scheduler="threads")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        remote = client.compute(graph).result()
    np.testing.assert_array_equal(remote, local)
    assert rel_err(remote, imd.perona_malik(x, 3.0, kappa=12.0, sigma=0.5, spacing=spacing)) <= TOL


def test_unsupported_raise_clear_errors():
    x, spacing, c = IMAGES[2]
    d = da.from_array(x, chunks=c)
    with pytest.raises(chunked.ChunkedNotSupported, match="mask"):
        chunked.denoise(d, mask=np.ones(x.shape, bool))
    with pytest.raises(chunked.ChunkedNotSupported, match="chunked.tv_flow"):
        chunked.denoise(d, method="tv")
    with pytest.raises(chunked.ChunkedNotSupported, match="not local.*narrow="):
        chunked.distance(d - 100, max_bytes=100)
    with pytest.raises(ValueError, match="fed_limit must be"):
        chunked.edge_enhancing(d, 1.0, fed_limit="local")
    with pytest.raises(ValueError, match="scheme='aos' is not available"):
        chunked.edge_enhancing(d, 1.0, scheme="aos")
    with pytest.raises(ValueError, match="kappa must be"):
        chunked.perona_malik(d, 1.0, kappa=-1.0)
    with pytest.raises(TypeError, match="stop_when"):
        chunked.perona_malik(d, 1.0, stop_when=lambda u, t: True)
    with pytest.raises(TypeError, match="bool"):
        chunked.heat(da.zeros((8, 8), dtype=bool, chunks=4), 1.0)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        chunked.heat(da.zeros((8,), chunks=4), 1.0)
    with pytest.raises(ValueError, match="depth"):
        chunked.heat(d, 1.0, depth=(1, 2, 3))


def test_fmm_in_memory_fallback():
    phi = np.hypot(*np.mgrid[-30:31, -30:31].astype(float)) - 12.0
    d = chunked.distance(da.from_array(phi, chunks=20), dx=0.5)
    assert isinstance(d, da.Array) and d.chunks == da.from_array(phi, chunks=20).chunks
    np.testing.assert_array_equal(d.compute(), imd.fmm.distance(phi, dx=0.5))
    speed = np.ones_like(phi)
    T = chunked.arrival_time(da.from_array(speed, chunks=20), [(30, 30)])
    np.testing.assert_array_equal(T.compute(), imd.fmm.arrival_time(speed, [(30, 30)]))
    tt = chunked.travel_time(da.from_array(phi, chunks=20), speed)
    np.testing.assert_array_equal(tt.compute(), imd.fmm.travel_time(phi, speed))


def test_halo_rule():
    assert chunked.halo(2.0, (1.0,)) == (math.ceil(chunked.HALO_FACTOR * 2.0) + chunked.HALO_STENCIL,)
    # thicker spacing -> fewer cells; the exact bound caps it
    deep, thin = chunked.halo(8.0, (0.5, 2.0))
    assert deep > thin
    assert chunked.halo(8.0, (0.5, 2.0), max_cells=5) == (5, 5)


# --------------------------------------------------------------------------- I/O


@pytest.mark.parametrize("name", ["vol.zarr", "vol.ome.zarr"])
def test_zarr_round_trip_with_spacing(tmp_path, name):
    x = IMAGES[3][0]
    d = da.from_array(x, chunks=(8, 16, 16))
    path = imd.io.write(tmp_path / name, d, spacing=(2.5, 0.7, 0.6))
    img = imd.io.read(path)
    assert isinstance(img.data, da.Array)  # lazy
    assert img.spacing == (2.5, 0.7, 0.6) and img.format == name.split(".", 1)[1].replace(".", "-")
    assert img.meta["chunks"] == (8, 16, 16)
    np.testing.assert_array_equal(img.data.compute(), x)
    with pytest.raises(FileExistsError):
        imd.io.write(path, d)
    imd.io.write(path, 2 * d, overwrite=True)
    np.testing.assert_array_equal(imd.io.read(path).data.compute(), 2 * x)
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary directory left behind


def test_ome_zarr_channels_and_spec_metadata(tmp_path):
    import zarr

    x = IMAGES[2][0]
    rgb = np.stack([x, x + 1, x + 2], axis=0)
    path = imd.io.write(tmp_path / "c.ome.zarr", rgb, spacing=(0.5, 0.25), channel_axis=0, chunks=(3, 32, 32))
    img = imd.io.read(path)
    assert img.channel_axis == 0 and img.spacing == (0.5, 0.25)
    ms = zarr.open_group(str(path), mode="r").attrs["ome"]["multiscales"][0]
    assert [a["type"] for a in ms["axes"]] == ["channel", "space", "space"]
    assert ms["datasets"][0]["coordinateTransformations"][0] == {"type": "scale", "scale": [1.0, 0.5, 0.25]}
    # an OME-NGFF 0.4 file (attributes not nested under "ome") is read too
    g = zarr.open_group(str(tmp_path / "v04.zarr"), mode="w", zarr_format=2)
    g.create_array("s0", shape=(4, 6, 8), chunks=(2, 3, 4), dtype="uint16")
    g.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": n, "type": "space", "unit": "micrometer"}
                                                            for n in "zyx"],
                               "datasets": [{"path": "s0", "coordinateTransformations": [
                                   {"type": "scale", "scale": [3.0, 0.2, 0.2]}]}]}]
    img = imd.io.read(tmp_path / "v04.zarr")
    assert img.format == "ome-zarr" and img.spacing == (3.0, 0.2, 0.2) and img.meta["unit"] == "micrometer"


def test_failed_zarr_write_leaves_nothing(tmp_path):
    def boom(block):
        raise RuntimeError("disk full")

    d = da.from_array(np.zeros((16, 16), np.float32), chunks=8).map_blocks(boom, dtype=np.float32)
    with pytest.raises(imd.io.ImageFileError, match="disk full"):
        imd.io.write(tmp_path / "x.zarr", d)
    assert os.listdir(tmp_path) == []


def test_lazy_tiff(tmp_path):
    x = IMAGES[3][0]
    path = imd.io.write(tmp_path / "v.tif", x, spacing=(2.0, 0.5, 0.5))
    img = imd.io.read(path, lazy=True)
    assert isinstance(img.data, da.Array) and img.spacing == (2.0, 0.5, 0.5)
    out = chunked.heat(img.data, 1.0, spacing=img.spacing, chunks=(8, 16, 16))
    np.testing.assert_array_equal(out.compute(), imd.heat(x, 1.0, spacing=img.spacing))


def test_cli_denoise_streams_zarr(tmp_path):
    clean = imd.data.phantom3d((24, 32, 32))
    noisy = (clean + np.random.default_rng(4).normal(0, 20, clean.shape)).astype(np.float32)
    src = imd.io.write(tmp_path / "in.ome.zarr", da.from_array(noisy, chunks=16), spacing=(2.0, 1.0, 1.0))
    out = tmp_path / "out.zarr"
    proc = subprocess.run([sys.executable, "-m", "imdiffuse.cli", "denoise", str(src), "-o", str(out),
                           "--chunks", "12"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "noise model: gaussian" in proc.stdout and "wrote" in proc.stdout
    res = imd.io.read(out)
    assert res.spacing == (2.0, 1.0, 1.0) and res.data.chunksize == (12, 12, 12)
    params = chunked.denoise_parameters(noisy, spacing=(2.0, 1.0, 1.0))
    ref = imd.denoise(noisy, spacing=(2.0, 1.0, 1.0), **params)
    assert rel_err(res.data.compute(), ref) <= TOL
    # refuses to overwrite, and --mask is refused with a clear message
    proc = subprocess.run([sys.executable, "-m", "imdiffuse.cli", "denoise", str(src), "-o", str(out),
                           "--chunks", "12"], capture_output=True, text=True)
    assert proc.returncode == 1 and "exists" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "imdiffuse.cli", "denoise", str(src), "-o",
                           str(tmp_path / "m.zarr"), "--mask", "auto"], capture_output=True, text=True)
    assert proc.returncode in (1, 2) and "--mask is not supported" in proc.stderr


def test_dask_config_untouched():
    """The module does not change the user's scheduler."""
    before = dask.config.get("scheduler", None)
    chunked.heat(da.zeros((16, 16), chunks=8), 1.0).compute()
    assert dask.config.get("scheduler", None) == before
