"""Benchmark ``imdiffuse.perona_malik`` against MedPy and SimpleITK: quality and speed.

Sections (all printed by one invocation; ``--section`` picks one):

A. Quality, 2-D.  skimage ``camera``, ``astronaut`` (grey), ``coins``,
   ``text``, ``brick`` and ``shepp_logan_phantom`` (0..255 float64, centre
   crop <= 512^2) plus additive Gaussian noise sigma_n = 10 / 25 / 50 (not
   clipped, seeded per image and sigma_n).  Every method gets its *best*
   parameters per (image, sigma_n) by PSNR (outputs clipped to 0..255,
   data_range 255), found by the coarse-to-fine searches below; SSIM is the
   SSIM of that best-PSNR output.

   * ours, ``perona_malik(scheme="auto")`` (explicit for sigma 0, else FED):
       coarse  diffusivity in {rational, exponential, charbonnier, tukey,
               weickert} x sigma in {0, 0.5, 1, 2} x kappa / sigma_n in
               {0.25, 0.5, 1, 2, 4} x t in geomspace(0.5, 60, 6)
               (ratio r = 2.6; the t scan of one parameter set stops once
               the PSNR is 0.5 dB below its best: PSNR is unimodal in t);
       refine  best (diffusivity, sigma) fixed: kappa x 2^{-1/2..1/2, step 1/4}
               x t x r^{-1..1, step 1/2}, then kappa x 2^{+-1/8} x t x r^{+-1/4},
               then kappa x 2^{+-1/16} x t x r^{+-1/8}.
   * MedPy ``anisotropic_diffusion(img, niter, kappa, gamma, option)``,
     option 1, 2, 3 separately: kappa / sigma_n in {0.25, 0.5, 1, 2, 4} with
     gamma 0.2, then kappa x 2^{+-1/4, +-1/2} (gamma 0.2), then kappa x
     2^{0, +-1/4} with gamma 0.1; niter scanned at ~geomspace(1, 200, 19)
     by chaining calls (MedPy's iteration only depends on the current image,
     so niter = a + b equals niter = a followed by niter = b, bit for bit).
   * SimpleITK Gradient- and CurvatureAnisotropicDiffusion (float32, time
     step 0.125): conductance in {0.5, 1, 2, 4}, then x 2^{+-1/2},
     x 2^{+-1/4}; iterations scanned like MedPy's niter by chaining
     (ConductanceScalingUpdateInterval = 1, so chaining is exact).
   * heat: ``imd.heat`` with t in geomspace(0.05, 40, 12), refined x r^{+-1/2}.

B. Quality, 3-D.  ``imdiffuse.data.phantom3d((64, 64, 64))`` + noise
   10 / 25 / 50; ours (sigma in {0, 1}, t in geomspace(0.5, 60, 11) -- one call
   is cheap here, so the start grid is finer than A's -- otherwise as in A,
   then explicit steps of 0.6 and 0.3 times the stability limit around the
   best: MedPy's gamma 0.1 is 0.6 of it, so its scheme is among ours), MedPy
   options 1-3 (gamma 0.1, niter <= 300), heat; and the time of one call of
   ours at its best parameters (goal < 0.5 s).

C. Speed.  One explicit step (and 10 steps) of ours vs MedPy option 2 on
   float32 512^2, 2048^2 and 256^3, Numba threads 1 and 2, with the
   equality check and the effective bandwidth relative to ``np.copyto``;
   equal-PSNR time vs SimpleITK GradientAnisotropicDiffusion on camera
   sigma_n 25; diffusivity evaluations of FED vs explicit at t = 20, 40; and
   the tracemalloc peak of each scheme on a 128^3 float32 volume.

D. Blind denoising.  ``denoise(noisy)`` (and ``method="tv"``) with no
   parameters at all, noise level estimated, on the six images of A, vs the
   peers' best *single* parameter set per sigma_n (the same for every image,
   chosen knowing sigma_n: MedPy options 1-3, gamma 0.2, kappa / sigma_n in
   {0.5, 1, 2, 4}, and SimpleITK Gradient/Curvature with conductance in
   {0.5, 1, 2, 4}, every niter checkpoint <= 200) and vs the heat equation at
   its best t per image (an oracle); then blind ``denoise()`` on the 3-D
   phantom of B with its time.

The parameter searches of A and B run in ``--jobs`` worker processes (one
Numba/SimpleITK thread each; quality does not depend on the process); all
timings are taken in the main process.

Usage::

    python benchmarks/bench_pm.py                 # full run (~15 min on 2 cores)
    python benchmarks/bench_pm.py --quick         # smoke test (< 2 min)
    python benchmarks/bench_pm.py --section C     # one section
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tracemalloc
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, max_threads, print_header, print_table, set_threads  # noqa: E402

import numba  # noqa: E402

import imdiffuse as imd  # noqa: E402

try:
    from medpy.filter.smoothing import anisotropic_diffusion
except ImportError:  # optional peer
    anisotropic_diffusion = None
try:
    import SimpleITK as sitk
except ImportError:  # optional peer
    sitk = None

DIFFUSIVITIES = ("rational", "exponential", "charbonnier", "tukey", "weickert")
IMAGES = ("camera", "astronaut", "coins", "text", "brick", "shepp_logan")
NOISE_LEVELS = (10, 25, 50)
REFERENCE_PEER = {10: 36.27, 25: 30.57, 50: 27.14}  # the issue: best peer mean PSNR (dB)
REFERENCE_MEDPY_3D = {10: 48.08, 25: 37.99, 50: 28.25}  # the issue: MedPy best, their 3-D phantom
PEERS = ("medpy opt1", "medpy opt2", "medpy opt3", "sitk gradient", "sitk curvature")

# ------------------------------------------------------------------ search grids


def grids(quick: bool, ndim: int) -> dict:
    """The search grids of sections A (ndim 2) and B (ndim 3); see the module docstring."""
    g = dict(
        diffusivities=DIFFUSIVITIES,
        sigmas=(0.0, 0.5, 1.0, 2.0) if ndim == 2 else (0.0, 1.0),
        kappa_mult=(0.25, 0.5, 1.0, 2.0, 4.0),
        ts=tuple(np.geomspace(0.5, 60.0, 6 if ndim == 2 else 11)),  # 3-D calls are cheap: a finer start
        heat_ts=tuple(np.geomspace(0.05, 40.0, 12)),
        medpy_options=(1, 2, 3),
        medpy_kappa_mult=(0.25, 0.5, 1.0, 2.0, 4.0),
        medpy_gammas=(0.2, 0.1) if ndim == 2 else (0.1,),
        medpy_niter=200 if ndim == 2 else 300,
        medpy_refine=True,
        sitk_conductance=(0.5, 1.0, 2.0, 4.0),
        sitk_niter=200,
        sitk_refine=True,
        refine=True,
        # explicit steps as fractions of the stability limit, tried in the last
        # refinement (1.0: scheme="auto"'s own steps); MedPy's gamma 0.1 in
        # 3-D is 0.6 of the limit, so 0.6 reproduces its scheme exactly
        step_fractions=(1.0,) if ndim == 2 else (1.0, 0.6, 0.3),
    )
    if quick:
        g.update(
            diffusivities=("rational", "tukey"),
            sigmas=(0.0, 1.0),
            kappa_mult=(0.5, 1.0, 2.0),
            medpy_kappa_mult=(0.5, 1.0, 2.0),
            medpy_gammas=(0.2,) if ndim == 2 else (0.1,),
            medpy_niter=100 if ndim == 2 else 200,
            medpy_refine=False,
            sitk_conductance=(0.5, 1.0, 2.0),
            sitk_niter=100,
            sitk_refine=False,
        )
    return g


def checkpoints(n_max: int) -> list[int]:
    """Iteration counts at which chained peers are scored: ~geomspace(1, n_max) (ratio ~1.34)."""
    n = max(2, round(math.log(n_max) / math.log(1.34)) + 1)
    return sorted({int(round(x)) for x in np.geomspace(1, n_max, n)})


# ------------------------------------------------------------------------ data


def clean_image(name: str) -> np.ndarray:
    """A skimage test image as float64 in 0..255, centre-cropped to at most 512x512."""
    from skimage import color, data

    if name == "astronaut":
        img = color.rgb2gray(data.astronaut()) * 255.0
    elif name == "shepp_logan":
        img = data.shepp_logan_phantom() * 255.0
    else:
        img = getattr(data, name)().astype(np.float64)
    img = np.asarray(img, dtype=np.float64)
    sl = []
    for n in img.shape:
        m = min(n, 512)
        sl.append(slice((n - m) // 2, (n - m) // 2 + m))
    return np.ascontiguousarray(img[tuple(sl)])


def add_noise(clean: np.ndarray, sigma_n: float, tag: str) -> np.ndarray:
    """clean + N(0, sigma_n^2), not clipped; the seed depends only on (tag, sigma_n)."""
    seed = zlib.crc32(f"{tag}/{sigma_n:g}".encode())
    return clean + np.random.default_rng(seed).normal(0.0, sigma_n, clean.shape)


def smooth_random(shape, seed: int = 0) -> np.ndarray:
    """float32 test data for timing: smoothed random field in ~0..255 plus noise of std 10."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 4.0)
    field *= np.float32(100.0 / max(float(field.std()), 1e-12))
    field += np.float32(128.0)
    field += rng.normal(0.0, 10.0, shape).astype(np.float32)
    return field


# ---------------------------------------------------------------------- scoring


def psnr_fast(clean: np.ndarray, out: np.ndarray) -> float:
    """PSNR (data_range 255) of ``out`` clipped to 0..255; same formula as skimage's."""
    d = np.clip(out, 0.0, 255.0, dtype=np.float64) - clean
    mse = float(np.mean(d * d))
    return 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


def final_scores(clean: np.ndarray, out: np.ndarray, with_ssim: bool) -> tuple:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    u = np.clip(np.asarray(out, dtype=np.float64), 0.0, 255.0)
    p = float(peak_signal_noise_ratio(clean, u, data_range=255))
    s = float(structural_similarity(clean, u, data_range=255)) if with_ssim else None
    return p, s


class Best:
    """Keeps the best (PSNR, parameters, output) seen so far."""

    def __init__(self):
        self.psnr = -math.inf
        self.params = None
        self.out = None
        self.calls = 0

    def offer(self, p, params, out):
        self.calls += 1
        if p > self.psnr:
            self.psnr, self.params, self.out = p, dict(params), np.array(out, copy=True)
            return True
        return False


# ---------------------------------------------------------------------- searches


def scan_t(run, ts, clean, best: Best, params: dict, tol: float = 0.5) -> tuple:
    """Score run(t) for ascending ts; stop once 0.5 dB below this scan's best.  Returns (psnr, t)."""
    local = (-math.inf, None)
    records = []
    for t in ts:
        p = psnr_fast(clean, run(t))
        records.append((float(t), p))
        best.offer(p, {**params, "t": float(t)}, run.last)
        if p > local[0]:
            local = (p, float(t))
        elif p < local[0] - tol:
            break
    return local, records


class _Runner:
    """Callable f(t) that remembers its last output (so Best can keep it)."""

    def __init__(self, fn):
        self.fn = fn
        self.last = None

    def __call__(self, t):
        self.last = self.fn(t)
        return self.last


def search_ours(noisy, clean, sigma_n, g) -> tuple[Best, list]:
    """Coarse-to-fine search of perona_malik(scheme='auto') parameters; returns (best, records)."""
    best = Best()
    records = []  # (diffusivity, sigma, kappa_mult, t, psnr)
    seen = {}

    def evaluate(diff, s, km, t, step=1.0):
        key = (diff, s, round(km, 9), round(t, 9), step)
        if key in seen:
            return seen[key]
        out = imd.perona_malik(noisy, t, kappa=km * sigma_n, diffusivity=diff, sigma=s,
                               **ours_scheme(step, t, noisy.ndim))
        p = psnr_fast(clean, out)
        seen[key] = p
        if step == 1.0:  # the equal-PSNR search of section C times scheme="auto" calls
            records.append((diff, s, km, t, p))
        best.offer(p, dict(diffusivity=diff, sigma=s, kappa_mult=km, kappa=km * sigma_n, t=t, step=step), out)
        return p

    ts = g["ts"]
    r = ts[1] / ts[0]
    for diff in g["diffusivities"]:
        for s in g["sigmas"]:
            for km in g["kappa_mult"]:
                top = -math.inf
                for t in ts:
                    p = evaluate(diff, s, km, float(t))
                    if p > top:
                        top = p
                    elif p < top - 0.5:
                        break
    if g["refine"]:
        b = best.params
        for kexp, texp in ((np.arange(-2, 3) / 4, np.arange(-2, 3) / 2), (np.array([-1, 0, 1]) / 8, np.array([-1, 0, 1]) / 4),
                           (np.array([-1, 0, 1]) / 16, np.array([-1, 0, 1]) / 8)):
            b = best.params
            for km in b["kappa_mult"] * 2.0**kexp:
                for t in b["t"] * r**texp:
                    evaluate(b["diffusivity"], b["sigma"], float(km), float(t), b["step"])
        b = best.params
        for step in g["step_fractions"][1:]:  # finer explicit steps around the best
            for km in b["kappa_mult"] * 2.0 ** (np.array([-1, 0, 1]) / 16):
                for t in b["t"] * r ** (np.array([-1, 0, 1]) / 8):
                    evaluate(b["diffusivity"], b["sigma"], float(km), float(t), step)
    return best, records


def ours_scheme(step, t, ndim):
    """perona_malik keywords for explicit steps of ``step`` times the limit (1.0: scheme="auto")."""
    if step == 1.0:
        return {}
    return dict(scheme="explicit", n_steps=max(1, math.ceil(t / (step / (2.0 * ndim)))))


def chain_scan(advance, start, niters, clean, best: Best, params: dict, key: str, tol: float = 0.5):
    """Score a chained iterative peer at the iteration counts ``niters``; stop 0.5 dB past the peak."""
    u, done, top = start, 0, (-math.inf, None)
    for n in niters:
        u = advance(u, n - done)
        done = n
        out = u if isinstance(u, np.ndarray) else sitk.GetArrayFromImage(u)
        p = psnr_fast(clean, out)
        best.offer(p, {**params, key: n}, out)
        if p > top[0]:
            top = (p, n)
        elif p < top[0] - tol:
            break
    return top


def search_medpy(noisy, clean, sigma_n, option, g) -> Best:
    best = Best()
    u0 = noisy.astype(np.float32)  # MedPy works in float32 anyway
    niters = checkpoints(g["medpy_niter"])
    gammas = g["medpy_gammas"]
    tops = {}

    def run(km, gamma):
        key = (round(km, 9), gamma)
        if key in tops:
            return tops[key]

        def advance(u, k):
            return anisotropic_diffusion(u, niter=k, kappa=km * sigma_n, gamma=gamma, option=option)

        params = dict(option=option, kappa_mult=km, kappa=km * sigma_n, gamma=gamma)
        tops[key] = chain_scan(advance, u0, niters, clean, best, params, "niter")
        return tops[key]

    for km in g["medpy_kappa_mult"]:
        run(km, gammas[0])
    if g["medpy_refine"]:
        km0 = best.params["kappa_mult"]
        for e in (-0.5, -0.25, 0.25, 0.5):
            run(km0 * 2.0**e, gammas[0])
        km0 = best.params["kappa_mult"]
        for gamma in gammas[1:]:
            for e in (-0.25, 0.0, 0.25):
                run(km0 * 2.0**e, gamma)
    return best


def sitk_filter(kind: str, conductance: float, time_step: float = 0.125):
    f = sitk.GradientAnisotropicDiffusionImageFilter() if kind == "gradient" else sitk.CurvatureAnisotropicDiffusionImageFilter()
    f.SetTimeStep(time_step)
    f.SetConductanceParameter(float(conductance))
    return f


def search_sitk(noisy, clean, kind, g) -> Best:
    best = Best()
    start = sitk.GetImageFromArray(noisy.astype(np.float32))
    niters = checkpoints(g["sitk_niter"])
    done = set()

    def run(c):
        if round(c, 9) in done:
            return
        done.add(round(c, 9))
        f = sitk_filter(kind, c)

        def advance(im, k):
            f.SetNumberOfIterations(int(k))
            return f.Execute(im)

        chain_scan(advance, start, niters, clean, best, dict(filter=kind, conductance=c, time_step=0.125), "niter")

    for c in g["sitk_conductance"]:
        run(c)
    if g["sitk_refine"]:
        for exps in ((-0.5, 0.5), (-0.25, 0.25)):
            c0 = best.params["conductance"]
            for e in exps:
                run(c0 * 2.0**e)
    return best


def search_heat(noisy, clean, g) -> Best:
    best = Best()
    ts = g["heat_ts"]
    run = _Runner(lambda t: imd.heat(noisy, t))
    scan_t(run, ts, clean, best, {})
    r = ts[1] / ts[0]
    t0 = best.params["t"]
    for e in (-0.5, -0.25, 0.25, 0.5):
        t = t0 * r**e
        out = run(t)
        best.offer(psnr_fast(clean, out), {"t": t}, out)
    return best


# ----------------------------------------------------------------- worker jobs


def _worker_init():
    set_threads(1)


def quality_case(name: str, sigma_n: float, quick: bool, ndim: int) -> dict:
    """All searches for one (image, noise) case; returns plain numbers (picklable)."""
    set_threads(1)
    if ndim == 2:
        clean = clean_image(name)
    else:
        clean = imd.data.phantom3d((64, 64, 64)).astype(np.float64)
    noisy = add_noise(clean, sigma_n, name)
    g = grids(quick, ndim)
    res = {"name": name, "sigma_n": sigma_n, "shape": clean.shape, "methods": {}}
    with_ssim = ndim == 2

    def store(label, best, seconds):
        p, s = final_scores(clean, best.out, with_ssim)
        res["methods"][label] = dict(psnr=p, ssim=s, params=best.params, calls=best.calls, seconds=seconds)

    p, s = final_scores(clean, noisy, with_ssim)
    res["methods"]["noisy"] = dict(psnr=p, ssim=s, params={}, calls=0, seconds=0.0)
    t0 = time.perf_counter()
    store("heat", search_heat(noisy, clean, g), time.perf_counter() - t0)
    t0 = time.perf_counter()
    best, records = search_ours(noisy, clean, sigma_n, g)
    store("ours", best, time.perf_counter() - t0)
    res["ours_records"] = records
    if anisotropic_diffusion is not None:
        for opt in g["medpy_options"]:
            t0 = time.perf_counter()
            store(f"medpy opt{opt}", search_medpy(noisy, clean, sigma_n, opt, g), time.perf_counter() - t0)
    if sitk is not None and ndim == 2:
        for kind in ("gradient", "curvature"):
            t0 = time.perf_counter()
            store(f"sitk {kind}", search_sitk(noisy, clean, kind, g), time.perf_counter() - t0)
    return res


_PIXELS = {"camera": 512 * 512, "astronaut": 512 * 512, "brick": 512 * 512, "shepp_logan": 400 * 400,
           "coins": 303 * 384, "text": 172 * 448, "phantom3d": 64**3}


def _cost(case) -> float:
    """Rough relative cost of a quality case (pixels; longer searches at high noise)."""
    return _PIXELS.get(case[0], 512 * 512) * (1.0 + case[1] / 25.0)


def run_cases(cases, jobs: int):
    """Run quality_case(*c) for every case, in ``jobs`` spawned workers (or in-process for 1)."""
    results = []
    t0 = time.perf_counter()
    if jobs <= 1:
        threads = numba.get_num_threads()
        for c in cases:
            results.append(quality_case(*c))
            print(f"  done: {c[0]} sigma_n={c[1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        set_threads(threads)
        return results
    # biggest jobs first, so that the workers finish together
    order = sorted(range(len(cases)), key=lambda i: -_cost(cases[i]))
    results = [None] * len(cases)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init) as ex:
        futures = {ex.submit(quality_case, *cases[i]): i for i in order}
        for f in as_completed(futures):
            i = futures[f]
            results[i] = f.result()
            print(f"  done: {cases[i][0]} sigma_n={cases[i][1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return results


# ------------------------------------------------------------------- reporting


def fmt_params(label: str, p: dict) -> str:
    if not p:
        return "-"
    if label == "heat":
        return f"t={p['t']:.3g}"
    if label.startswith("medpy"):
        return f"kappa={p['kappa']:.3g} ({p['kappa_mult']:.2g}sn) gamma={p['gamma']:g} niter={p['niter']}"
    if label.startswith("sitk"):
        return f"conductance={p['conductance']:.3g} niter={p['niter']}"
    step = "" if p.get("step", 1.0) == 1.0 else f" explicit steps {p['step']:g} x limit"
    return (
        f"{p['diffusivity']} sigma={p['sigma']:g} kappa={p['kappa']:.3g} ({p['kappa_mult']:.3g}sn) t={p['t']:.3g}{step}"
    )


def report_quality_2d(results, noise_levels):
    methods = ["noisy", "heat"] + [m for m in PEERS if m in results[0]["methods"]] + ["best peer", "ours"]
    for r in results:
        peers = [r["methods"][m] for m in PEERS if m in r["methods"]]
        if peers:
            r["methods"]["best peer"] = max(peers, key=lambda d: d["psnr"])
    names = sorted({r["name"] for r in results}, key=IMAGES.index)
    headers = ["method"] + [f"PSNR sn={s}" for s in noise_levels] + [f"SSIM sn={s}" for s in noise_levels]
    rows = []
    for m in methods:
        row = [m]
        for key in ("psnr", "ssim"):
            for s in noise_levels:
                vals = [r["methods"][m][key] for r in results if r["sigma_n"] == s and m in r["methods"]]
                row.append(float(np.mean(vals)) if vals else None)
        rows.append(row)
    rows.append(["issue: best peer (ref.)"] + [REFERENCE_PEER.get(s) for s in noise_levels] + [None] * len(noise_levels))
    specs = {h: ".2f" for h in headers if h.startswith("PSNR")}
    specs.update({h: ".4f" for h in headers if h.startswith("SSIM")})
    print(f"Mean over {len(names)} images ({', '.join(names)}), each method at its best-PSNR parameters:")
    print_table(rows, headers, specs)
    print("'best peer': per (image, sigma_n), the best of MedPy options 1-3 and the SimpleITK filters, then averaged;")
    print("SSIM is that of the best-PSNR output (not separately optimised).")
    print()

    s_img = 25 if 25 in noise_levels else noise_levels[0]
    headers = ["image", "size"] + methods + ["ours - best peer"]
    rows = []
    for n in names:
        r = next(r for r in results if r["name"] == n and r["sigma_n"] == s_img)
        row = [n, "x".join(map(str, r["shape"]))] + [r["methods"][m]["psnr"] if m in r["methods"] else None for m in methods]
        bp = r["methods"].get("best peer")
        row.append(r["methods"]["ours"]["psnr"] - bp["psnr"] if bp else None)
        rows.append(row)
    print(f"PSNR (dB) per image at sigma_n = {s_img}:")
    print_table(rows, headers, {h: ".2f" for h in headers[2:]})
    print()

    headers = ["image", "sn", "diffusivity", "sigma", "kappa", "kappa/sn", "t", "PSNR", "SSIM", "calls", "search s"]
    rows = []
    for r in results:
        o = r["methods"]["ours"]
        p = o["params"]
        rows.append([r["name"], r["sigma_n"], p["diffusivity"], p["sigma"], p["kappa"], p["kappa_mult"], p["t"],
                     o["psnr"], o["ssim"], o["calls"], o["seconds"]])
    print("Best parameters found for ours (perona_malik, scheme='auto'):")
    print_table(rows, headers, {"sigma": "g", "kappa": ".3g", "kappa/sn": ".3g", "t": ".3g", "PSNR": ".2f",
                                "SSIM": ".4f", "search s": ".1f"})
    print()

    headers = ["image", "sn", "method", "PSNR", "best parameters", "calls", "search s"]
    rows = []
    for r in results:
        for m in ["heat"] + [m for m in PEERS if m in r["methods"]]:
            d = r["methods"][m]
            rows.append([r["name"], r["sigma_n"], m, d["psnr"], fmt_params(m, d["params"]), d["calls"], d["seconds"]])
    print("Best parameters found for the baselines and peers ('sn' = noise sigma; niter / t of chained scans):")
    print_table(rows, headers, {"PSNR": ".2f", "search s": ".1f"})
    print()


def section_a(args, state):
    print("A. QUALITY 2-D")
    print("--------------")
    names = ("camera", "coins") if args.quick else IMAGES
    levels = (25,) if args.quick else NOISE_LEVELS
    cases = [(n, s, args.quick, 2) for s in levels for n in names]
    t0 = time.perf_counter()
    results = run_cases(cases, args.jobs)
    print(f"(searches: {time.perf_counter() - t0:.0f} s wall in {args.jobs} worker process(es); load {load_average()})")
    print()
    report_quality_2d(results, levels)
    state["camera25"] = next((r for r in results if r["name"] == "camera" and r["sigma_n"] == 25), None)


def section_b(args, state):
    print("B. QUALITY 3-D")
    print("--------------")
    levels = (25,) if args.quick else NOISE_LEVELS
    cases = [("phantom3d", s, args.quick, 3) for s in levels]
    t0 = time.perf_counter()
    results = run_cases(cases, args.jobs)
    print(f"(searches: {time.perf_counter() - t0:.0f} s wall in {args.jobs} worker process(es); load {load_average()})")
    print()
    methods = ["noisy", "heat"] + [m for m in PEERS[:3] if m in results[0]["methods"]] + ["ours"]
    headers = ["method"] + [f"PSNR sn={s}" for s in levels]
    rows = [[m] + [r["methods"][m]["psnr"] for r in results] for m in methods]
    rows.append(["issue: MedPy best (their phantom)"] + [REFERENCE_MEDPY_3D.get(s) for s in levels])
    print("imdiffuse.data.phantom3d((64, 64, 64)) + noise, PSNR (dB, data_range 255) at each method's best parameters:")
    print_table(rows, headers, {h: ".2f" for h in headers[1:]})
    print()
    headers = ["sn", "method", "PSNR", "best parameters", "calls", "search s"]
    rows = []
    for r in results:
        for m in methods[1:]:
            d = r["methods"][m]
            rows.append([r["sigma_n"], m, d["psnr"], fmt_params(m, d["params"]), d["calls"], d["seconds"]])
    print_table(rows, headers, {"PSNR": ".2f", "search s": ".1f"})
    print()

    clean = imd.data.phantom3d((64, 64, 64)).astype(np.float64)
    headers = ["sn", "ours s (1 thr)", "ours s (2 thr)", "goal s", "medpy s (its best)", "medpy/ours (faster)"]
    rows = []
    repeat = 1 if args.quick else 3
    for r in results:
        noisy = add_noise(clean, r["sigma_n"], "phantom3d").astype(np.float32)
        p = r["methods"]["ours"]["params"]

        def ours(noisy=noisy, p=p):
            return imd.perona_malik(noisy, p["t"], kappa=p["kappa"], diffusivity=p["diffusivity"], sigma=p["sigma"],
                                    **ours_scheme(p.get("step", 1.0), p["t"], noisy.ndim))

        times = []
        for n in (1, 2):
            set_threads(n)
            times.append(best_time(ours, repeat=repeat, warmup=1)[0])
        set_threads(max_threads())
        med = None
        mb = [r["methods"][m] for m in PEERS[:3] if m in r["methods"]]
        if mb:
            q = max(mb, key=lambda d: d["psnr"])["params"]
            med = best_time(lambda: anisotropic_diffusion(noisy, niter=q["niter"], kappa=q["kappa"], gamma=q["gamma"],
                                                          option=q["option"]), repeat=1, warmup=0)[0]
        rows.append([r["sigma_n"], times[0], times[1], 0.5, med, (med / min(times)) if med else None])
    print("Time of one call at the best parameters (float32 input, 64^3; best of %d after a warm-up):" % repeat)
    print_table(rows, headers, {h: ".3f" for h in headers[1:5]} | {"medpy/ours (faster)": ".1f"})
    print()


# ------------------------------------------------------------------- section D

REFERENCE_SINGLE = {10: 34.93, 25: 29.89, 50: 26.71}  # the issue: peers' best single parameter set (dB)
SINGLE_KAPPA_MULT = (0.5, 1.0, 2.0, 4.0)  # MedPy kappa / sigma_n of the single-set grid
SINGLE_CONDUCTANCE = (0.5, 1.0, 2.0, 4.0)  # SimpleITK conductance of the single-set grid


def blind_case(name: str, sigma_n: float, quick: bool) -> dict:
    """Blind denoise() on one (image, noise) case, the heat oracle, and the peers' single-set grid.

    The grid: MedPy options 1-3 (gamma 0.2) x kappa / sigma_n in
    SINGLE_KAPPA_MULT and SimpleITK Gradient/CurvatureAnisotropicDiffusion x
    SINGLE_CONDUCTANCE, every niter checkpoint up to 200 (chained).  Returns
    PSNR per (peer, parameter) per niter, so that the best *single* set per
    sigma_n (the same for every image, chosen knowing sigma_n) can be found.
    """
    set_threads(1)
    clean = clean_image(name)
    noisy = add_noise(clean, sigma_n, name)
    res = {"name": name, "sigma_n": sigma_n, "grid": {}}
    for method in ("auto", "tv"):
        t0 = time.perf_counter()
        out = imd.denoise(noisy, method=method)
        p, ss = final_scores(clean, out, True)
        res[f"denoise {method}"] = dict(psnr=p, ssim=ss, seconds=time.perf_counter() - t0)
    res["heat oracle"] = dict(psnr=final_scores(clean, search_heat(noisy, clean, grids(quick, 2)).out, False)[0])
    niters = checkpoints(100 if quick else 200)

    def record(key, advance, start):
        scores, u, done = {}, start, 0
        for n in niters:
            u = advance(u, n - done)
            done = n
            out = u if isinstance(u, np.ndarray) else sitk.GetArrayFromImage(u)
            scores[n] = psnr_fast(clean, out)
        res["grid"][key] = scores

    if anisotropic_diffusion is not None:
        u0 = noisy.astype(np.float32)
        for opt in (1, 2, 3):
            for km in SINGLE_KAPPA_MULT:
                record((f"medpy opt{opt}", km), lambda u, k, km=km, opt=opt: anisotropic_diffusion(
                    u, niter=k, kappa=km * sigma_n, gamma=0.2, option=opt), u0)
    if sitk is not None:
        start = sitk.GetImageFromArray(noisy.astype(np.float32))
        for kind in ("gradient", "curvature"):
            for c in SINGLE_CONDUCTANCE:
                f = sitk_filter(kind, c)

                def advance(im, k, f=f):
                    f.SetNumberOfIterations(int(k))
                    return f.Execute(im)

                record((f"sitk {kind}", c), advance, start)
    return res


def section_d(args, state):
    print("D. BLIND DENOISING: denoise() with no parameters vs the peers' best single parameter set")
    print("-----------------------------------------------------------------------------------------")
    names = ("camera", "coins") if args.quick else IMAGES
    levels = (25,) if args.quick else NOISE_LEVELS
    cases = [(n, s, args.quick) for s in levels for n in names]
    t0 = time.perf_counter()
    if args.jobs <= 1:
        results = [blind_case(*c) for c in cases]
    else:
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn"), initializer=_worker_init) as ex:
            results = list(ex.map(blind_case, *zip(*cases)))
    print(f"({len(cases)} cases: {time.perf_counter() - t0:.0f} s wall; load {load_average()})")
    print()
    headers = ["method"] + [f"PSNR sn={s}" for s in levels] + [f"SSIM sn={s}" for s in levels]
    rows = []
    for m in ("denoise auto", "denoise tv"):
        rows.append([f"{m} (blind)"]
                    + [float(np.mean([r[m]["psnr"] for r in results if r["sigma_n"] == s])) for s in levels]
                    + [float(np.mean([r[m]["ssim"] for r in results if r["sigma_n"] == s])) for s in levels])
    rows.append(["heat, best t per image (oracle)"]
                + [float(np.mean([r["heat oracle"]["psnr"] for r in results if r["sigma_n"] == s])) for s in levels]
                + [None] * len(levels))
    chosen = {}
    for s in levels:
        rs = [r for r in results if r["sigma_n"] == s]
        best = (-math.inf, None)
        for key in rs[0]["grid"]:
            for n in rs[0]["grid"][key]:
                mean = float(np.mean([r["grid"][key][n] for r in rs]))
                if mean > best[0]:
                    best = (mean, (key, n))
        chosen[s] = best
    if chosen[levels[0]][1] is not None:
        rows.append(["peers: best single set per sn"] + [chosen[s][0] for s in levels] + [None] * len(levels))
    rows.append(["issue: peers' best single set (ref.)"] + [REFERENCE_SINGLE.get(s) for s in levels]
                + [None] * len(levels))
    print(f"Mean over {', '.join(names)}:")
    print_table(rows, headers, {h: (".2f" if h.startswith("PSNR") else ".4f") for h in headers[1:]})
    for s in levels:
        if chosen[s][1] is not None:
            (peer, param), n = chosen[s][1]
            print(f"  sn={s}: best single set = {peer}, {'kappa/sn' if peer.startswith('medpy') else 'conductance'}"
                  f"={param:g}, niter={n}")
    print()
    headers = ["image", "sn", "denoise() PSNR", "heat oracle PSNR", "denoise - heat", "denoise() s"]
    rows = [[r["name"], r["sigma_n"], r["denoise auto"]["psnr"], r["heat oracle"]["psnr"],
             r["denoise auto"]["psnr"] - r["heat oracle"]["psnr"], r["denoise auto"]["seconds"]] for r in results]
    print("Per image (goal: denoise() beats the heat equation at its best t on every image):")
    print_table(rows, headers, {"denoise() PSNR": ".2f", "heat oracle PSNR": ".2f", "denoise - heat": "+.2f",
                                "denoise() s": ".2f"})
    worst = min(r["denoise auto"]["psnr"] - r["heat oracle"]["psnr"] for r in results)
    print(f"smallest margin over the heat oracle: {worst:+.2f} dB")
    print()
    clean = imd.data.phantom3d((64, 64, 64)).astype(np.float64)
    rows = []
    for s in levels:
        noisy = add_noise(clean, s, "phantom3d")
        t0 = time.perf_counter()
        out = imd.denoise(noisy.astype(np.float32))
        rows.append([s, final_scores(clean, out, False)[0], time.perf_counter() - t0, REFERENCE_MEDPY_3D.get(s)])
    print("3-D: blind denoise() on phantom3d 64^3 (float32 input; time includes noise estimation):")
    print_table(rows, ["sn", "PSNR", "seconds", "issue: MedPy best (ref.)"], {"PSNR": ".2f", "seconds": ".3f"})
    print()


# ------------------------------------------------------------------- section C


def speed_steps(args):
    sizes = [((512, 512), 0.2, 10), ((128, 128, 128), 0.15, 3)] if args.quick else [
        ((512, 512), 0.2, 10), ((2048, 2048), 0.2, 5), ((256, 256, 256), 0.15, 3)]
    headers = ["size", "threads", "medpy 1 step s", "ours 1 step s", "medpy/ours 1", "ours per step (10) s",
               "medpy/ours 10", "goal", "bw frac 1", "bw frac 10", "rel err 1", "rel err 10"]
    rows = []
    for shape, gamma, repeat in sizes:
        if args.quick:
            repeat = 1
        img = smooth_random(shape)
        n = img.size
        k = float(imd.estimate_kappa(img))
        t_med, ref1 = best_time(lambda: anisotropic_diffusion(img, niter=1, kappa=k, gamma=gamma, option=2),
                                repeat=repeat, warmup=1)
        ref10 = anisotropic_diffusion(img, niter=10, kappa=k, gamma=gamma, option=2)
        dst = np.empty_like(img)
        t_copy, _ = best_time(lambda: np.copyto(dst, img), repeat=max(repeat, 5), warmup=1)
        copy_bw = 2 * n * 4 / t_copy
        goal = 5.0 if n <= 512 * 512 else 10.0
        for nt in (1, 2):
            nt = set_threads(nt)
            t1, out1 = best_time(lambda: imd.perona_malik(img, t=gamma, kappa=k, scheme="explicit", n_steps=1),
                                 repeat=repeat, warmup=1)
            t10, out10 = best_time(lambda: imd.perona_malik(img, t=10 * gamma, kappa=k, scheme="explicit", n_steps=10),
                                   repeat=repeat, warmup=1)
            e1 = float(np.abs(out1.astype(np.float64) - ref1).max() / np.abs(ref1).max())
            e10 = float(np.abs(out10.astype(np.float64) - ref10).max() / np.abs(ref10).max())
            per = t10 / 10
            rows.append(["x".join(map(str, shape)), nt, t_med, t1, t_med / t1, per, t_med / per, goal,
                         (2 * n * 4 / t1) / copy_bw, (2 * n * 4 / per) / copy_bw, e1, e10])
        print(f"  {'x'.join(map(str, shape))}: kappa={k:.3g}, np.copyto {t_copy * 1e3:.3f} ms "
              f"= {copy_bw / 1e9:.2f} GB/s; load {load_average()}", flush=True)
        del img, ref1, ref10, dst
    set_threads(max_threads())
    print()
    print("One explicit step, MedPy option 2 (gamma 0.2 in 2-D, 0.15 in 3-D) vs "
          "perona_malik(t=gamma, kappa=k, scheme='explicit', n_steps=1) (and n_steps=10, t=10 gamma):")
    print_table(rows, headers, {"medpy 1 step s": ".5f", "ours 1 step s": ".5f", "ours per step (10) s": ".5f",
                                "medpy/ours 1": ".1f", "medpy/ours 10": ".1f", "goal": ".0f", "bw frac 1": ".2f",
                                "bw frac 10": ".2f", "rel err 1": ".1e", "rel err 10": ".1e"})
    print("medpy/ours 10: MedPy's 1-step time / our per-step time over 10 steps (Python overhead amortised);")
    print("goal: >= 5x at 512^2, >= 10x at 2048^2 and 256^3.  bw frac: (2 N 4 bytes / our step time) divided by")
    print("np.copyto's 2 N 4 / time on the same array (goal >= 0.33).  rel err: max|ours - medpy| / max|medpy|")
    print("(goal <= 1e-4); MedPy is numpy, single-threaded whatever 'threads' says.")
    print()


def _camera25(args, state):
    """Search results for camera, sigma_n 25: from section A if it ran, else a fresh search."""
    r = state.get("camera25")
    if r is None:
        print("  (section A did not run: searching camera sigma_n=25 ...)", flush=True)
        r = run_cases([("camera", 25, args.quick, 2)], 1)[0]
        state["camera25"] = r
    return r


def equal_psnr(args, state):
    if sitk is None:
        print("Equal-PSNR vs SimpleITK: skipped (SimpleITK not installed).")
        return
    r = _camera25(args, state)
    clean = clean_image("camera")
    noisy = add_noise(clean, 25, "camera")
    noisy32 = noisy.astype(np.float32)
    sp = r["methods"]["sitk gradient"]["params"]
    target = r["methods"]["sitk gradient"]["psnr"]
    repeat = 1 if args.quick else 5

    def run_sitk():
        f = sitk_filter("gradient", sp["conductance"])
        f.SetNumberOfIterations(int(sp["niter"]))
        return sitk.GetArrayFromImage(f.Execute(sitk.GetImageFromArray(noisy32)))

    # cheapest of ours: per (diffusivity, sigma), the smallest t of the search reaching the target,
    # then 3 bisection steps on log t below it
    set_threads(1)
    recs = [x for x in r["ours_records"] if x[4] >= target]
    cands = {}
    for diff, s, km, t, p in recs:
        if (diff, s) not in cands or t < cands[(diff, s)][1]:
            cands[(diff, s)] = (km, t)
    found = []
    for (diff, s), (km, t) in cands.items():
        def run(tt, diff=diff, s=s, km=km):
            return imd.perona_malik(noisy32, tt, kappa=km * 25, diffusivity=diff, sigma=s)
        lo, hi = t / 2.6, t
        for _ in range(3):
            mid = math.sqrt(lo * hi)
            if psnr_fast(clean, run(mid)) >= target:
                hi = mid
            else:
                lo = mid
        sec, out = best_time(lambda: run(hi), repeat=min(repeat, 3), warmup=1)
        found.append((sec, diff, s, km, hi, final_scores(clean, out, False)[0]))
    found.sort()
    headers = ["method", "parameters", "PSNR", "time s (1 thr)", "time s (2 thr)", "sitk/this (1 thr)",
               "sitk/this (2 thr)"]
    times_sitk = []
    for n in (1, 2):
        set_threads(n)
        times_sitk.append(best_time(run_sitk, repeat=repeat, warmup=1)[0])
    rows = [["sitk gradient", fmt_params("sitk", sp), target, times_sitk[0], times_sitk[1], 1.0, 1.0]]
    bo = r["methods"]["ours"]
    for label, p in [("ours cheapest >= sitk", found[0] if found else None), ("ours best PSNR", bo["params"])]:
        if p is None:
            rows.append([label, "none reached the target", None, None, None, None, None])
            continue
        if isinstance(p, tuple):
            p = dict(diffusivity=p[1], sigma=p[2], kappa_mult=p[3], kappa=p[3] * 25, t=p[4])
        tt = []
        for n in (1, 2):
            set_threads(n)
            sec, out = best_time(lambda: imd.perona_malik(noisy32, p["t"], kappa=p["kappa"], diffusivity=p["diffusivity"],
                                                          sigma=p["sigma"]), repeat=repeat, warmup=1)
            tt.append(sec)
        rows.append([label, fmt_params("ours", p), final_scores(clean, out, False)[0], tt[0], tt[1],
                     times_sitk[0] / tt[0], times_sitk[1] / tt[1]])
    set_threads(max_threads())
    print("Equal-PSNR speed, camera sigma_n=25 (float32 input), SimpleITK GradientAnisotropicDiffusion at its best")
    print("parameters (time includes numpy<->ITK copies) vs ours (scheme='auto') with the cheapest parameters found")
    print(f"that reach its PSNR ({len(found)} candidates timed: per diffusivity and sigma, the smallest t from the")
    print("section-A search, bisected 3 times on log t).  Goal: >= 20x.")
    print_table(rows, headers, {"PSNR": ".2f", "time s (1 thr)": ".4f", "time s (2 thr)": ".4f",
                                "sitk/this (1 thr)": ".1f", "sitk/this (2 thr)": ".1f"})
    print()


def fed_vs_explicit(args, state):
    r = _camera25(args, state)
    p = r["methods"]["ours"]["params"]
    clean = clean_image("camera")
    noisy = add_noise(clean, 25, "camera").astype(np.float32)
    set_threads(1)
    headers = ["t", "explicit evals", "fed evals", "explicit/fed", "PSNR explicit", "PSNR fed", "explicit s", "fed s"]
    rows = []
    for t in ((20.0,) if args.quick else (20.0, 40.0)):
        row = [t]
        res = {}
        for scheme in ("explicit", "fed"):
            calls = []
            sec, out = best_time(lambda: imd.perona_malik(noisy, t, kappa=p["kappa"], diffusivity=p["diffusivity"],
                                                          sigma=p["sigma"], scheme=scheme), repeat=1, warmup=0)
            imd.perona_malik(noisy, t, kappa=p["kappa"], diffusivity=p["diffusivity"], sigma=p["sigma"], scheme=scheme,
                             callback=calls.append)
            res[scheme] = (len(calls), final_scores(clean, out, False)[0], sec)
        row += [res["explicit"][0], res["fed"][0], res["explicit"][0] / res["fed"][0], res["explicit"][1],
                res["fed"][1], res["explicit"][2], res["fed"][2]]
        rows.append(row)
    set_threads(max_threads())
    print(f"Diffusivity evaluations (callback calls = explicit steps / FED cycles), camera sigma_n=25, "
          f"{fmt_params('ours', p)} except t (1 thread; goal explicit/fed >= 5):")
    print_table(rows, headers, {"t": "g", "explicit/fed": ".1f", "PSNR explicit": ".2f", "PSNR fed": ".2f",
                                "explicit s": ".3f", "fed s": ".3f"})
    print()


def memory(args):
    n = 64 if args.quick else 128
    vol = smooth_random((n, n, n))
    k = float(imd.estimate_kappa(vol))
    size = vol.nbytes
    headers = ["call", "sigma", "peak traced / (N*4)", "peak MB"]
    rows = []
    small = vol[:8, :8, :8].copy()
    for scheme in ("explicit", "fed", "aos"):
        for s in (0.0, 1.0):
            imd.perona_malik(small, 1.0, kappa=k, sigma=s, scheme=scheme)  # compile outside the trace
            tracemalloc.start()
            out = imd.perona_malik(vol, 2.0, kappa=k, sigma=s, scheme=scheme)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            del out
            rows.append([f"perona_malik scheme={scheme}", s, peak / size, peak / 1e6])
    if anisotropic_diffusion is not None:
        tracemalloc.start()
        out = anisotropic_diffusion(vol, niter=1, kappa=k, gamma=0.15, option=2)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del out
        rows.append(["medpy anisotropic_diffusion niter=1", None, peak / size, peak / 1e6])
    print(f"Peak memory (tracemalloc, numpy allocations incl. the output; Numba-internal and C scratch not traced)")
    print(f"on a {n}^3 float32 volume, t = 2, in units of its size N*4 = {size / 1e6:.1f} MB (goal <= ~6):")
    print_table(rows, headers, {"peak traced / (N*4)": ".2f", "peak MB": ".1f", "sigma": "g"})
    print()


def section_c(args, state):
    print("C. SPEED")
    print("--------")
    if anisotropic_diffusion is not None:
        speed_steps(args)
    else:
        print("MedPy not installed: step timings skipped.\n")
    equal_psnr(args, state)
    fed_vs_explicit(args, state)
    memory(args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, 2 images, sigma_n 25, 1 repeat (< 2 min)")
    parser.add_argument("--section", choices=("A", "B", "C", "D"), action="append",
                        help="run only this section (repeatable); default all")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes for the parameter searches (default 2)")
    parser.add_argument("--omp-passive", action="store_true",
                        help="set OMP_WAIT_POLICY=passive (Numba's OpenMP layer; see README: busy machines)")
    args = parser.parse_args(argv)
    sections = args.section or ["A", "B", "C", "D"]
    if args.omp_passive:  # read by libgomp when Numba first starts its threads, i.e. below
        os.environ["OMP_WAIT_POLICY"] = "passive"

    import scipy
    import skimage

    versions = {"imdiffuse": getattr(imd, "__version__", "?"), "numpy": np.__version__, "scipy": scipy.__version__,
                "numba": numba.__version__, "numba threads": max_threads(), "threading layer": "?",
                "scikit-image": skimage.__version__}
    try:
        import medpy

        versions["medpy"] = getattr(medpy, "__version__", "installed")
    except ImportError:
        versions["medpy"] = "skipped (not installed)"
    versions["SimpleITK"] = sitk.Version_VersionString() if sitk is not None else "skipped (not installed)"
    imd.perona_malik(np.zeros((8, 8), np.float32), 1.0, kappa=1.0)  # compile, start the threading layer
    try:
        versions["threading layer"] = numba.threading_layer()
    except ValueError:
        pass
    versions["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "unset")  # imdiffuse may set it on import
    print_header("imdiffuse.perona_malik benchmark" + (" (--quick)" if args.quick else ""), versions)
    t0 = time.perf_counter()
    state = {}
    for sec in sections:
        {"A": section_a, "B": section_b, "C": section_c, "D": section_d}[sec](args, state)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end: {load_average()}")


if __name__ == "__main__":
    main()
