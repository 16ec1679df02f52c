"""The imdiffuse command line: verbs, exit codes, refusal to overwrite, demo."""

import os
import subprocess
import sys

import numpy as np
import pytest

import imdiffuse as imd
from imdiffuse import cli


def run(*args, cwd=None):
    """Run the CLI in a subprocess (as a user would); returns (code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "imdiffuse.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "IMDIFFUSE_DEBUG": ""})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def ct_file(tmp_path):
    path = tmp_path / "ct.nii.gz"
    imd.io.write(path, imd.data.ct_slice(), spacing=imd.data.SPACING["ct_slice"])
    return path


def test_help_and_version():
    code, out, _ = run("--help")
    assert code == 0 and "smooth" in out and "demo" in out and "info" in out
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"imdiffuse {imd.__version__}"
    code, out, _ = run("smooth", "--help")
    assert code == 0 and "--overwrite" in out and "--scheme" in out


def test_bad_usage_exit_2(tmp_path, ct_file):
    assert run()[0] == 2
    assert run("frobnicate")[0] == 2
    code, _, err = run("smooth", ct_file, "-o", tmp_path / "o.nii.gz", "--t", "-1")
    assert code == 2 and "--t must be a finite number >= 0" in err
    code, _, err = run("smooth", ct_file, "-o", tmp_path / "o.nii.gz", "--t", "1", "--scheme", "magic")
    assert code == 2 and "invalid choice" in err
    assert not (tmp_path / "o.nii.gz").exists()


def test_failed_run_exit_1_one_line(tmp_path):
    code, out, err = run("smooth", tmp_path / "missing.png", "-o", tmp_path / "o.png", "--t", "1")
    assert code == 1
    assert "missing.png" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code, _, err = run("info", bad)
    assert code == 1 and "bad.png" in err and "Traceback" not in err


def test_smooth_nifti_keeps_spacing_and_dtype(tmp_path, ct_file):
    out = tmp_path / "smooth.nii.gz"
    code, stdout, err = run("smooth", ct_file, "-o", out, "--t", "0.5")
    assert code == 0, err
    assert str(out) in stdout
    res = imd.io.read(out)
    src = imd.io.read(ct_file)
    assert res.data.dtype == np.int16  # rounded and clipped to the input's dtype
    np.testing.assert_allclose(res.spacing, src.spacing, rtol=1e-6)
    expected = imd.heat(src.data, 0.5, spacing=src.spacing)
    assert np.abs(res.data - expected).max() <= 0.5 + 1e-3
    # --dtype float32 keeps the full result
    out32 = tmp_path / "smooth32.nii.gz"
    assert run("smooth", ct_file, "-o", out32, "--t", "0.5", "--dtype", "float32")[0] == 0
    np.testing.assert_allclose(imd.io.read(out32).data, expected, atol=1e-3)


def test_smooth_png_and_schemes(tmp_path):
    img = (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8)
    src = tmp_path / "in.png"
    imd.io.write(src, img)
    for scheme in ("exact", "fed", "aos", "explicit"):
        out = tmp_path / f"out_{scheme}.png"
        code, _, err = run("smooth", src, "-o", out, "--t", "2", "--scheme", scheme, "-q")
        assert code == 0, err
        got = imd.io.read(out).data
        assert got.dtype == np.uint8 and got.shape == img.shape
        np.testing.assert_allclose(got, np.clip(np.rint(imd.heat(img, 2.0, scheme=scheme)), 0, 255), atol=1)


def test_refuses_to_overwrite(tmp_path, ct_file):
    out = tmp_path / "o.nii.gz"
    out.write_bytes(b"precious")
    code, _, err = run("smooth", ct_file, "-o", out, "--t", "1")
    assert code == 1 and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    # the input itself is never the output without --overwrite
    before = ct_file.read_bytes()
    code, _, err = run("smooth", ct_file, "-o", ct_file, "--t", "1")
    assert code == 1 and ct_file.read_bytes() == before
    code, _, err = run("smooth", ct_file, "-o", out, "--t", "1", "--overwrite")
    assert code == 0, err
    assert imd.io.read(out).data.shape == (128, 128)


def test_info(ct_file):
    code, out, err = run("info", ct_file)
    assert code == 0, err
    assert "(128, 128)" in out and "int16" in out and "0.661468" in out and "nifti" in out


def test_demo(tmp_path):
    code, out, err = run("demo", "-o", tmp_path / "d")
    assert code == 0, err
    pngs = sorted((tmp_path / "d").glob("*.png"))
    assert len(pngs) >= 4
    for p in pngs:
        assert str(p) in out
        img = imd.io.read(p).data
        assert img.dtype == np.uint8 and img.std() > 5  # a real picture, not blank
    # second run refuses to overwrite, then --overwrite works
    code, _, err = run("demo", "-o", tmp_path / "d")
    assert code == 1 and "--overwrite" in err
    assert run("demo", "-o", tmp_path / "d", "--overwrite", "-q")[0] == 0


def test_demo_smooths_the_noise(tmp_path):
    """The demo's 'after' images are closer to the clean sample than its 'before' images."""
    assert run("demo", "-o", tmp_path, "-q")[0] == 0
    from imdiffuse.demo import _CT_WINDOW, _to_uint8

    clean = _to_uint8(imd.data.ct_slice(), _CT_WINDOW).astype(float)
    noisy = imd.io.read(tmp_path / "ct_noisy.png").data.astype(float)
    smooth = imd.io.read(tmp_path / "ct_heat.png").data.astype(float)
    denoised = imd.io.read(tmp_path / "ct_denoised.png").data.astype(float)
    assert np.abs(smooth - clean).mean() < 0.7 * np.abs(noisy - clean).mean()
    assert np.abs(denoised - clean).mean() < np.abs(smooth - clean).mean()


def test_main_in_process_returns_codes(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "nope.tif")]) == 1
    assert "nope.tif" in capsys.readouterr().err


def test_verbs_registered_as_small_functions():
    assert {"smooth", "info", "demo"} <= set(cli.VERBS)


def test_denoise_verb(tmp_path, ct_file):
    src = imd.io.read(ct_file)
    noisy = (src.data + np.random.default_rng(0).normal(0, 40, src.data.shape)).astype(np.float32)
    noisy_path = tmp_path / "noisy.nii.gz"
    imd.io.write(noisy_path, noisy, like=src)
    out = tmp_path / "clean.nii.gz"
    code, stdout, err = run("denoise", noisy_path, "-o", out)
    assert code == 0, err
    assert "estimated noise sigma" in stdout
    assert "perona_malik diffusivity=" in stdout and "estimated MSE" in stdout  # what SURE chose
    res = imd.io.read(out).data
    assert res.dtype == np.float32 and res.shape == noisy.shape
    # the verb is the Python call on the file's data and spacing (quality is tested in test_tv_denoise)
    np.testing.assert_allclose(res, imd.denoise(noisy, spacing=src.spacing), rtol=1e-5, atol=1e-3)
    clean = src.data.astype(np.float32)
    # this 0.66 mm slice is dense in detail: the best Perona-Malik parameters reach ~0.57 here
    assert np.abs(res - clean).mean() < 0.75 * np.abs(noisy - clean).mean()
    for method in ("tv", "heat", "perona_malik"):
        o = tmp_path / f"{method}.nii.gz"
        assert run("denoise", noisy_path, "-o", o, "--method", method, "--sigma", "40", "-q")[0] == 0
    assert run("denoise", noisy_path, "-o", tmp_path / "k.nii.gz", "--kappa", "30", "--t", "3")[0] == 0
    code, stdout, _ = run("denoise", noisy_path, "-o", tmp_path / "r.nii.gz", "--tuning", "rule")
    assert code == 0 and "estimated MSE" not in stdout
    np.testing.assert_allclose(imd.io.read(tmp_path / "r.nii.gz").data,
                               imd.denoise(noisy, spacing=src.spacing, tuning="rule"), rtol=1e-5, atol=1e-3)
    code, _, err = run("denoise", noisy_path, "-o", tmp_path / "x.nii.gz", "--method", "tv", "--kappa", "3")
    assert code == 2 and "kappa applies to method='perona_malik'" in err
    code, _, err = run("denoise", noisy_path, "-o", tmp_path / "y.nii.gz", "--sigma", "0")
    assert code == 2 and "--sigma must be > 0" in err


@pytest.fixture
def rician_file(tmp_path):
    """An MR slice with 8 % Rician noise, stored as a float32 NIfTI with spacing."""
    mr = imd.data.mr_brain().astype(np.float64)
    s = 0.08 * np.percentile(mr, 99.5)
    rng = np.random.default_rng(11)
    mag = np.hypot(mr + rng.normal(0, s, mr.shape), rng.normal(0, s, mr.shape)).astype(np.float32)
    path = tmp_path / "mr_noisy.nii.gz"
    imd.io.write(path, mag, spacing=imd.data.SPACING["mr_brain"])
    return path, mr, mag


def test_denoise_verb_rician_auto_and_mask(tmp_path, rician_file):
    path, clean, mag = rician_file
    out = tmp_path / "mr_clean.nii.gz"
    code, stdout, err = run("denoise", path, "-o", out)
    assert code == 0, err
    assert "noise model: rician (auto)" in stdout
    res = imd.io.read(out).data
    np.testing.assert_allclose(res, imd.denoise(mag, spacing=imd.data.SPACING["mr_brain"]), rtol=1e-5, atol=1e-2)
    air = clean < 20
    assert res[air].mean() < 0.25 * mag[air].mean()  # the Rician bias is removed from the background
    # a mask file: voxels outside it are written unchanged
    mask = np.zeros(clean.shape, np.uint8)
    mask[32:96, 32:96] = 1
    mask_path = tmp_path / "mask.nii.gz"
    imd.io.write(mask_path, mask, spacing=imd.data.SPACING["mr_brain"])
    out2 = tmp_path / "masked.nii.gz"
    code, stdout, err = run("denoise", path, "-o", out2, "--mask", mask_path, "--noise", "rician")
    assert code == 0, err
    res2 = imd.io.read(out2).data
    np.testing.assert_array_equal(res2[mask == 0], mag[mask == 0])
    assert not np.array_equal(res2[mask == 1], mag[mask == 1])
    code, stdout, err = run("denoise", path, "-o", tmp_path / "auto.nii.gz", "--mask", "auto")
    assert code == 0 and "mask: auto" in stdout, err


def test_denoise_verb_bad_noise_and_mask(tmp_path, rician_file, ct_file):
    path, _, _ = rician_file
    code, _, err = run("denoise", path, "-o", tmp_path / "x.nii.gz", "--noise", "poisson")
    assert code == 2 and "--noise" in err
    small = tmp_path / "small.nii.gz"
    imd.io.write(small, np.ones((8, 8), np.uint8))
    code, _, err = run("denoise", path, "-o", tmp_path / "y.nii.gz", "--mask", small)
    assert code == 2 and "--mask" in err and "(8, 8)" in err and len(err.strip().splitlines()) == 1
    # CT in Hounsfield units has negative values: not magnitude data
    code, _, err = run("denoise", ct_file, "-o", tmp_path / "z.nii.gz", "--noise", "rician")
    assert code == 2 and "noise='rician' needs magnitude data" in err
