"""Benchmark ``imdiffuse.segment``: Dice against peers, minimal-path accuracy, speed.

Sections (``--section`` picks some; all by default):

A. Quality.  One seed per object, the same seeds for every method; mean
   Dice over the objects of each image:

   * ``synthetic sigma=S``: 256^2, background 100, a disc (200), an
     ellipse (0), a rectangle (190) and a small disc (10), Gaussian noise
     of standard deviation S = 10, 25, 50, three noise draws each (the
     table gives the mean and segment_fmm's worst draw);
   * ``coins``: ``skimage.data.coins()``, reference = Otsu threshold, holes
     filled, objects < 100 px removed, connected components;
   * ``shepp-logan``: ``skimage.data.shepp_logan_phantom()`` (400^2),
     reference = the connected regions of constant value (>= 100 px,
     outside background excluded).

   Seeds: the maximum of the distance transform of each reference object
   (a point deep inside); one background seed the same way.  Methods:

   * ``ours segment_fmm``: :func:`imdiffuse.segment_fmm` with its defaults
     (``weight="graydiff"``, ``threshold="auto"``), one call per object from
     its seed alone;
   * ``ours watershed``: :func:`imdiffuse.geodesic_watershed` from all
     object seeds plus the background seed (default ``weight="graydiff"``);
   * ``random_walker``: skimage, the same labelled seeds as the watershed
     (it needs >= 2 labels), image rescaled to [0, 1], default
     ``beta=130``, ``mode="bf"`` (direct solve);
   * ``MGAC``: skimage ``morphological_geodesic_active_contour`` on
     ``inverse_gaussian_gradient(image in [0, 1], sigma=1.5)``, started
     from a disc of radius 3 at the seed, ``balloon=1``, ``smoothing=1``,
     ``threshold="auto"``, (largest image side) / 2 iterations (enough to
     reach the border from the centre at one pixel per iteration), one run
     per object;
   * ``SimpleITK FM``: the ITK fast-marching pipeline:
     ``GradientMagnitudeRecursiveGaussian(sigma=1.5)`` -> ``Sigmoid``
     (alpha = -(p99 - p50) / 6, beta = (p50 + p99) / 2 of the gradient
     magnitude: slow above the typical edge strength) ->
     ``FastMarching`` from the seed -> threshold at the stall time chosen by
     the same rule as ours (:func:`imdiffuse.segment.auto_threshold`), so
     that only the speed map and solver differ.

B. Minimal path.  A bright sinusoidal curve (amplitude 1, Gaussian profile
   of width 1.5 px) on 256 x 256 with noise sigma 0.5 of the curve height;
   speed = exp(4 * G_1 * I / max) from left to right end; mean and max
   distance of the path to the true curve (pixels); the same for
   scikit-fmm's travel time back-tracked by our descent (for context, when
   scikit-fmm is installed).

C. Speed.  ``segment_fmm`` on 512^2 (noisy disc) and 256^3 (noisy ball)
   from one seed after warm-up: the whole default pipeline, and on a
   precomputed weight (``weight=None``: march + automatic threshold, what
   MATLAB's ``imsegfmm`` does); ``arrival_time`` alone and SimpleITK's
   ``FastMarching`` on the same weight for reference.

Run: ``python benchmarks/bench_segment.py`` (a few minutes on 2 cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, print_header, print_table, set_threads  # noqa: E402

import imdiffuse  # noqa: E402
from imdiffuse import geodesic_watershed, minimal_path, segment_fmm  # noqa: E402
from imdiffuse.segment import auto_threshold  # noqa: E402

try:
    import SimpleITK as sitk
except ImportError:  # pragma: no cover
    sitk = None


# ------------------------------------------------------------------ data --


def dice(a, b):
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


def deep_point(mask):
    """The maximum of the Euclidean distance transform of ``mask`` (a point deep inside)."""
    from scipy import ndimage

    d = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return np.unravel_index(int(np.argmax(d)), mask.shape)


def synthetic(sigma, seed=0, n=256):
    yy, xx = np.mgrid[:n, :n].astype(float)
    shapes = [
        ((yy - 70) ** 2 + (xx - 70) ** 2 <= 40**2, 200.0),
        (((yy - 180) / 30) ** 2 + ((xx - 80) / 50) ** 2 <= 1, 0.0),
        ((np.abs(yy - 80) <= 35) & (np.abs(xx - 185) <= 45), 190.0),
        ((yy - 190) ** 2 + (xx - 195) ** 2 <= 20**2, 10.0),
    ]
    img = np.full((n, n), 100.0)
    for m, v in shapes:
        img[m] = v
    rng = np.random.default_rng(seed)
    noisy = img + rng.normal(0, sigma, img.shape)
    return noisy, [m for m, _ in shapes]


def coins():
    from scipy import ndimage
    from skimage import data, filters, measure

    img = data.coins().astype(float)
    ref = ndimage.binary_fill_holes(img > filters.threshold_otsu(img))
    lab = measure.label(ref)
    sizes = np.bincount(lab.ravel())
    return img, [lab == k for k in range(1, lab.max() + 1) if sizes[k] >= 100]


def shepp_logan():
    from skimage import data, measure

    img = data.shepp_logan_phantom()
    q = np.round(img, 3)
    objects = []
    for v in np.unique(q):
        lab = measure.label(q == v, connectivity=1)
        for k in range(1, lab.max() + 1):
            m = lab == k
            if m.sum() >= 100 and not (v == 0 and m[0, 0]):
                objects.append(m)
    return img, objects


def datasets(quick):
    # three noise draws per level: one draw hid failures of single objects at sigma 50
    out = [(f"synthetic sigma={s}", *synthetic(s, seed=k)) for s in ((10, 25, 50) if not quick else (25,))
           for k in range(1 if quick else 3)]
    out.append(("coins", *coins()))
    out.append(("shepp-logan", *shepp_logan()))
    return out


# ---------------------------------------------------------------- methods --


def ours_fmm(img, seeds, objects):
    return [segment_fmm(img, [s]) for s in seeds]


def ours_watershed(img, seeds, objects, bg):
    lab = geodesic_watershed(img, np.array(list(seeds) + [bg]))
    return [lab == k + 1 for k in range(len(seeds))]


def markers_image(shape, seeds, bg):
    m = np.zeros(shape, np.int32)
    for k, s in enumerate(list(seeds) + [bg]):
        m[tuple(s)] = k + 1
    return m


def random_walker(img, seeds, objects, bg):
    from skimage.segmentation import random_walker as rw

    u = (img - img.min()) / (img.max() - img.min())  # beta=130 is meant for data in [0, 1]
    lab = rw(u, markers_image(img.shape, seeds, bg), beta=130, mode="bf")
    return [lab == k + 1 for k in range(len(seeds))]


def mgac(img, seeds, objects):
    from skimage.segmentation import inverse_gaussian_gradient, morphological_geodesic_active_contour

    u = (img - img.min()) / (img.max() - img.min())
    g = inverse_gaussian_gradient(u, sigma=1.5)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    out = []
    for s in seeds:
        init = ((yy - s[0]) ** 2 + (xx - s[1]) ** 2 <= 9).astype(np.int8)
        out.append(morphological_geodesic_active_contour(g, max(img.shape) // 2, init_level_set=init, smoothing=1,
                                                         balloon=1, threshold="auto").astype(bool))
    return out


def itk_speed(img):
    gm = sitk.GradientMagnitudeRecursiveGaussian(sitk.GetImageFromArray(img.astype(np.float64)), sigma=1.5)
    a = sitk.GetArrayFromImage(gm)
    p50, p99 = np.percentile(a, [50, 99])
    return sitk.Sigmoid(gm, alpha=-(p99 - p50) / 6.0, beta=(p50 + p99) / 2.0, outputMaximum=1.0, outputMinimum=0.0)


def itk_arrival(speed_img, seed):
    fm = sitk.FastMarchingImageFilter()
    fm.SetTrialPoints([tuple(int(v) for v in seed[::-1])])  # ITK indices are (x, y[, z])
    fm.SetStoppingValue(1e30)
    return sitk.GetArrayFromImage(fm.Execute(speed_img))


def sitk_fm(img, seeds, objects):
    speed = itk_speed(img)
    out = []
    for s in seeds:
        T = itk_arrival(speed, s)
        T = np.where(T > 1e29, np.nan, T)
        out.append(T <= auto_threshold(T))
    return out


METHODS = ["ours segment_fmm", "ours watershed", "random_walker", "MGAC", "SimpleITK FM"]


def section_a(quick):
    print("A. Quality: mean Dice over the objects, one seed per object (same seeds for all)\n")
    scores = {}  # name -> method -> per-image mean Dice
    counts = {}
    for name, img, objects in datasets(quick):
        seeds = [deep_point(m) for m in objects]
        bg = deep_point(~np.any(objects, axis=0))
        times = {}
        for meth in METHODS:
            if meth == "SimpleITK FM" and sitk is None:
                continue
            t0 = time.perf_counter()
            if meth == "ours segment_fmm":
                masks = ours_fmm(img, seeds, objects)
            elif meth == "ours watershed":
                masks = ours_watershed(img, seeds, objects, bg)
            elif meth == "random_walker":
                masks = random_walker(img, seeds, objects, bg)
            elif meth == "MGAC":
                masks = mgac(img, seeds, objects)
            else:
                masks = sitk_fm(img, seeds, objects)
            times[meth] = time.perf_counter() - t0
            scores.setdefault(name, {}).setdefault(meth, []).append(
                float(np.mean([dice(m, r) for m, r in zip(masks, objects)])))
        counts[name] = len(objects)
        print(f"  {name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()), flush=True)
    rows = []
    for name, per in scores.items():
        mean = {k: float(np.mean(v)) for k, v in per.items()}
        best_peer = max(v for k, v in mean.items() if not k.startswith("ours"))
        rows.append([name, counts[name], len(per["ours segment_fmm"])] + [mean.get(m) for m in METHODS]
                    + [max(mean["ours segment_fmm"], mean["ours watershed"]) - best_peer,
                       min(per["ours segment_fmm"])])
    print()
    print_table(rows, ["image", "objects", "draws"] + METHODS + ["ours - best peer", "worst draw (fmm)"],
                specs={m: ".3f" for m in METHODS} | {"ours - best peer": "+.3f", "worst draw (fmm)": ".3f"})
    print("mean Dice over the objects, averaged over the noise draws; 'worst draw': segment_fmm's lowest "
          "per-image mean")
    print()


# ----------------------------------------------------------- minimal path --


def curve_image(n=256, noise=0.5, seed=1):
    x = np.arange(n, dtype=float)
    yc = n / 2 + 0.25 * n * np.sin(2 * np.pi * x / n * 1.5) * 0.6
    yy = np.arange(n, dtype=float)[:, None]
    img = np.exp(-((yy - yc[None, :]) ** 2) / (2 * 1.5**2))
    img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return img, yc


def curve_distance(path, yc):
    """Distance of each path point to the polyline (x, yc(x)) sampled densely."""
    from scipy.spatial import cKDTree

    xs = np.linspace(0, len(yc) - 1, 20 * len(yc))
    ys = np.interp(xs, np.arange(len(yc)), yc)
    d, _ = cKDTree(np.c_[ys, xs]).query(path)
    return d


def section_b(quick):
    from scipy import ndimage

    print("B. Minimal path along a bright curve in noise (256^2, noise sigma = 0.5 x curve height)\n")
    rows = []
    for seed in range(3 if not quick else 1):
        img, yc = curve_image(seed=seed + 1)
        g = ndimage.gaussian_filter(img, 1.0)
        speed = np.exp(4.0 * g / g.max())
        start, end = (yc[2], 2.0), (yc[-3], len(yc) - 3.0)
        t, path = best_time(lambda: minimal_path(speed, start, end), repeat=1)
        d = curve_distance(path, yc)
        rows.append([seed + 1, len(path), float(d.mean()), float(d.max()), t])
    print_table(rows, ["noise seed", "points", "mean dist (px)", "max dist (px)", "time (s)"],
                specs={"mean dist (px)": ".3f", "max dist (px)": ".3f", "time (s)": ".4f"})
    print("goal: mean distance < 0.5 px\n")


# ------------------------------------------------------------------ speed --


def section_c(quick):
    from imdiffuse import graydiff_weight
    from imdiffuse.fmm import arrival_time

    print("C. Speed (one thread unless said), one seed, after JIT warm-up; best of N\n")
    set_threads(1)
    rows = []
    rng = np.random.default_rng(0)
    for shape in ((512, 512), (256, 256, 256) if not quick else (96, 96, 96)):
        grids = np.meshgrid(*[np.arange(n) - n / 2 for n in shape], indexing="ij")
        ball = sum(g * g for g in grids) <= (0.3 * shape[0]) ** 2
        img = np.where(ball, 200.0, 50.0) + rng.normal(0, 20, shape)
        seed = [tuple(n // 2 for n in shape)]
        repeat = 5 if len(shape) == 2 else 1
        t_seg, mask = best_time(lambda: segment_fmm(img, seed), repeat=repeat)
        set_threads(2)
        t_seg2, _ = best_time(lambda: segment_fmm(img, seed), repeat=repeat)
        set_threads(1)
        W = graydiff_weight(img, seed, sigma=1.0)
        t_w, _ = best_time(lambda: segment_fmm(W, seed, weight=None), repeat=repeat)
        t_fm, _ = best_time(lambda: arrival_time(W, seed), repeat=repeat)
        t_itk = None
        if sitk is not None:
            sp = sitk.GetImageFromArray(W.astype(np.float64))
            t_itk, _ = best_time(lambda: itk_arrival(sp, seed[0]), repeat=repeat)
        rows.append(["x".join(map(str, shape)), t_seg, t_seg2, dice(mask, ball), t_w, t_fm, t_itk,
                     None if t_itk is None else t_itk / t_fm])
    print_table(rows, ["shape", "segment_fmm (s)", "2 threads (s)", "Dice", "on a weight (s)", "arrival_time (s)",
                       "SimpleITK FM (s)", "SimpleITK / ours"],
                specs={"segment_fmm (s)": ".4f", "2 threads (s)": ".4f", "Dice": ".4f", "on a weight (s)": ".4f",
                       "arrival_time (s)": ".4f", "SimpleITK FM (s)": ".4f", "SimpleITK / ours": ".2f"})
    print("segment_fmm: the default pipeline (denoise, graydiff weight, march, auto threshold, boundary "
          "refinement);\n'2 threads': the same on 2 Numba threads (the march is sequential);\n"
          "'on a weight': segment_fmm(W, seed, weight=None) on a precomputed weight (march + "
          "auto threshold, MATLAB imsegfmm's work)\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller smoke run")
    p.add_argument("--section", action="append", choices=list("abc"), help="run only these sections")
    args = p.parse_args(argv)
    versions = {"imdiffuse": imdiffuse.__version__}
    import skimage

    versions["scikit-image"] = skimage.__version__
    if sitk is not None:
        versions["SimpleITK"] = sitk.Version_VersionString()
    print_header("imdiffuse.segment benchmark", versions)
    set_threads(1)
    for s in args.section or list("abc"):
        {"a": section_a, "b": section_b, "c": section_c}[s](args.quick)


if __name__ == "__main__":
    main()
