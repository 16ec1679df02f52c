"""Benchmark Rician (MR magnitude) denoising: ``imdiffuse.denoise`` against DIPY, MedPy and SimpleITK.

Data: four MR-like magnitude volumes taken as the *clean* signal A (real scans
carry their own noise; here they are the reference), with Rician noise added,
``M = |A + n1 + i n2|``, n1, n2 ~ N(0, sigma^2) seeded per volume and level,
sigma = 4 % and 10 % of the clean volume's range (max - min):

* ``epi``: nibabel's ``tests/data/example4d.nii.gz``, volume 0 (128x96x24,
  a real EPI volume, masked background);
* ``anatomical``: nibabel's ``tests/data/anatomical.nii`` (33x41x25, a crop
  of the brain without air around it; its few negative values clipped to 0);
* ``S0``: DIPY's ``dipy/data/files/S0_10slices.nii.gz`` (128x128x10, the
  b = 0 volume of a diffusion scan, air around the head);
* ``phantom``: ``imdiffuse.data.phantom3d((64, 64, 64))`` (piecewise constant);
* ``mr_small``: pydicom's ``data/test_files/MR_small.dcm`` (a 64x64 MR slice,
  2-D; no air: its dark surround is faint signal at ~13 % of the range).
  DIPY's functions need 3-D arrays: they get it as 64x64x1.

Sections (``--section`` picks some; default all):

A. Quality.  PSNR (data_range = clean max - min) over the whole volume, and the
   mean of the output over the background (voxels where the clean volume is
   below 2 % of its range; the clean mean there is printed too, it is 0 on
   all four volumes up to a few voxels).  Methods:

   * ``noisy``: the Rician data itself;
   * ``ours auto``: ``denoise(M)``, blind (noise model and sigma estimated);
   * ``ours gaussian``: ``denoise(M, noise="gaussian")``: same diffusion, no
     bias correction (shows what the correction adds);
   * ``dipy nlmeans``: ``dipy.denoise.nlmeans.nlmeans(M, sigma=true_sigma,
     rician=True)`` (blockwise, patch radius 1, block radius 5: its defaults);
   * ``medpy ad``: MedPy ``anisotropic_diffusion`` (option 1, gamma 0.1), an
     *oracle* search knowing sigma and the clean volume: kappa / sigma in
     {1, 2, 4} x niter in {2, 5, 10, 20} (chained calls; exact), best PSNR;
   * ``sitk curvflow``: SimpleITK ``CurvatureFlow``, time step 0.0625,
     iterations in {2, 5, 10, 20}, best PSNR;
   * ``sitk gradad``: SimpleITK ``GradientAnisotropicDiffusion``, time step
     0.0625, conductance in {1, 2, 4} x iterations {2, 5, 10, 20}, best PSNR.

   The peers assume Gaussian noise: whatever their parameters, their output
   keeps the Rician bias (background near 1.25 sigma).

B. Noise level.  Estimated sigma / true sigma - 1 for ``estimate_noise(M)``
   (noise="auto", with the model it chose), ``estimate_noise(M,
   noise="rician")``, DIPY ``estimate_sigma(M, N=1)`` and DIPY ``piesno(M,
   N=1)`` (goal for ours: within 10 %).

C. Speed.  A 128x128x64 float32 volume (S0 mirrored along its 10 slices to 64,
   plus Rician noise of 4 % of its range): ``denoise(M)`` (blind, estimation
   included), ``denoise(M, sigma=true)`` and DIPY ``nlmeans(M, sigma=true,
   rician=True, num_threads=n)`` with 1 and 2 threads (Numba and DIPY), best
   of N after a warm-up call (goal for ours: < 1 s with 2 threads).

Usage::

    python benchmarks/bench_rician.py              # full run (a few minutes on 2 cores)
    python benchmarks/bench_rician.py --quick      # smoke test (< 2 min)
    python benchmarks/bench_rician.py --section C  # one section (repeatable)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, max_threads, print_header, print_table, set_threads  # noqa: E402

import imdiffuse as imd  # noqa: E402

try:
    from dipy.denoise.nlmeans import nlmeans
    from dipy.denoise.noise_estimate import estimate_sigma, piesno
except ImportError:  # optional peer
    nlmeans = estimate_sigma = piesno = None
try:
    from medpy.filter.smoothing import anisotropic_diffusion
except ImportError:  # optional peer
    anisotropic_diffusion = None
try:
    import SimpleITK as sitk
except ImportError:  # optional peer
    sitk = None

LEVELS = (0.04, 0.10)
VOLUMES = ("epi", "anatomical", "S0", "phantom", "mr_small")
NITERS = (2, 5, 10, 20)
KAPPA_MULT = (1.0, 2.0, 4.0)
CONDUCTANCES = (1.0, 2.0, 4.0)
SITK_STEP = 0.0625  # stability limit of ITK's 3-D anisotropic diffusion filters with unit spacing


# ------------------------------------------------------------------ data


def _nibabel_file(name: str) -> Path:
    import nibabel

    return Path(nibabel.__file__).resolve().parent / "tests" / "data" / name


def _dipy_file(name: str) -> Path:
    import dipy

    return Path(dipy.__file__).resolve().parent / "data" / "files" / name


def _as3d(a: np.ndarray) -> np.ndarray:
    """DIPY's estimators and nlmeans take 3-D (or 4-D) arrays: a 2-D slice as (M, N, 1), float64."""
    a = np.asarray(a, dtype=np.float64)
    return a[..., None] if a.ndim == 2 else a


def _from3d(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    return out.reshape(like.shape)


def clean_volume(name: str) -> np.ndarray:
    """The clean reference A (float64, >= 0)."""
    import nibabel as nib

    if name == "epi":
        a = np.asanyarray(nib.load(_nibabel_file("example4d.nii.gz")).dataobj)[..., 0]
    elif name == "anatomical":
        a = np.asanyarray(nib.load(_nibabel_file("anatomical.nii")).dataobj)
    elif name == "S0":
        a = np.asanyarray(nib.load(_dipy_file("S0_10slices.nii.gz")).dataobj)[..., 0]
    elif name == "phantom":
        a = imd.data.phantom3d((64, 64, 64))
    elif name == "mr_small":
        import pydicom

        a = pydicom.dcmread(Path(pydicom.__file__).resolve().parent / "data" / "test_files" / "MR_small.dcm").pixel_array
    else:
        raise ValueError(name)
    return np.clip(np.asarray(a, dtype=np.float64), 0.0, None)


def add_rician(clean: np.ndarray, sigma: float, key: str) -> np.ndarray:
    """M = |A + n1 + i n2|, seeded by ``key``; float32 like a scanner's magnitude after a cast."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    m = np.hypot(clean + rng.normal(0.0, sigma, clean.shape), rng.normal(0.0, sigma, clean.shape))
    return m.astype(np.float32)


def speed_volume() -> np.ndarray:
    """128x128x64: S0's 10 slices mirrored back and forth along z."""
    s0 = clean_volume("S0")
    idx = np.arange(64) % 20
    idx = np.where(idx < 10, idx, 19 - idx)
    return s0[:, :, idx]


# ------------------------------------------------------------------ metrics


def psnr(clean: np.ndarray, out: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((np.asarray(out, dtype=np.float64) - clean) ** 2))
    return 10.0 * math.log10(data_range**2 / mse) if mse > 0 else math.inf


class Best:
    def __init__(self):
        self.psnr, self.params, self.out = -math.inf, None, None

    def offer(self, p, params, out):
        if p > self.psnr:
            self.psnr, self.params, self.out = p, params, out


def search_medpy(noisy, clean, sigma, rng_):
    best = Best()
    for km in KAPPA_MULT:
        u, done = noisy.astype(np.float64), 0
        for n in NITERS:
            u = anisotropic_diffusion(u, niter=n - done, kappa=km * sigma, gamma=0.1, option=1)
            done = n
            best.offer(psnr(clean, u, rng_), f"kappa={km:g}s niter={n}", u)
    return best


def search_sitk(noisy, clean, kind, rng_):
    best = Best()
    image = sitk.GetImageFromArray(noisy.astype(np.float32))
    for c in (CONDUCTANCES if kind == "gradad" else (None,)):
        for n in NITERS:
            if kind == "gradad":
                f = sitk.GradientAnisotropicDiffusionImageFilter()
                f.SetConductanceParameter(c)
            else:
                f = sitk.CurvatureFlowImageFilter()
            f.SetTimeStep(SITK_STEP)
            f.SetNumberOfIterations(n)
            u = sitk.GetArrayFromImage(f.Execute(image))
            best.offer(psnr(clean, u, rng_), (f"cond={c:g} " if c else "") + f"niter={n}", u)
    return best


# ------------------------------------------------------------------ sections


def cases(args):
    names = ("epi", "phantom") if args.quick else VOLUMES
    levels = (0.10,) if args.quick else LEVELS
    for name in names:
        clean = clean_volume(name)
        if args.quick and name == "phantom":
            clean = clean_volume("phantom")[16:48]
        rng_ = float(clean.max() - clean.min())
        for level in levels:
            sigma = level * rng_
            yield name, level, clean, rng_, sigma, add_rician(clean, sigma, f"{name}-{level}")


def section_a(args, state):
    print("A. QUALITY")
    print("----------")
    headers = ["volume", "level", "method", "PSNR", "bg mean", "bg mean/sigma", "vs dipy dB", "s", "parameters"]
    rows = []
    wins = []
    for name, level, clean, rng_, sigma, noisy in cases(args):
        bg = clean < 0.02 * rng_
        results = {"noisy": (noisy, None, "")}
        t0 = time.perf_counter()
        results["ours auto"] = (imd.denoise(noisy), time.perf_counter() - t0, "blind")
        t0 = time.perf_counter()
        results["ours gaussian"] = (imd.denoise(noisy, noise="gaussian"), time.perf_counter() - t0, "noise='gaussian'")
        if nlmeans is not None:
            t0 = time.perf_counter()
            out = _from3d(nlmeans(_as3d(noisy), sigma=sigma, mask=np.ones(_as3d(noisy).shape, bool), rician=True,
                                  num_threads=args.threads), noisy)
            results["dipy nlmeans"] = (out, time.perf_counter() - t0, "sigma=true, rician=True")
        if anisotropic_diffusion is not None:
            b = search_medpy(noisy, clean, sigma, rng_)
            results["medpy ad (oracle)"] = (b.out, None, b.params)
        if sitk is not None:
            for kind in ("curvflow", "gradad"):
                b = search_sitk(noisy, clean, kind, rng_)
                results[f"sitk {kind} (oracle)"] = (b.out, None, b.params)
        ref = psnr(clean, results["dipy nlmeans"][0], rng_) if "dipy nlmeans" in results else None
        print(f"  {name} {clean.shape} level {level:.0%}: sigma {sigma:.4g}, clean bg mean {clean[bg].mean():.3g} "
              f"({bg.mean():.0%} of the voxels); load {load_average()}", flush=True)
        for method, (out, sec, params) in results.items():
            p = psnr(clean, out, rng_)
            m = float(np.mean(np.asarray(out, dtype=np.float64)[bg]))
            rows.append([name, f"{level:.0%}", method, p, m, m / sigma, None if ref is None else p - ref, sec, params])
        if ref is not None:
            wins.append(psnr(clean, results["ours auto"][0], rng_) - ref)
        state.setdefault("quality", []).append((name, level, {k: psnr(clean, v[0], rng_) for k, v in results.items()}))
    print()
    print("PSNR (dB, data_range = clean max - min) over the whole volume; bg mean: mean of the output where the clean")
    print("volume is < 2 % of its range (0 is right; Rician noise puts it at 1.25 sigma); 'vs dipy': PSNR minus DIPY")
    print(f"nlmeans' (goal for 'ours auto': >= 0); s: seconds of one call ({args.threads} threads, first call excluded")
    print("by the warm-up in main()). Peers marked oracle: best PSNR over a small grid, chosen with the clean volume.")
    print_table(rows, headers, {"PSNR": ".2f", "bg mean": ".4g", "bg mean/sigma": ".3f", "vs dipy dB": "+.2f",
                                "s": ".2f"})
    if wins:
        print(f"ours auto - dipy nlmeans: min {min(wins):+.2f} dB, mean {np.mean(wins):+.2f} dB over {len(wins)} cases")
    print()


def section_b(args, state):
    print("B. NOISE LEVEL")
    print("--------------")
    headers = ["volume", "level", "true sigma", "ours auto", "model", "err auto", "ours rician", "err rician",
               "dipy estimate_sigma N=1", "err", "dipy piesno N=1", "err "]
    rows = []
    for name, level, clean, rng_, sigma, noisy in cases(args):
        s_auto, model = imd.estimate_noise(noisy, return_model=True)
        try:
            s_ric = imd.estimate_noise(noisy, noise="rician")
        except ValueError:
            s_ric = None
        s_dipy = s_pie = None
        if estimate_sigma is not None:
            s_dipy = float(np.mean(estimate_sigma(_as3d(noisy), N=1)))
            try:
                s_pie = float(np.mean(piesno(_as3d(noisy), N=1, return_mask=False)))
            except Exception:  # noqa: BLE001  (piesno can fail to converge on small volumes)
                s_pie = None

        def err(s):
            return None if s is None else s / sigma - 1.0

        rows.append([name, f"{level:.0%}", sigma, s_auto, model, err(s_auto), s_ric, err(s_ric), s_dipy, err(s_dipy),
                     s_pie, err(s_pie)])
    print("sigma of the real/imaginary Gaussian noise; err = estimate / true - 1 (goal for ours: |err| <= 0.10).")
    print("DIPY's estimate_sigma uses local variances with its Rician correction (N=1); piesno treats the last")
    print("axis's slices as repeated realisations of the same background.")
    print_table(rows, headers, {h: "+.3f" for h in headers if h.startswith("err")}
                | {h: ".4g" for h in ("true sigma", "ours auto", "ours rician", "dipy estimate_sigma N=1",
                                      "dipy piesno N=1")})
    print()


def section_c(args, state):
    print("C. SPEED")
    print("--------")
    clean = speed_volume()
    sigma = 0.04 * float(np.ptp(clean))
    noisy = add_rician(clean, sigma, "speed")
    repeat = 1 if args.quick else 3
    headers = ["method", "threads", "seconds", "dipy/this", "PSNR"]
    rows = []
    rng_ = float(np.ptp(clean))
    times = {}
    for nt in (1, 2):
        nt = set_threads(nt)
        runs = [("ours denoise(M) (blind)", lambda: imd.denoise(noisy)),
                ("ours denoise(M, sigma=true)", lambda: imd.denoise(noisy, sigma=sigma, noise="rician"))]
        if nlmeans is not None:
            runs.append(("dipy nlmeans(sigma=true, rician)",
                         lambda: nlmeans(noisy, sigma=sigma, rician=True, num_threads=nt)))
        for label, fn in runs:
            sec, out = best_time(fn, repeat=repeat, warmup=1)
            times[(label, nt)] = sec
            rows.append([label, nt, sec, None, psnr(clean, out, rng_)])
        print(f"  threads {nt}: done; load {load_average()}", flush=True)
    for r in rows:
        d = times.get(("dipy nlmeans(sigma=true, rician)", r[1]))
        r[3] = None if d is None else d / r[2]
    set_threads(max_threads())
    print()
    print(f"{clean.shape[0]}x{clean.shape[1]}x{clean.shape[2]} float32 (S0 mirrored to 64 slices), Rician sigma = 4 % "
          f"of the range ({sigma:.4g}); best of {repeat} after one warm-up call. Goal for ours: < 1 s with 2 threads.")
    print_table(rows, headers, {"seconds": ".3f", "dipy/this": ".1f", "PSNR": ".2f"})
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="EPI and a 32x64x64 phantom at 10 %% only, 1 repeat (< 2 min)")
    parser.add_argument("--section", choices=("A", "B", "C"), action="append",
                        help="run only this section (repeatable); default all")
    parser.add_argument("--threads", type=int, default=2, help="threads for sections A and B (default 2)")
    args = parser.parse_args(argv)
    sections = args.section or ["A", "B", "C"]

    import numba
    import scipy

    versions = {"imdiffuse": getattr(imd, "__version__", "?"), "numpy": np.__version__, "scipy": scipy.__version__,
                "numba": numba.__version__}
    try:
        import dipy

        versions["dipy"] = dipy.__version__
    except ImportError:
        versions["dipy"] = "skipped (not installed)"
    try:
        import medpy

        versions["medpy"] = getattr(medpy, "__version__", "installed")
    except ImportError:
        versions["medpy"] = "skipped (not installed)"
    versions["SimpleITK"] = sitk.Version_VersionString() if sitk is not None else "skipped (not installed)"
    args.threads = set_threads(args.threads)
    # compile the kernels outside the timings
    warm = add_rician(imd.data.phantom3d((16, 24, 24)).astype(np.float64), 10.0, "warm-up")
    imd.denoise(warm)
    imd.denoise(warm, noise="gaussian")
    print_header("imdiffuse Rician denoising benchmark" + (" (--quick)" if args.quick else ""), versions)
    t0 = time.perf_counter()
    state = {}
    for sec in sections:
        {"A": section_a, "B": section_b, "C": section_c}[sec](args, state)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end: {load_average()}")


if __name__ == "__main__":
    main()
