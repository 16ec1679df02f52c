"""Benchmark tensor diffusion (EED, CED): quality against TV and Perona-Malik, gap closing, speed.

Sections (``--section`` picks some; all by default):

A. Denoising quality, 2-D.  skimage ``camera``, ``astronaut`` (grey),
   ``coins``, ``text``, ``brick`` (0..255 float64, centre crop <= 512^2)
   plus Gaussian noise sigma_n = 10 / 25 / 50 (not clipped, seeded per image
   and sigma_n); outputs clipped to 0..255, PSNR with data_range 255.  Every
   method gets its best parameters per (image, sigma_n):

   * EED ``edge_enhancing(scheme="fed")``: sigma in {0.5, 1, 1.5} x
     kappa / sigma_n in {0.1, 0.2, 0.3, 0.5} (Weickert diffusivity) x t
     scanned over geomspace(0.3, 40, 12) (stopped once 0.3 dB below its
     best), then kappa x 2^{+-1/4} and t x 1.25^{+-1} around the best.
   * TV: skimage ``denoise_tv_chambolle`` with weight / sigma_n in
     geomspace(0.1, 4, 14), refined x 1.25^{+-1}.
   * PM: ``perona_malik(scheme="fed")`` with diffusivity in {rational,
     tukey, weickert} x sigma in {0, 1} x kappa / sigma_n in {0.5, 1, 2}
     x t scanned as for EED, then refined as for EED.
   * PM peers: MedPy ``anisotropic_diffusion`` options 1-3 and SimpleITK
     Gradient/CurvatureAnisotropicDiffusion, each at its best parameters by
     the searches of ``bench_pm.py`` section A; the best of them per case.

B. CED gap closing.  Vertical stripes (period 8 px) on 128^2 with three
   horizontal gaps (8, 12 and 16 rows set to the mean grey) plus noise
   0 / 10 / 25; the correlation with the clean pattern inside the gaps
   (two rows away from the gap edges) for CED, PM and EED, each at its best
   t in geomspace(2, 200, 9) (and best kappa / sigma_n for PM/EED).

C. Speed.  One DIPlib ``CoherenceEnhancingDiffusion`` iteration on 512^2
   float32 vs one explicit step and one unit of diffusion time (FED, t = 20)
   of ours, CED and EED; EED on a 128^3 phantom to t = 10.

Usage::

    python benchmarks/bench_tensor.py            # full run, ~10-15 min on 2 cores
    python benchmarks/bench_tensor.py --quick    # smoke test (2 images, sigma 25, coarse grids)
    python benchmarks/bench_tensor.py --section C
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, print_header, print_table, set_threads  # noqa: E402

import imdiffuse as imd  # noqa: E402

IMAGES = ("camera", "astronaut", "coins", "text", "brick")
NOISE = (10.0, 25.0, 50.0)


def load(name):
    from skimage import color, data

    img = getattr(data, name)()
    if img.ndim == 3:
        img = color.rgb2gray(img) * 255.0
    img = img.astype(np.float64)
    h, w = img.shape
    ch, cw = min(h, 512), min(w, 512)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[y0 : y0 + ch, x0 : x0 + cw]


def psnr(clean, u):
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean, np.clip(u, 0, 255), data_range=255))


def scan_t(clean, run, ts, drop=0.3):
    """Best (psnr, t) of run(t) over increasing ts, stopped once drop dB below the best."""
    best = (-np.inf, None)
    for t in ts:
        p = psnr(clean, run(t))
        if p > best[0]:
            best = (p, t)
        elif p < best[0] - drop:
            break
    return best


def search_eed(clean, noisy, sn, quick):
    sigmas = (0.5, 1.0) if quick else (0.5, 1.0, 1.5)
    ks = (0.2, 0.3) if quick else (0.1, 0.2, 0.3, 0.5)
    ts = np.geomspace(0.3, 40, 8 if quick else 12)
    best = (-np.inf,)
    for s in sigmas:
        for k in ks:
            p, t = scan_t(clean, lambda t: imd.edge_enhancing(noisy, t, kappa=k * sn, sigma=s), ts)
            if p > best[0]:
                best = (p, s, k, t)
    if not quick:
        _, s, k0, t0 = best
        for k in k0 * 2.0 ** np.array([-0.25, 0.0, 0.25]):
            for t in t0 * 1.25 ** np.array([-1.0, 0.0, 1.0]):
                p = psnr(clean, imd.edge_enhancing(noisy, t, kappa=k * sn, sigma=s))
                if p > best[0]:
                    best = (p, s, k, t)
    return best


def search_pm(clean, noisy, sn, quick):
    diffs = ("tukey",) if quick else ("rational", "tukey", "weickert")
    ks = (0.5, 1.0, 2.0)
    ts = np.geomspace(0.3, 60, 8 if quick else 12)
    best = (-np.inf,)
    for d in diffs:
        for s in (0.0, 1.0):
            for k in ks:
                p, t = scan_t(clean, lambda t: imd.perona_malik(noisy, t, kappa=k * sn, sigma=s, diffusivity=d), ts)
                if p > best[0]:
                    best = (p, d, s, k, t)
    if not quick:
        _, d, s, k0, t0 = best
        for k in k0 * 2.0 ** np.array([-0.25, 0.0, 0.25]):
            for t in t0 * 1.25 ** np.array([-1.0, 0.0, 1.0]):
                p = psnr(clean, imd.perona_malik(noisy, t, kappa=k * sn, sigma=s, diffusivity=d))
                if p > best[0]:
                    best = (p, d, s, k, t)
    return best


def search_tv(clean, noisy, sn, quick):
    from skimage.restoration import denoise_tv_chambolle

    best = (-np.inf,)
    ws = np.geomspace(0.1, 4, 8 if quick else 14)
    for w in ws:
        p = psnr(clean, denoise_tv_chambolle(noisy, weight=w * sn))
        if p > best[0]:
            best = (p, w)
    if not quick:
        w0 = best[1]
        for w in (w0 / 1.25, w0 * 1.25):
            p = psnr(clean, denoise_tv_chambolle(noisy, weight=w * sn))
            if p > best[0]:
                best = (p, w)
    return best


def search_peers(clean, noisy, sn, quick):
    """Best PSNR of the Perona-Malik peers (MedPy options 1-3, SimpleITK Gradient/Curvature), as in bench_pm A.

    Returns (psnr, label) or (nan, "skipped") when neither MedPy nor SimpleITK is installed.
    """
    import bench_pm

    g = bench_pm.grids(quick, 2)
    found = []
    if bench_pm.anisotropic_diffusion is not None:
        for opt in g["medpy_options"]:
            found.append((psnr(clean, bench_pm.search_medpy(noisy, clean, sn, opt, g).out), f"medpy opt{opt}"))
    if bench_pm.sitk is not None:
        for kind in ("gradient", "curvature"):
            found.append((psnr(clean, bench_pm.search_sitk(noisy, clean, kind, g).out), f"sitk {kind}"))
    return max(found) if found else (float("nan"), "skipped")


def quality_job(name, sn, quick):
    set_threads(1)
    clean = load(name)
    rng = np.random.default_rng(zlib.crc32(f"{name}-{sn}".encode()))
    noisy = clean + rng.normal(0, sn, clean.shape)
    return name, sn, search_eed(clean, noisy, sn, quick), search_tv(clean, noisy, sn, quick), \
        search_pm(clean, noisy, sn, quick), psnr(clean, noisy), search_peers(clean, noisy, sn, quick)


def section_a(args):
    print("A. Denoising quality (PSNR dB at each method's best parameters)\n")
    images = IMAGES[:2] if args.quick else IMAGES
    noise = (25.0,) if args.quick else NOISE
    jobs = [(n, s) for s in noise for n in images]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as ex:
        res = list(ex.map(quality_job, *zip(*jobs), [args.quick] * len(jobs)))
    rows = []
    means = {}
    for name, sn, eed, tv, pm, p0, peer in res:
        rows.append([name, int(sn), p0, eed[0], tv[0], pm[0], peer[0], eed[0] - max(tv[0], peer[0]),
                     f"s={eed[1]:g} k={eed[2]:.3g}sn t={eed[3]:.3g}", f"w={tv[1]:.3g}sn",
                     f"{pm[1]} s={pm[2]:g} k={pm[3]:.3g}sn t={pm[4]:.3g}", peer[1]])
        means.setdefault(sn, []).append((eed[0], tv[0], pm[0], peer[0]))
    print_table(rows, ["image", "sigma_n", "noisy", "EED", "TV", "PM (ours)", "PM peer", "EED-max(TV,peer)",
                       "EED params", "TV", "PM params", "best PM peer"],
                {"noisy": ".2f", "EED": ".2f", "TV": ".2f", "PM (ours)": ".2f", "PM peer": ".2f",
                 "EED-max(TV,peer)": "+.2f"})
    print("PM peer: the best of MedPy options 1-3 and SimpleITK Gradient/CurvatureAnisotropicDiffusion at their")
    print("best parameters (bench_pm.py's section-A search).")
    print()
    goal = {10.0: (33.58, 34.56), 25.0: (28.93, 29.92), 50.0: (25.82, 25.96)}
    mrows = []
    for sn, v in sorted(means.items()):
        e, t, p, q = np.mean(v, axis=0)
        mrows.append([int(sn), float(e), float(t), float(p), float(q), max(float(t), float(q)), goal[sn][0],
                      goal[sn][1]])
    print_table(mrows, ["sigma_n", "mean EED", "mean TV", "mean PM (ours)", "mean PM peer", "max(TV, peer)", "goal",
                        "stretch"], {h: ".2f" for h in ("mean EED", "mean TV", "mean PM (ours)", "mean PM peer",
                                                          "max(TV, peer)", "goal", "stretch")})
    print()


GAPS = ((30, 38), (60, 72), (94, 110))


def stripes(noise, seed=0, n=128):
    y, x = np.mgrid[0:n, 0:n]
    clean = 127.5 + 100.0 * np.cos(2 * np.pi * x / 8.0)
    img = clean.copy()
    for a, b in GAPS:
        img[a:b] = 127.5
    img = img + np.random.default_rng(seed).normal(0, noise, img.shape) if noise else img
    return clean, img


def gap_corr(u, clean):
    a = np.concatenate([u[g0 + 2 : g1 - 2].ravel() for g0, g1 in GAPS])
    b = np.concatenate([clean[g0 + 2 : g1 - 2].ravel() for g0, g1 in GAPS])
    return float(np.corrcoef(a, b)[0, 1])


def section_b(args):
    print("B. CED gap closing: correlation with the clean stripes inside the gaps (best t per method)\n")
    ts = np.geomspace(2, 200, 5 if args.quick else 9)
    rows = []
    for noise in (0.0, 10.0, 25.0):
        clean, img = stripes(noise)
        sn = max(noise, 5.0)
        res = {}
        res["CED"] = max((gap_corr(imd.coherence_enhancing(img, t, sigma=1.0, rho=4.0), clean), t) for t in ts)
        res["PM"] = max((gap_corr(imd.perona_malik(img, t, kappa=k * sn, sigma=1.0), clean), t)
                        for t in ts for k in (0.5, 1, 2))
        res["EED"] = max((gap_corr(imd.edge_enhancing(img, t, kappa=k * sn, sigma=1.0), clean), t)
                         for t in ts for k in (0.2, 0.5, 1))
        rows.append([noise, res["CED"][0], res["CED"][1], res["PM"][0], res["PM"][1], res["EED"][0], res["EED"][1]])
    print_table(rows, ["noise", "CED corr", "t", "PM corr", "t ", "EED corr", "t  "],
                {"CED corr": ".3f", "PM corr": ".3f", "EED corr": ".3f", "t": ".3g", "t ": ".3g", "t  ": ".3g"})
    print()


def section_c(args):
    from imdiffuse._grid import prepare
    from imdiffuse.tensor import TensorDiffusion

    print("C. Speed (best of several calls, Numba threads = %d)\n" % args.threads)
    set_threads(args.threads)
    img = load("camera").astype(np.float32)
    img = img + np.random.default_rng(0).normal(0, 20, img.shape).astype(np.float32)
    rows = []
    try:
        import diplib as dip

        dip.SetNumberOfThreads(args.threads)
        n_it = 2 if args.quick else 5
        tdip, _ = best_time(lambda: dip.CoherenceEnhancingDiffusion(img, 1.0, 3.0, n_it), repeat=1 if args.quick else 2)
        rows.append(["DIPlib CoherenceEnhancingDiffusion", "1 iteration", tdip / n_it, None])
    except ImportError:
        tdip = None
        rows.append(["DIPlib (not installed)", "-", None, None])
    # ours: one explicit step (tau = 0.25) incl. tensor update, and FED per unit time
    array, grid = prepare(img)
    for mode, name in ((1, "CED"), (0, "EED")):
        op = TensorDiffusion(grid, mode, sigma=1.0, rho=3.0 if mode else 0.0, lam=100.0)
        u = grid.to_canonical(array)
        out = np.empty_like(u)

        def one():
            op.update(u)
            op.step(u, out, 0.25)

        ts, _ = best_time(one, repeat=5)
        rows.append([f"imdiffuse {name} explicit", "1 step (tau 0.25) + tensor", ts, None])
        f = imd.coherence_enhancing if mode else (lambda x, t: imd.edge_enhancing(x, t, kappa=10.0))
        kw = dict(sigma=1.0, rho=3.0) if mode else {}
        tf, _ = best_time(lambda: f(img, 20.0, **kw) if mode else f(img, 20.0), repeat=3)
        rows.append([f"imdiffuse {name} FED t = 20", "per unit time", tf / 20.0,
                     None if tdip is None else (tdip / n_it) / (tf / 20.0)])
    print_table(rows, ["method (512^2 float32)", "unit", "seconds", "DIPlib iteration / ours per unit t"],
                {"seconds": ".4f", "DIPlib iteration / ours per unit t": ".1f"})
    print("\n(DIPlib's iteration advances its own time step; if that step is <= 1, the speed-up per unit\n"
          "diffusion time is at least the ratio shown.)\n")
    vol = imd.data.phantom3d((128, 128, 128), noise=20.0, seed=0).astype(np.float32)
    imd.edge_enhancing(vol[:8, :8, :8], 1.0, kappa=10.0)
    t3, _ = best_time(lambda: imd.edge_enhancing(vol, 10.0, kappa=10.0), repeat=1, warmup=0)
    print(f"EED 128^3 float32, t = 10, FED: {t3:.2f} s  (threads = {args.threads})\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test")
    ap.add_argument("--section", action="append", choices=("A", "B", "C"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    versions = {"imdiffuse": imd.__version__}
    try:
        import diplib

        versions["diplib"] = diplib.__version__
    except ImportError:
        pass
    print_header("imdiffuse tensor diffusion benchmark" + (" (quick)" if args.quick else ""), versions)
    t0 = time.perf_counter()
    for sec in args.section or ("A", "B", "C"):
        {"A": section_a, "B": section_b, "C": section_c}[sec](args)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end: {load_average()}")


if __name__ == "__main__":
    main()
