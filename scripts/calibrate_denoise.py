"""Calibrate the parameter rules of ``imdiffuse.denoise`` on a training set.

Training set: scikit-image's bundled images that are NOT in the benchmark
set of ``benchmarks/bench_pm.py`` -- chelsea, coffee, rocket (as grey), clock,
moon, page, grass, gravel, cell, immunohistochemistry (grey) -- centre-cropped to
at most 384 x 384, plus the bundled CT slice (rescaled to 0..255), with
additive Gaussian noise of standard deviation 5..60 on the 0..255 scale
(not clipped).  For every (image, sigma) and model the best parameters are
the *rules* of ``imdiffuse/denoise.py`` (kappa = a * sigma, t = b * (sigma /
contrast)**p, Catte sigma = c, and the diffusivity) are tuned by coordinate
descent to maximise the mean PSNR of blind ``denoise()`` itself (noise level
estimated, as users run it) over all training cases.  Paste the printed RULE
lines into ``RULES`` in ``src/imdiffuse/denoise.py``.  ``--ndim 3`` tunes the
3-D rules on synthetic piecewise-smooth volumes (random ellipsoids, shells and
tubes, 64^3).

Run:  python scripts/calibrate_denoise.py [--quick]
(``--per-image`` also prints per-image optimal parameters for insight.)
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import sys
import time

import numpy as np
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio as psnr

import imdiffuse as imd
from imdiffuse.denoise import robust_contrast

TRAIN = ("chelsea", "coffee", "rocket", "clock", "moon", "page", "grass", "gravel", "cell", "immunohistochemistry")


def training_images(limit=None):
    out = {}
    for name in TRAIN[:limit]:
        img = getattr(data, name)()
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3]) * 255.0
        img = img.astype(np.float64)
        if img.max() <= 1.0:
            img = img * 255
        h, w = img.shape
        ch, cw = min(h, 384), min(w, 384)
        out[name] = img[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
    ct = imd.data.ct_slice().astype(np.float64)
    out["ct_slice"] = (ct - ct.min()) / (ct.max() - ct.min()) * 255.0
    return out


def training_volumes(count=4, shape=(64, 64, 64)):
    """Synthetic 3-D volumes (0..255): random ellipsoids on a smooth ramp, with thin structures.

    Half of the ellipsoids are hollow shells one to two voxels thick (bone,
    cortex) and a few thin tubes one to two voxels in radius cross the volume
    (vessels): volumes of only large blobs reward over-smoothing.
    """
    out = {}
    for k in range(count):
        rng = np.random.default_rng(1000 + k)
        grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
        voxel = 2.0 / (min(shape) - 1)
        vol = 40.0 + 30.0 * (grids[0] * rng.uniform(-1, 1) + grids[1] * rng.uniform(-1, 1))
        for j in range(14):
            centre = rng.uniform(-0.7, 0.7, 3)
            axes = rng.uniform(0.08, 0.45, 3)
            r2 = sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre, axes))
            inside = r2 <= 1
            if j % 2:  # a shell: the outer 1-2 voxels of the ellipsoid
                inner = 1.0 - rng.uniform(1.0, 2.0) * voxel / axes.min()
                inside &= r2 > inner**2
            vol[inside] = rng.uniform(0, 255) + 20.0 * grids[2][inside]
        for _ in range(4):  # tubes along a random direction through a random point
            point = rng.uniform(-0.5, 0.5, 3)
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            rel = [g - p for g, p in zip(grids, point)]
            along = sum(r * d for r, d in zip(rel, direction))
            dist2 = sum((r - along * d) ** 2 for r, d in zip(rel, direction))
            vol[dist2 <= (rng.uniform(1.0, 2.0) * voxel) ** 2] = rng.uniform(0, 255)
        out[f"volume{k}"] = np.clip(vol, 0, 255)
    return out


def score(clean, u):
    return psnr(clean, np.clip(u, 0, 255), data_range=255)


def search(clean, noisy, sigma, model):
    """Best (psnr, params) of one model on one noisy image."""
    best = (-1.0, None)
    if model == "heat":
        for t in np.geomspace(0.05, 20, 24):
            best = max(best, (score(clean, imd.heat(noisy, t)), {"t": t}), key=lambda b: b[0])
    elif model == "tv":
        for t in np.geomspace(0.5, 200, 24):
            best = max(best, (score(clean, imd.tv_flow(noisy, t)), {"t": t}), key=lambda b: b[0])
    else:
        diff, reg = model.split(":")
        for a, t in itertools.product(np.geomspace(0.15, 3, 10), np.geomspace(0.3, 60, 14)):
            u = imd.perona_malik(noisy, t, kappa=a * sigma, diffusivity=diff, sigma=float(reg))
            best = max(best, (score(clean, u), {"a": a, "t": t}), key=lambda b: b[0])
    return best


def rule_score(cases, method, rule):
    """Mean PSNR of blind denoise(method) over the training cases with one rule."""
    dn = importlib.import_module("imdiffuse.denoise")  # the module, not the function

    target = dn.RULES[cases[0][0].ndim][method]
    saved = dict(target)
    target.update(rule)
    try:
        return float(np.mean([score(clean, imd.denoise(noisy, method=method)) for clean, noisy in cases]))
    finally:
        target.clear()
        target.update(saved)


#: values tried for each constant of each rule (coordinate descent)
GRIDS = {
    "heat": {"b": np.geomspace(4, 80, 15), "p": np.linspace(0.8, 2.2, 15)},
    "tv": {"b": np.geomspace(0.3, 10, 15), "p": np.linspace(0.8, 2.2, 15)},
    "perona_malik": {
        "diffusivity": ["exponential", "rational", "tukey", "weickert", "charbonnier"],
        "a": np.geomspace(0.1, 2.0, 14),
        "c": [0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0],
        "b": np.geomspace(5, 300, 15),
        "p": np.linspace(0.8, 2.2, 15),
    },
    "eed": {
        "diffusivity": ["weickert", "exponential", "rational", "tukey", "charbonnier"],
        "a": np.geomspace(0.1, 2.0, 14),
        "c": [0.5, 0.75, 1.0, 1.5, 2.0],
        "b": np.geomspace(2, 200, 15),
        "p": np.linspace(0.8, 2.2, 15),
    },
    "ced": {
        "s": [0.5, 1.0, 1.5],
        "r": [2.0, 3.0, 4.0, 6.0],
        "k": np.geomspace(1e-5, 1.0, 11),
        "b": np.geomspace(20, 2000, 15),
        "p": np.linspace(0.8, 2.2, 15),
    },
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 3 noise levels, 1 round")
    parser.add_argument("--methods", default="heat,tv,perona_malik,eed,ced")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-image", action="store_true", help="also print per-image optima (slow)")
    parser.add_argument("--ndim", type=int, choices=(2, 3), default=2, help="calibrate the 2-D or the 3-D rules")
    args = parser.parse_args(argv)
    dn = importlib.import_module("imdiffuse.denoise")  # the module, not the function

    if args.ndim == 3:
        images = training_volumes(2 if args.quick else 4)
    else:
        images = training_images(4 if args.quick else None)
    sigmas = (10, 25, 50) if args.quick else (5, 10, 20, 35, 50)
    cases = []
    for (name, clean), sigma in itertools.product(images.items(), sigmas):
        rng = np.random.default_rng(abs(hash((name, sigma))) % 2**32)
        if args.ndim == 2:
            clean = clean[: 256 + 128 * (not args.quick), : 256 + 128 * (not args.quick)]
        cases.append((clean, clean + rng.normal(0, sigma, clean.shape)))
    t0 = time.perf_counter()
    for method in args.methods.split(","):
        rule = dict(dn.RULES[args.ndim][method])
        best = rule_score(cases, method, rule)
        print(f"{method}: start {rule} -> {best:.3f} dB", flush=True)
        for _ in range(1 if args.quick else args.rounds):
            for key, values in GRIDS[method].items():
                for v in values:
                    trial = dict(rule, **{key: v if isinstance(v, str) else float(v)})
                    sc = rule_score(cases, method, trial)
                    if sc > best + 1e-4:
                        best, rule = sc, trial
                print(f"  {key:12s} -> {rule[key]!s:12.6s} mean {best:.3f} dB", flush=True)
        print(f"{method}: RULE {{{', '.join(f'{k!r}: {v!r}' if isinstance(v, str) else f'{k!r}: {v:.4g}' for k, v in rule.items())}}}"
              f"  mean PSNR {best:.3f} dB over {len(cases)} cases  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.per_image:
        for (clean, noisy) in cases:
            sigma = imd.estimate_noise(noisy)
            for model in ("heat", "tv", "exponential:1.0"):
                p, params = search(clean, noisy, sigma, model)
                print(f"sigma_est={sigma:6.2f} {model:16s} {p:6.2f} dB {params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
