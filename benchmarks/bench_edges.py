"""Benchmark ``imdiffuse.edges`` against tuned Canny detectors: F-measure on synthetic images.

Test set: ``--images`` (default 8) synthetic piecewise-constant 256 x 256
images of random polygons, discs and ellipses with random grey levels
(``imdiffuse.edges._synthetic_shapes``, seeds 1000, 1001, ...; the rules of
``edges()`` were calibrated by ``scripts/calibrate_edges.py`` on seeds
0..7 and other noise levels), plus Gaussian noise sigma 10 / 25 / 50
(seeded, not clipped).  Score: F-measure with a 2-pixel tolerance
(precision: detected pixels within 2 px of a true boundary pixel; recall:
boundary pixels within 2 px of a detection), averaged over the images.

Methods, all in this process on the same noisy images:

* ours, ``edges(noisy)`` with every parameter left at its default (noise
  estimated, smoothing time and thresholds from the calibrated rules), for
  ``method="auto"`` (Perona-Malik), ``"eed"`` and ``"heat"``;
* scikit-image ``canny``, an *oracle*: the single parameter set per noise
  level (the same for all images) that maximises the mean F over this very
  test set, from sigma in {1, 1.5, 2, 2.5, 3, 3.5, 4, 5} x quantile
  thresholds high in {0.8, 0.85, 0.88, 0.91, 0.94, 0.96, 0.98} x low = high -
  {0.05, 0.1, 0.2} (``use_quantiles=True``);
* MedPy ``anisotropic_diffusion`` (Perona-Malik, options 1 and 2, gamma
  0.2, kappa in {1, 2, 4} x the true noise sigma, niter in {5, 10, 20, 40,
  80} by chaining calls, which is exact) followed by ``canny`` with sigma in
  {1, 1.5, 2} and the quantile thresholds high in {0.85, 0.9, 0.93, 0.95,
  0.97}, low = high - {0.05, 0.15}: also the best single set per noise level.

The table gives mean F (precision / recall), F relative to the best peer,
and the mean time per image (ours: the whole call; peers: one call at the
chosen parameters).

Usage::

    python benchmarks/bench_edges.py            # 8 images, ~5 min on 2 busy cores
    python benchmarks/bench_edges.py --quick    # 2 images, coarse peer grids, < 1 min
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, print_header, print_table  # noqa: E402

import imdiffuse as imd  # noqa: E402
from imdiffuse.edges import _f_measure, _synthetic_shapes  # noqa: E402

NOISE = (10.0, 25.0, 50.0)
TEST_SEED0 = 1000


def _canny(img, sigma, low, high):
    from skimage.feature import canny

    return canny(img, sigma=sigma, low_threshold=low, high_threshold=high, use_quantiles=True)


def _grid_best(cases, images_for, param_grid):
    """The parameter set with the best mean F over ``cases``; ``images_for(case, params)`` -> edge map."""
    best = (-1.0, None, None)
    for params in param_grid:
        scores = [_f_measure(images_for(c, params), c["truth"], to_truth=c["to_truth"]) for c in cases]
        mean_f = float(np.mean([s[0] for s in scores]))
        if mean_f > best[0]:
            best = (mean_f, params, scores)
    return best


def main(argv=None):
    from scipy import ndimage

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 images and coarse peer grids (smoke test)")
    args = parser.parse_args(argv)
    n_images = 2 if args.quick else args.images
    import skimage

    try:
        import medpy
        from medpy.filter.smoothing import anisotropic_diffusion
    except ImportError:  # pragma: no cover
        anisotropic_diffusion = None
    print_header("imdiffuse.edges vs tuned Canny and MedPy PM + Canny (F-measure, 2 px tolerance)",
                 {"imdiffuse": imd.__version__, "scikit-image": skimage.__version__,
                  "medpy": getattr(medpy, "__version__", "?") if anisotropic_diffusion else "missing"})
    canny_sigmas = (1.0, 2.0, 3.0, 4.0) if args.quick else (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
    highs = (0.85, 0.91, 0.96) if args.quick else (0.8, 0.85, 0.88, 0.91, 0.94, 0.96, 0.98)
    drops = (0.1,) if args.quick else (0.05, 0.1, 0.2)
    m_sigmas = (1.0, 2.0) if args.quick else (1.0, 1.5, 2.0)
    m_highs = (0.9, 0.95) if args.quick else (0.85, 0.9, 0.93, 0.95, 0.97)
    m_drops = (0.1,) if args.quick else (0.05, 0.15)
    m_niters = (10, 40) if args.quick else (5, 10, 20, 40, 80)

    imd.edges(np.random.default_rng(0).normal(0, 1, (32, 32)))  # imports and compilation out of the timings
    rows = []
    for sigma in NOISE:
        cases = []
        for k in range(n_images):
            clean, truth = _synthetic_shapes(TEST_SEED0 + k)
            rng = np.random.default_rng(20_000 + 100 * k + int(sigma))
            noisy = clean + rng.normal(0.0, sigma, clean.shape)
            cases.append(dict(noisy=noisy, truth=truth, to_truth=ndimage.distance_transform_edt(~truth)))
        table = {}
        for method in ("auto", "eed", "heat"):
            scores, times = [], []
            for c in cases:
                t0 = time.perf_counter()
                e = imd.edges(c["noisy"], method=method)
                times.append(time.perf_counter() - t0)
                scores.append(_f_measure(e, c["truth"], to_truth=c["to_truth"]))
            table[f"ours edges(method={method!r})"] = (scores, float(np.median(times)), "defaults")

        grid = list(itertools.product(canny_sigmas, highs, drops))
        f, (s, hi, d), scores = _grid_best(cases, lambda c, p: _canny(c["noisy"], p[0], p[1] - p[2], p[1]), grid)
        t = best_time(lambda: _canny(cases[0]["noisy"], s, hi - d, hi), repeat=3)[0]
        table["skimage canny (oracle)"] = (scores, t, f"sigma={s:g} q=({hi - d:.2f}, {hi:.2f})")

        if anisotropic_diffusion is not None:
            best = (-1.0,)
            for option, kmult in itertools.product((1, 2), (1.0, 2.0, 4.0)):
                chains = [dict(c, states={}) for c in cases]
                for c in chains:
                    u, done = c["noisy"], 0
                    for n in m_niters:
                        u = anisotropic_diffusion(u, niter=n - done, kappa=kmult * sigma, gamma=0.2, option=option)
                        c["states"][n] = u
                        done = n
                grid = list(itertools.product(m_niters, m_sigmas, m_highs, m_drops))
                f, p, scores = _grid_best(
                    chains, lambda c, p: _canny(c["states"][p[0]], p[1], p[2] - p[3], p[2]), grid)
                if f > best[0]:
                    best = (f, (option, kmult) + p, scores)
            f, (option, kmult, n, s, hi, d), scores = best

            def run():
                u = anisotropic_diffusion(cases[0]["noisy"], niter=n, kappa=kmult * sigma, gamma=0.2, option=option)
                return _canny(u, s, hi - d, hi)

            t = best_time(run, repeat=3)[0]
            table["medpy PM + canny (oracle)"] = (
                scores, t, f"option={option} kappa={kmult:g}sigma niter={n} sigma={s:g} q=({hi - d:.2f}, {hi:.2f})")

        peer_best = max(float(np.mean([s[0] for s in v[0]])) for k, v in table.items() if not k.startswith("ours"))
        for name, (scores, t, params) in table.items():
            fs = np.array(scores)
            rows.append([int(sigma), name, float(fs[:, 0].mean()), float(fs[:, 1].mean()), float(fs[:, 2].mean()),
                         float(fs[:, 0].mean()) / peer_best, t, params])
        print(f"noise sigma {sigma:g}: done", flush=True)

    print()
    print(f"{n_images} images 256 x 256, seeds {TEST_SEED0}..{TEST_SEED0 + n_images - 1}")
    print_table(rows, ["noise", "method", "F", "precision", "recall", "F / best peer", "time (s)", "parameters"],
                specs={"F": ".4f", "precision": ".4f", "recall": ".4f", "F / best peer": ".4f", "time (s)": ".3f"})
    print("load average at end: " + load_average())


if __name__ == "__main__":
    main()
