"""Segmentation and boundary detection by fast marching.

From an image and a few clicks to a mask, a label image or a boundary, in
2-D and 3-D, with physical spacing:

* speed ("weight") maps from images: :func:`gradient_weight` (fast where the
  image is flat, slow on edges) and :func:`graydiff_weight` (fast where the
  intensity is close to a reference), after MATLAB's ``gradientweight`` and
  ``graydiffweight``;
* :func:`segment_fmm`: the region reached first by a front started at the
  seeds (MATLAB ``imsegfmm``: normalised geodesic distance <= threshold),
  with an automatic threshold;
* :func:`geodesic_watershed`: labels grow from markers by arrival time, each
  point gets the label of the marker whose front reaches it first;
* :func:`geodesic_distance`: distance inside a mask (MATLAB
  ``bwdistgeodesic``) or weighted by a cost image (``graydist``);
* :func:`minimal_path`: the geodesic between two points, back-tracked along
  the gradient of the arrival time with sub-pixel accuracy (live-wire,
  vessel centre lines).

Everything builds on :func:`imdiffuse.fmm.arrival_time` (point sources with an
analytic start, obstacles where the speed is 0).  Coordinates are 0-based
index coordinates ``(row, column[, ...])`` in the array's axis order; the
spacing only changes how lengths are measured.  Points that cannot be
reached are NaN in distances (the convention of :mod:`imdiffuse.fmm`) and 0
in label images.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from ._kernels import jit
from ._validate import check_bool, check_image, check_option, check_positive, parse_spacing

__all__ = [
    "gradient_weight",
    "graydiff_weight",
    "segment_fmm",
    "geodesic_watershed",
    "geodesic_distance",
    "minimal_path",
]

#: weight (speed) maps segment_fmm/geodesic_watershed can build from an image
WEIGHTS = ("gradient", "graydiff")

#: smallest weight: points below it would be obstacles for the march
_FLOOR = 1e-6

#: radius (pixels) of the box around each seed whose spread sets graydiff's scale
_WINDOW = 3

#: width (pixels) of the boundary band that threshold="auto" refines on noisy images
_BAND = 3


# ---------------------------------------------------------------- helpers --


def _image(image, spacing, name="image"):
    """(working float array, spacing tuple) of a 2-D or 3-D single-channel image."""
    array, _ = check_image(image, name=name, ndims=(2, 3))
    return array, parse_spacing(spacing, array.ndim)


def _smooth(u, sigma, spacing, order=None):
    """Gaussian (or Gaussian derivative) of standard deviation ``sigma`` in physical units."""
    from scipy import ndimage

    if sigma == 0 and order is None:
        return u
    sig = [sigma / h for h in spacing]
    return ndimage.gaussian_filter(u, sig, order=0 if order is None else order, mode="nearest", truncate=4.0)


def _gradient_magnitude(u, sigma, spacing):
    """|grad (G_sigma * u)| in intensity per physical unit (Gaussian derivatives)."""
    u = np.asarray(u, dtype=np.float64)
    if sigma == 0:
        grads = np.gradient(u, *spacing)
        return np.sqrt(sum(g * g for g in grads))
    total = np.zeros(u.shape)
    for ax, h in enumerate(spacing):
        order = [0] * u.ndim
        order[ax] = 1
        total += (_smooth(u, sigma, spacing, order) / h) ** 2
    return np.sqrt(total)


def _gradient_axis(T, axis, h):
    """dT/dx along ``axis``: central differences, one-sided next to NaN (obstacles) and borders, 0 inside them."""
    Tm = np.moveaxis(T, axis, 0)
    fwd = np.full(Tm.shape, np.nan)
    bwd = np.full(Tm.shape, np.nan)
    fwd[:-1] = (Tm[1:] - Tm[:-1]) / h
    bwd[1:] = (Tm[1:] - Tm[:-1]) / h
    both = np.isfinite(fwd) & np.isfinite(bwd)
    g = np.where(both, 0.5 * (np.where(both, fwd, 0) + np.where(both, bwd, 0)),
                 np.where(np.isfinite(fwd), fwd, np.where(np.isfinite(bwd), bwd, 0.0)))
    return np.ascontiguousarray(np.moveaxis(g, 0, axis))


def _seed_points(seeds, shape, name="seeds"):
    """(K, ndim) float64 coordinates from a (K, ndim)/(ndim,) array or a boolean mask.

    The checks are :func:`imdiffuse.fmm._seeds`' (inside the grid, finite,
    right shape), with the parameter's own name in the messages.
    """
    from .fmm import _seeds

    ndim = len(shape)
    if seeds is None or isinstance(seeds, (str, bytes, dict)):
        raise TypeError(f"{name} must be a (K, {ndim}) array of index coordinates or a boolean mask, got {seeds!r}")
    if np.size(seeds) == 0 or (np.asarray(seeds).dtype.kind == "b" and not np.any(seeds)):
        raise ValueError(f"{name} is empty: give at least one seed")
    try:
        return _seeds(seeds, shape)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("seeds", name, 1).replace("speed", "image")) from None


def _nearest(pts, shape):
    """Integer pixel indices (tuple of arrays) nearest to coordinates."""
    idx = np.clip(np.floor(pts + 0.5).astype(np.int64), 0, np.array(shape) - 1)
    return tuple(idx.T)


def _reference(smooth, reference):
    """(reference intensity, robust spread) from a number, seed coordinates or a mask.

    For seeds the reference is the mean of ``smooth`` at the nearest pixels
    and the spread is 1.4826 * MAD of ``smooth`` over the boxes of radius
    :data:`_WINDOW` around them; for a mask, mean and MAD over the mask; a
    number has no spread (0).
    """
    if isinstance(reference, np.ndarray) and reference.ndim == 0 and reference.dtype.kind in "iuf":
        reference = reference[()]
    if isinstance(reference, numbers.Real) and not isinstance(reference, (bool, np.bool_)):
        value = float(reference)
        if not np.isfinite(value):
            raise ValueError(f"reference must be a finite number, seeds or a mask, got {value!r}")
        return value, 0.0
    arr = np.asarray(reference)
    pts = _seed_points(reference, smooth.shape, "reference")
    if arr.dtype.kind == "b":
        samples = smooth[arr]
    else:
        box = np.zeros(smooth.shape, dtype=bool)
        centres = np.stack(_nearest(pts, smooth.shape), axis=1)
        if len(centres) <= 1000:  # mark the boxes directly (a dilation of the image took ~9 ms at 512^2)
            for c in centres:
                box[tuple(slice(max(int(x) - _WINDOW, 0), int(x) + _WINDOW + 1) for x in c)] = True
        else:
            from scipy import ndimage

            box[tuple(centres.T)] = True
            box = ndimage.binary_dilation(box, np.ones((2 * _WINDOW + 1,) * smooth.ndim, dtype=bool))
        samples = smooth[box]
    value = float(smooth[_nearest(pts, smooth.shape)].mean())
    spread = 1.4826 * float(np.median(np.abs(samples - np.median(samples))))
    return value, spread


def _threshold(threshold):
    if isinstance(threshold, str):
        if threshold == "auto":
            return "auto"
        raise ValueError(f'threshold must be a number in [0, 1] or "auto", got {threshold!r}')
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f'threshold must be a number in [0, 1] or "auto", got {threshold!r}')
    value = float(threshold)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f'threshold must be a number in [0, 1] or "auto", got {value!r}')
    return value


#: The noise a denoised image keeps, as a fraction of the input noise level:
#: segment_fmm's graydiff weight tolerates at least this spread around the
#: seeds' intensity.  The residual of the calibrated Perona-Malik rule is
#: spatially correlated (blotches larger than the 7-pixel reference box, so
#: the box's own spread misses it); measured away from edges on the
#: synthetic shapes of bench_segment: 37 / 24 / 11 / 7 / 7 % of sigma at
#: sigma 5 / 10 / 25 / 50 / 80.  The smallest ratio is the floor.
_RESIDUAL = 0.07

#: images larger than this take their intensity percentiles from a regular subsample of this size
_PERCENTILE_SAMPLE = 1 << 20


def _percentiles(a, q):
    """np.percentile(a, q) on :func:`imdiffuse.noise._subsample` of a large array (256^3: 0.1 s -> 10 ms).

    Only for the coarse scales here (the noise test, a weight's scale floor),
    where a subsample of a million points changes nothing that matters.
    """
    from .noise import _subsample

    return np.percentile(_subsample(np.asarray(a), _PERCENTILE_SAMPLE), q)


def _prepare(image, weight, sigma, spacing):
    """(image as float64, spacing, weight, sigma, noisy, residual): segment_fmm's and the watershed's start.

    With ``weight="graydiff"`` the image comes back denoised; ``noisy``
    says whether its noise is above 0.5 % of its range, ``residual`` is the
    least spread the weight then tolerates (:data:`_RESIDUAL` times the
    noise level).
    """
    array, _ = check_image(image, name="image", ndims=(2, 3))
    h = parse_spacing(spacing, array.ndim)
    if weight is not None:
        weight = check_option(weight, "weight", WEIGHTS)
    if sigma is None:
        sigma = 1.5 if weight == "gradient" else 0.0
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    array = np.asarray(array, dtype=np.float64)
    if weight is None and (array < 0).any():
        raise ValueError("image must be a weight map >= 0 when weight=None (0 = obstacle), got negative values")
    noisy = False
    level = 0.0
    if weight == "graydiff":
        from .denoise import denoise
        from .noise import estimate_noise

        # one estimate serves the noise test and the denoising (which would
        # otherwise estimate it again: blind denoise() does exactly this)
        level, model = estimate_noise(array, return_model=True)
        gaussian = level if model == "gaussian" else estimate_noise(array, noise="gaussian")
        p1, p99 = _percentiles(array, [1, 99])
        noisy = gaussian > 0.005 * float(p99 - p1)
        if level > 0:  # else blind denoise() returns the image as it is
            # the calibrated rule, not the per-image SURE search: 3-10x faster,
            # and the weight maps and thresholds were validated with it; in
            # float32, ample for a weight map and 1.6x faster on 256^3
            work = array.astype(np.float32)
            array = np.asarray(denoise(work, spacing=h, noise=model, sigma=level, tuning="rule"), dtype=np.float64)
    residual = _RESIDUAL * level if weight == "graydiff" else 0.0
    return array, h, weight, sigma, noisy, residual


def _speed(array, weight, reference, sigma, h, residual=0.0):
    """Speed map of a prepared image: itself (weight=None) or a weight built from it.

    ``residual``: the least noise left in a denoised image (graydiff's
    reference spread is at least this, see :data:`_RESIDUAL`).
    """
    if weight is None:
        return array
    if weight == "gradient":
        return gradient_weight(array, sigma, spacing=h)
    return _graydiff(array, reference, "auto", None, sigma, h, residual)


def _refine(mask, u, pts, width=_BAND):
    """Reassign the band of ``width`` pixels around the mask's boundary to the closer local mean.

    A band pixel joins the region when its intensity is closer to the mean
    of the region's interior nearby than to the mean of the outside nearby
    (Gaussian-weighted means, scale ``2 * width + 1`` pixels, over the
    interior eroded by ``width`` and the ring beyond the band); then only
    the components that hold a seed are kept.  This puts the boundary of a
    noisy, denoised (slightly blurred) image at the half-way intensity.
    """
    if not mask.any():
        return mask
    # work in the bounding box of the mask, padded by the reach of the band and the Gaussian means
    pad = 3 * width + 2 + int(np.ceil(4 * (2 * width + 1)))
    where = np.argwhere(mask)
    lo = np.maximum(where.min(axis=0) - pad, 0)
    hi = np.minimum(where.max(axis=0) + pad + 1, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    full = np.zeros(mask.shape, dtype=bool)
    full[box] = _refine_box(mask[box], u[box], pts - lo, width)
    return full


def _refine_box(mask, u, pts, width):
    from scipy import ndimage

    st = ndimage.generate_binary_structure(mask.ndim, 1)
    # k cross-shaped dilations (erosions) = city-block distance <= k (> k) from the
    # mask (from the outside, the array's border counting as outside): two
    # distance transforms instead of three iterated morphologies (3-4x faster)
    out_d = ndimage.distance_transform_cdt(~mask, metric="taxicab")
    in_d = ndimage.distance_transform_cdt(np.pad(mask, 1), metric="taxicab")[(slice(1, -1),) * mask.ndim]
    inner = in_d > width
    outer = out_d <= width
    ring = (out_d <= 2 * width + 1) & ~outer
    band = outer & ~inner
    where = np.nonzero(band)
    (mi, wi), (mo, wo) = _local_means(u, (inner, ring), where, 2.0 * width + 1.0)
    vals = u[where]
    ok = (wi > 1e-3) & (wo > 1e-3)
    out = mask.copy()
    out[tuple(w[ok] for w in where)] = (np.abs(vals - mi) < np.abs(vals - mo))[ok]
    lab, _ = ndimage.label(out, st)
    inside = ((pts >= 0) & (pts <= np.array(mask.shape) - 1)).all(axis=1)
    keep = np.unique(lab[_nearest(pts[inside], mask.shape)])
    return np.isin(lab, keep[keep > 0])


def _block_sums(a):
    """Sums over the 2^ndim blocks of 2 points per axis (the last block of an odd axis has one).

    Added up from strided views: no reduction over axes, no padding copy.
    """
    out = a[(slice(None, None, 2),) * a.ndim].copy()
    for offsets in itertools.product((0, 1), repeat=a.ndim):
        if any(offsets):
            view = a[tuple(slice(o, None, 2) for o in offsets)]
            out[tuple(slice(0, n) for n in view.shape)] += view
    return out


def _local_means(u, regions, where, scale):
    """Gaussian-weighted means of ``u`` over each boolean region, and the weight, at the points ``where``.

    For a region ``S``: ``G * (S u) / G * S`` and ``G * S`` (in [0, 1]),
    ``G`` the Gaussian of standard deviation ``scale`` pixels.  Computed on
    a grid of half the resolution (sums over 2^ndim blocks, then a Gaussian
    of sqrt(scale^2 - 1/4) / 2 coarse pixels: a block adds a variance of
    1/4 pixel^2 per axis), and read at the points by multilinear
    interpolation: a Gaussian of scale >= 3 has nothing left at the coarse
    grid's Nyquist frequency (exp(-scale^2 pi^2 / 8) < 1e-4), and this
    costs 2^ndim times fewer points and half the taps (the whole refinement
    of a 256^3 ball: 1.7 s -> 0.65 s).  float32: ample for a mean.
    """
    from scipy import ndimage

    from ._kernels import gaussian_filter

    ndim = u.ndim
    sig = [math.sqrt(scale * scale - 0.25) / 2.0] * ndim
    coords = [(np.asarray(w, dtype=np.float32) - 0.5) / 2.0 for w in where]  # fine i -> coarse (i - 1/2) / 2
    out = []
    for region in regions:
        num = np.multiply(region, u, dtype=np.float32, casting="unsafe")
        den = region.astype(np.float32)
        sums = [gaussian_filter(_block_sums(a), sig) for a in (num, den)]
        n_at, d_at = (ndimage.map_coordinates(a, coords, order=1, mode="nearest") for a in sums)
        out.append((n_at / np.maximum(d_at, 1e-30), d_at / 2 ** ndim))
    return out


@jit
def _smallest(T, k):
    """(k-th smallest positive finite value (0-based, NaN if fewer), largest finite value, #finite, #positive,
    smallest positive value (inf if none)).

    One pass; a max-heap of the k + 1 smallest positive values seen: most
    values fail the one comparison with its top, so this is far cheaper
    than a partition.
    """
    heap = np.empty(k + 1)
    nh = 0
    count = 0
    positive = 0
    top = -math.inf
    least = math.inf
    for i in range(T.shape[0]):
        v = T[i]
        if not math.isfinite(v):
            continue
        count += 1
        if v > top:
            top = v
        if not v > 0:
            continue
        positive += 1
        least = min(least, v)
        if nh <= k:  # fill: sift up
            j = nh
            nh += 1
            while j > 0 and heap[(j - 1) >> 1] < v:
                heap[j] = heap[(j - 1) >> 1]
                j = (j - 1) >> 1
            heap[j] = v
        elif v < heap[0]:  # replace the largest: sift down
            j = 0
            while True:
                c = 2 * j + 1
                if c >= nh:
                    break
                if c + 1 < nh and heap[c + 1] > heap[c]:
                    c += 1
                if heap[c] <= v:
                    break
                heap[j] = heap[c]
                j = c
            heap[j] = v
    return (heap[0] if nh == k + 1 else math.nan), top, count, positive, least


@jit(inline="always")
def _bin(v, lv, log0, q, edges):
    """Index of the first of the geometric ``edges`` >= v (len(edges) if none); lv = log v."""
    m = edges.shape[0]
    x = (lv - log0) / q
    b = 0 if not x > 0 else (m if x >= m else int(math.ceil(x)))
    while b < m and v > edges[b]:
        b += 1
    while b > 0 and v <= edges[b - 1]:
        b -= 1
    return b


@jit
def _count_below(T, q, edges):
    """#{t <= g} over the finite values t of T, for every g of an increasing geometric grid.

    ``edges`` have ratio about exp(q) between neighbours.  One pass, no
    sort: each value's bin (the first edge >= it) comes from its logarithm
    and is then corrected by exact comparisons, so rounding cannot move a
    value across an edge.  Values <= 0 (the seeds' zeros) fall in the first
    bin; the edges must be > 0.
    """
    m = edges.shape[0]
    c = np.zeros(m + 1, dtype=np.int64)
    log0 = math.log(edges[0])
    for i in range(T.shape[0]):
        v = T[i]
        if not math.isfinite(v):
            continue
        lv = math.log(v) if v > 0 else -math.inf
        c[_bin(v, lv, log0, q, edges)] += 1
    return np.cumsum(c)[:m]


#: auto_threshold's times: this many per factor ``ratio``, so that t and
#: ratio * t are both on the grid and N is counted once per time
_PER_RATIO = 24


def _rate_grid(lo, top, ratio):
    """The times ``lo * ratio ** (j / _PER_RATIO)`` <= top, j = 0, 1, ... (the same values for any top)."""
    q = math.log(ratio) / _PER_RATIO
    m = int(math.floor(math.log(top / lo) / q)) + 1 if top >= lo else 0
    grid = lo * np.exp(q * np.arange(m + 1))
    return grid[grid <= top], q


def _stall_index(counts, ratio, stall, ndim, complete):
    """auto_threshold's choice on its grid from the counts ``N(grid)``: an index, None if undecided.

    ``complete``: the counts reach the end of the times; otherwise they are
    a prefix, and the choice is made only once the first stall has ended
    within it (then it is the choice the whole grid would give).
    """
    below = counts[:-_PER_RATIO]
    rate = (counts[_PER_RATIO:] - below) / below / math.log(ratio)
    if rate.size == 0:
        return None
    low = rate < stall * ndim
    if low.any():
        first = int(np.argmax(low))
        if low[first:].all():
            if not complete:
                return None
            end = rate.size
        else:
            end = first + int(np.argmin(low[first:]))
        return first + int(np.argmin(rate[first:end]))
    return int(np.argmin(rate)) if complete else None


def _default_min_size(ndim):
    return 4 * 3 ** ndim


def _start_time(kth, least):
    """auto_threshold's first time: the min_size-th point's, and at least 3 rings out (3x the first time).

    From a seed region (a mask) the first rings arrive at 1, 2, 3... times
    one step: N(t) is a staircase that would look stalled between steps
    while ratio * t spans less than one of them.
    """
    return max(float(kth), 3.0 * float(least))


def _stall_threshold(kth, least, top, counts, seeds, ratio, stall, ndim, complete):
    """auto_threshold's time from ``counts(grid, q)`` = N on the grid (seeds included); None if undecided.

    ``kth``, ``least``: the min_size-th and the smallest positive time;
    ``top``: the largest time (``complete``) or the time below which the
    counts are final (a paused march: the grid stops short of it).  Without
    a stall on a complete grid, ``top``.
    """
    grid, q = _rate_grid(_start_time(kth, least), top, ratio)
    if not complete:
        grid = grid[grid < top]
    k = _stall_index(counts(grid, q) - seeds, ratio, stall, ndim, complete)
    if k is None:
        return top if complete else None
    return float(grid[k + _PER_RATIO // 2])


def auto_threshold(T, *, ratio=1.5, stall=0.25, min_size=None):
    """Arrival time at which the front first stalls: the ``"auto"`` threshold of :func:`segment_fmm`.

    With ``N(t)`` the number of points reached by time ``t`` beyond the
    seeds (points at time 0), the growth rate
    ``r(t) = (N(ratio * t) - N(t)) / N(t) / log(ratio)`` (about
    ``d log N / d log t``) is ``ndim`` for a front moving freely at constant
    speed from a point, 1 to ``ndim`` from a seed region, ``1`` along a
    tube, and close to 0 while the whole front is held back by a closed
    boundary.  On the logarithmically spaced times
    ``t_j = t_0 ratio**(j/24)`` from the time ``t_0`` of the first
    ``min_size`` points beyond the seeds (positive times; default
    ``4 * 3**ndim``), and at least 3 times the first positive time, to
    ``max(T) / ratio``, the first run of times with
    ``r < stall * ndim`` is the first stall; the threshold is
    ``t * sqrt(ratio)`` at the smallest ``r`` in it (the middle of the
    stall on a log scale).  Without such a run, the smallest ``r`` overall
    is used; without any such time (all of ``T`` within a factor ``ratio``),
    ``max(T)``.

    The choice needs ``N(t)`` only up to ``ratio`` times the end of the
    first stall, so :func:`segment_fmm` stops its march there.
    """
    if min_size is None:
        min_size = _default_min_size(T.ndim)
    flat = np.ascontiguousarray(T, dtype=np.float64).ravel()
    # one pass for the min_size-th smallest positive time, the largest and the
    # counts, one for N(t) on the geometric grid (a histogram: no sort)
    lo, tmax, n, npos, least = _smallest(flat, int(min_size))
    if npos == 0:
        return float(tmax) if n else 0.0
    if npos <= min_size:  # no min_size-th point: the largest positive one
        lo = _smallest(flat, npos - 1)[0]
    return _stall_threshold(lo, least, float(tmax), lambda grid, q: _count_below(flat, q, grid), n - npos,
                            ratio, stall, T.ndim, complete=True)


def _auto_march(speed, pts, h, ratio=1.5, stall=0.25, full=False, chunk=None):
    """``(mask, T)``: the arrival times' :func:`auto_threshold` mask, marching only as far as it needs.

    ``N(t)`` is counted in the order the march freezes the points (their
    times' running maximum): the same counts as on the finished ``T``,
    except within the small dips of the second-order scheme (a point can be
    frozen a little below the last time popped).  Counted this way, the
    counts below the last time popped are final, so the march pauses every
    1/256 of the points and stops once they hold the end of the first
    stall: on an object small next to the image, most of the march is
    skipped (``T`` is then None).  ``full``: march to the end and return
    ``T`` too (the same mask).
    """
    from .fmm import PausedArrival

    march = PausedArrival(speed, pts, dx=h)
    seeds = int(march.count(np.zeros(1))[0])  # the points at time 0
    min_size = _default_min_size(speed.ndim)
    if chunk is None:
        chunk = max(march.size // 256, 1 << 14)

    def counts(grid, q):
        return march.count(grid)

    while not march.advance(march.size if full else chunk):
        kth = march.smallest_positive(min_size)
        if kth is None:
            continue
        t = _stall_threshold(kth, march.smallest_positive(0), march.known, counts, seeds, ratio, stall,
                             speed.ndim, complete=False)
        if t is not None:
            return march.below(t), None
    T = march.times()
    npos = march.positive()
    with np.errstate(invalid="ignore"):
        if npos == 0:  # nothing beyond the seeds: all that was reached
            return np.isfinite(T), T
        t = _stall_threshold(march.smallest_positive(min(min_size, npos - 1)), march.smallest_positive(0),
                             march.last, counts, seeds, ratio, stall, speed.ndim, complete=True)
        return T <= t, T


# ---------------------------------------------------------------- kernels --


@jit
def _interp(fields, shape, x, out):
    """Multilinear interpolation of the rows of ``fields`` (flat grids) at index point ``x``."""
    ndim = shape.shape[0]
    nf = fields.shape[0]
    for f in range(nf):
        out[f] = 0.0
    base = np.empty(ndim, dtype=np.int64)
    frac = np.empty(ndim)
    for e in range(ndim):
        xe = min(max(x[e], 0.0), shape[e] - 1.0)
        i0 = min(int(np.floor(xe)), shape[e] - 2) if shape[e] > 1 else 0
        base[e] = i0
        frac[e] = xe - i0
    for corner in range(1 << ndim):
        w = 1.0
        idx = 0
        for e in range(ndim):
            bit = (corner >> (ndim - 1 - e)) & 1
            if shape[e] == 1:
                if bit:
                    w = 0.0
                    break
                ie = 0
            else:
                ie = base[e] + bit
                w *= frac[e] if bit else 1.0 - frac[e]
            idx = idx * shape[e] + ie
        if w != 0.0:
            for f in range(nf):
                out[f] += w * fields[f, idx]


@jit
def _direction(grads, shape, h, x, g, k):
    """Index-space unit step direction -grad T / |grad T| (physical metric) at x; False if flat."""
    ndim = shape.shape[0]
    _interp(grads, shape, x, g)
    norm = 0.0
    for e in range(ndim):
        norm += g[e] * g[e]
    norm = np.sqrt(norm)
    if not norm > 0.0:
        return False
    for e in range(ndim):
        k[e] = -g[e] / norm / h[e]
    return True


@jit
def _descend(grads, T, shape, h, start, end, step, max_steps, straight):
    """Back-track from ``end`` to ``start`` along -grad T by RK4 steps of ``step`` * min(h).

    Returns (path from end to start, status): 0 ok, 1 stalled, 2 too many
    steps.  Within ``straight`` (index units, 0 = never) of ``start`` the
    path ends with a straight segment to it.
    """
    ndim = shape.shape[0]
    hmin = h.min()
    ds = step * hmin
    cap = 1024
    path = np.empty((cap, ndim))
    n = 0
    x = end.copy()
    g = np.empty(ndim)
    k1 = np.empty(ndim)
    k2 = np.empty(ndim)
    k3 = np.empty(ndim)
    k4 = np.empty(ndim)
    y = np.empty(ndim)
    tv = np.empty(1)
    one = np.empty((1, T.shape[0]))
    one[0] = T
    status = 0
    best = np.inf
    since = 0
    for it in range(max_steps + 1):
        if n == cap:
            bigger = np.empty((2 * cap, ndim))
            bigger[:cap] = path
            path = bigger
            cap *= 2
        for e in range(ndim):
            path[n, e] = x[e]
        n += 1
        # distance to start in physical units
        r = 0.0
        ri = 0.0
        for e in range(ndim):
            d = (x[e] - start[e]) * h[e]
            r += d * d
            ri = max(ri, abs(x[e] - start[e]))
        r = np.sqrt(r)
        if r <= ds or (straight > 0 and ri <= straight):
            break
        if it == max_steps:
            status = 2
            break
        # progress check on the interpolated arrival time
        _interp(one, shape, x, tv)
        if it == 0 or tv[0] < best - 1e-12 * abs(best):
            best = tv[0]
            since = 0
        else:
            since += 1
            if since > 100:
                status = 1
                break
        ok = _direction(grads, shape, h, x, g, k1)
        for e in range(ndim):
            y[e] = x[e] + 0.5 * ds * k1[e]
        ok = ok and _direction(grads, shape, h, y, g, k2)
        for e in range(ndim):
            y[e] = x[e] + 0.5 * ds * k2[e]
        ok = ok and _direction(grads, shape, h, y, g, k3)
        for e in range(ndim):
            y[e] = x[e] + ds * k3[e]
        ok = ok and _direction(grads, shape, h, y, g, k4)
        if not ok:
            status = 1
            break
        for e in range(ndim):
            x[e] += ds * (k1[e] + 2.0 * k2[e] + 2.0 * k3[e] + k4[e]) / 6.0
            x[e] = min(max(x[e], 0.0), shape[e] - 1.0)
    if status == 0:
        if n == cap:
            bigger = np.empty((cap + 1, ndim))
            bigger[:cap] = path
            path = bigger
        for e in range(ndim):
            path[n, e] = start[e]
        n += 1
    return path[:n].copy(), status


# ----------------------------------------------------------------- public --


def gradient_weight(image, sigma=1.5, *, alpha=3.0, cutoff=0.25, spacing=None):
    """Speed map from the image gradient: large where the image is flat, small on edges.

    After MATLAB's ``gradientweight`` (same parameters and defaults):

    .. math::

        W = \\exp\\left(-\\alpha \\frac{|\\nabla (G_\\sigma * I)|}
                                      {\\max |\\nabla (G_\\sigma * I)|}\\right),
        \\qquad W \\leftarrow 10^{-3} \\text{ where } W < \\text{cutoff},

    with Gaussian derivatives of standard deviation ``sigma`` (physical
    units, spacing-aware).  The cut-off makes edges almost impassable for a
    front (weight 0.001), which sharpens segmentations.

    Parameters
    ----------
    image : (M, N[, P]) array_like
        2-D or 3-D image, any real dtype.
    sigma : float, optional
        Standard deviation of the Gaussian derivative (default 1.5, physical
        units); 0 uses central differences without smoothing.
    alpha : float, optional
        Roll-off factor (> 0, default 3, MATLAB's ``RolloffFactor``): how fast
        the weight falls with the relative gradient magnitude.
    cutoff : float, optional
        Weights below ``cutoff`` are set to 0.001 (MATLAB's ``WeightCutoff``,
        default 0.25, in [0.001, 1]); None or 0 keeps the smooth weight.
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis (default 1).

    Returns
    -------
    W : (M, N[, P]) ndarray
        Weights in (0, 1]; float64 for float64 input, float32 otherwise.  A
        constant image gives 1 everywhere.

    Raises
    ------
    ValueError
        Not 2-D/3-D, empty or non-finite image, ``sigma < 0``, ``alpha <= 0``,
        ``cutoff`` outside [0, 1], bad spacing.
    TypeError
        Non-numeric image or options.

    References
    ----------
    .. [1] J. A. Sethian, *Level Set Methods and Fast Marching Methods*,
       Cambridge University Press, 1999 (ch. 17, image segmentation).
    .. [2] MathWorks, ``gradientweight``, Image Processing Toolbox reference.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import gradient_weight
    >>> img = np.zeros((32, 32)); img[:, 16:] = 100.0
    >>> W = gradient_weight(img)
    >>> float(W[5, 2]), float(W[5, 15])     # flat: 1, on the edge: cut to 0.001
    (1.0, 0.001)
    """
    array, h = _image(image, spacing)
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    alpha = check_positive(alpha, "alpha")
    if cutoff is None:
        cutoff = 0.0
    cutoff = check_positive(cutoff, "cutoff", allow_zero=True)
    if cutoff > 1:
        raise ValueError(f"cutoff must be in [0, 1] (or None), got {cutoff!r}")
    g = _gradient_magnitude(array, sigma, h)
    gmax = float(g.max())
    W = np.exp(-alpha * g / gmax) if gmax > 0 else np.ones_like(g)
    if cutoff > 0:
        W[W < cutoff] = 1e-3
    return W.astype(array.dtype, copy=False)


def graydiff_weight(image, reference, *, scale="auto", cutoff=None, sigma=1.5, spacing=None):
    """Speed map from the difference to a reference intensity: large where it is close.

    In the spirit of MATLAB's ``graydiffweight``, with a Gaussian roll-off
    (a likelihood of "same intensity as the reference", which separates
    noisy regions better than MATLAB's exponential one) and the difference
    measured in units of the image's noise, so that one default serves uint8
    photos and CT in Hounsfield units alike:

    .. math::

        W = \\max\\left(\\exp\\left(-\\frac{(G_\\sigma * I - r)^2}{2 s^2}\\right),
        10^{-6}\\right), \\qquad W \\leftarrow 10^{-6} \\text{ where }
        |G_\\sigma * I - r| > \\text{cutoff}.

    Parameters
    ----------
    image : (M, N[, P]) array_like
        2-D or 3-D image, any real dtype.
    reference : float, (K, ndim) array_like or bool array
        The reference intensity ``r``: a number, or seed coordinates
        (index units, rounded to the nearest pixel) or a boolean mask where
        the mean smoothed intensity ``G_sigma * I`` is taken.
    scale : float or "auto", optional
        ``s`` (> 0, intensity units): the difference that lowers the weight
        to ``exp(-1/2)``.  ``"auto"`` (default):
        ``s = max(2 sigma_n, 0.01 (p99 - p1), 2 sigma_r)``: ``sigma_n`` is the
        noise level of ``G_sigma * I`` (the white-noise level of ``I`` from
        :func:`imdiffuse.estimate_noise`, times the Gaussian's attenuation
        ``(2 sqrt(pi) sigma / h)**(-1/2)`` per axis), ``p1``, ``p99`` are
        its intensity percentiles (for noise-free images) and ``sigma_r``
        is the spread of the reference region (1.4826 * median absolute
        deviation of ``G_sigma * I`` in the 7-pixel boxes around the seeds,
        or under the mask): a textured region tolerates its own texture.
    cutoff : float, optional
        Differences above ``cutoff`` (intensity units) get the floor weight
        1e-6 (MATLAB's ``GrayDifferenceCutoff``); None (default): no hard
        cut-off.
    sigma : float, optional
        Gaussian pre-smoothing, standard deviation in physical units
        (default 1.5; 0: none).
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis.

    Returns
    -------
    W : (M, N[, P]) ndarray
        Weights in [1e-6, 1]; float64 for float64 input, float32 otherwise.

    Raises
    ------
    ValueError
        Bad image, seeds outside the image, empty seeds, bad options.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] MathWorks, ``graydiffweight``, Image Processing Toolbox reference.
    .. [2] D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by
       wavelet shrinkage", Biometrika 81(3), 425-455, 1994.
       :doi:`10.1093/biomet/81.3.425` (the noise estimate).

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import graydiff_weight
    >>> img = np.array([[10.0, 10.0, 20.0, 30.0]])
    >>> np.round(graydiff_weight(img, 10.0, scale=10.0, sigma=0), 4).tolist()
    [[1.0, 1.0, 0.6065, 0.1353]]
    """
    array, h = _image(image, spacing)
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    scale = check_positive(scale, "scale", auto=True)
    if cutoff is not None:
        cutoff = check_positive(cutoff, "cutoff", allow_zero=True)
    return _graydiff(array, reference, scale, cutoff, sigma, h, 0.0)


def _graydiff(array, reference, scale, cutoff, sigma, h, residual):
    """:func:`graydiff_weight` on a validated image; the reference spread is at least ``residual``."""
    smooth = _smooth(np.asarray(array, dtype=np.float64), sigma, h)
    ref, spread = _reference(smooth, reference)
    spread = max(spread, residual)
    d = np.abs(smooth - ref)
    if scale == "auto":
        from .noise import estimate_noise

        # white noise of the raw image, attenuated by the Gaussian: (2 sqrt(pi) s)^(-1/2) per axis
        noise = estimate_noise(array, noise="gaussian")
        for h_e in h:
            s_px = sigma / h_e
            if s_px > 0:
                noise *= min(1.0, (2.0 * np.sqrt(np.pi) * s_px) ** -0.5)
        p1, p99 = _percentiles(smooth, [1, 99])
        scale = max(2.0 * noise, 0.01 * float(p99 - p1), 2.0 * spread)
        if not scale > 0:
            scale = 1.0
    far = None if cutoff is None else d > cutoff
    # in place: W = max(exp(-d^2 / (2 scale^2)), floor) without a temporary per operation
    W = np.multiply(d, d, out=d)
    W *= -0.5 / (scale * scale)
    np.exp(W, out=W)
    np.maximum(W, _FLOOR, out=W)
    if far is not None:
        W[far] = _FLOOR
    return W.astype(array.dtype, copy=False)


def segment_fmm(image, seeds, threshold="auto", *, weight="graydiff", sigma=None, spacing=None,
                return_distance=False):
    """Segment the region around seeds by fast marching (MATLAB ``imsegfmm``, N-D, spacing).

    A front starts at the seeds and moves with speed ``W`` (the weight map:
    fast inside homogeneous regions, slow across edges).  Its arrival time
    ``T`` (the geodesic distance weighted by ``1/W``) is normalised to
    ``D = T / max(T)`` and the mask is ``D <= threshold``.

    Parameters
    ----------
    image : (M, N[, P]) array_like
        The image (``weight="gradient"`` or ``"graydiff"``) or a weight map
        >= 0 (``weight=None``; 0 marks obstacles).
    seeds : (K, ndim) array_like or bool array
        Seed points in 0-based index coordinates (row, column[, ...]),
        sub-pixel allowed, or a boolean mask of seed pixels.  All seeds
        belong to the one region segmented.
    threshold : float in [0, 1] or "auto", optional
        Threshold on the normalised distance.  ``"auto"`` (default) puts it
        where the front stalls: the arrival time ``t`` at which the number
        of points reached, ``N(t)``, grows least over the next 50 % of time
        (smallest ``(N(1.5 t) - N(t)) / N(t)``), i.e. where the whole front
        is held back by the region's boundary (see :func:`auto_threshold`);
        the same rule for every image, nothing is tuned per image.  The
        march stops as soon as that time is known (unless
        ``return_distance``): a small object in a large volume costs about
        its own size.  With ``weight="graydiff"`` on a noisy image (noise
        above 0.5 % of the intensity range), the boundary is then refined:
        the pixels within 3 of it take the side whose local mean intensity
        (of the denoised image) is closer, which undoes the blur of
        denoising.
    weight : {"graydiff", "gradient"} or None, optional
        How the speed is built from ``image``.  ``"graydiff"`` (default):
        the image is first denoised edge-preservingly
        (:func:`imdiffuse.denoise`, blind: nothing to do on a clean image),
        then :func:`graydiff_weight` with the seeds as reference (fast where
        the intensity is that of the seeds' neighbourhood; the spread it
        tolerates is at least 7 % of the noise level removed, the residual
        a denoised image keeps in larger blotches than the reference box).
        ``"gradient"``: :func:`gradient_weight` (MATLAB's usual choice; its normalisation by
        the largest gradient makes weak edges leaky when strong ones exist).
        None: ``image`` is the weight.
    sigma : float, optional
        Gaussian scale of the weight map, physical units (default: 1.5 for
        ``"gradient"``, 0 for ``"graydiff"``, which is denoised instead).
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis (default 1).
    return_distance : bool, optional
        Also return the normalised geodesic distance ``D``.

    Returns
    -------
    mask : (M, N[, P]) ndarray of bool
        The segmented region.
    D : (M, N[, P]) ndarray of float64, only with ``return_distance=True``
        Normalised geodesic distance in [0, 1]; NaN where not reached (zero
        weight, enclosed by obstacles).

    Raises
    ------
    ValueError
        Seeds outside the image, empty seeds, ``threshold`` outside [0, 1],
        negative weights, bad image or options.
    TypeError
        Non-numeric input, unknown ``weight``.

    References
    ----------
    .. [1] R. Malladi and J. A. Sethian, "An O(N log N) algorithm for shape
       modeling", PNAS 93(18), 9389-9392, 1996. :doi:`10.1073/pnas.93.18.9389`
    .. [2] MathWorks, ``imsegfmm``, Image Processing Toolbox reference.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import segment_fmm
    >>> yy, xx = np.mgrid[:64, :64]
    >>> disc = (yy - 32) ** 2 + (xx - 30) ** 2 <= 15 ** 2
    >>> img = np.where(disc, 200.0, 50.0)
    >>> mask = segment_fmm(img, [[32, 30]])
    >>> bool((mask == disc).all())
    True
    """
    from .fmm import arrival_time

    return_distance = check_bool(return_distance, "return_distance")
    threshold = _threshold(threshold)
    array, h, weight, sigma, noisy, residual = _prepare(image, weight, sigma, spacing)
    pts = _seed_points(seeds, array.shape)
    W = np.asarray(_speed(array, weight, pts, sigma, h, residual), dtype=np.float64)
    refine = threshold == "auto" and noisy
    if threshold == "auto":  # the march stops as soon as the threshold is known, unless D is wanted
        mask, T = _auto_march(W, pts, h, full=return_distance)
    else:
        T = arrival_time(W, pts, dx=h)
    if T is not None:
        tmax = float(np.nanmax(T))
        D = T / tmax if tmax > 0 else np.where(np.isnan(T), np.nan, 0.0)
        if threshold != "auto":
            with np.errstate(invalid="ignore"):
                mask = D <= threshold
    if refine:
        mask = _refine(mask, array, pts)
    return (mask, D) if return_distance else mask


def geodesic_watershed(image, markers, *, weight="graydiff", sigma=None, spacing=None, return_distance=False):
    """Marker-based geodesic watershed: labels grow from markers by arrival time.

    Fronts start from the markers and each point gets the label of the
    marker whose front reaches it first (a Voronoi partition for geodesic
    distances ``int 1/W ds``).  Regions meet where fronts collide, which is
    on the edges when the speed is small there.  With ``weight="gradient"``
    or None all fronts share one speed map and one march labels the image
    (:func:`imdiffuse.fmm.arrival_time` with ``closest=True``); with
    ``"graydiff"`` each label's front has its own speed (the image's
    likeness to that label's markers, see :func:`segment_fmm`), one march
    per label, and a point takes the label of the smallest arrival time.

    Parameters
    ----------
    image : (M, N[, P]) array_like
        The image (``weight`` "gradient"/"graydiff") or a weight map >= 0
        (``weight=None``; 0 marks obstacles).
    markers : (M, N[, P]) int array or (K, ndim) array_like of float
        Label image (0 = no marker, labels > 0), or K seed coordinates,
        labelled 1..K in order.
    weight : {"graydiff", "gradient"} or None, optional
        Speed map(s) built from ``image``, see :func:`segment_fmm` (default
        ``"graydiff"``: one per label, reference = that label's markers).
    sigma : float, optional
        Gaussian scale of the weight map (physical units; default as in
        :func:`segment_fmm`).
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis.
    return_distance : bool, optional
        Also return the arrival time (geodesic distance to the nearest
        marker, unnormalised).

    Returns
    -------
    labels : (M, N[, P]) ndarray of int32
        Label of the marker reached from; 0 where not reached.
    T : (M, N[, P]) ndarray of float64, only with ``return_distance=True``
        Arrival time; NaN where not reached.

    Raises
    ------
    ValueError
        No marker, markers outside the image or of the wrong shape, bad image.
    TypeError
        Non-integer label image, non-numeric input.

    References
    ----------
    .. [1] F. Meyer, "Topographic distance and watershed lines", Signal
       Processing 38(1), 113-125, 1994. :doi:`10.1016/0165-1684(94)90060-4`
    .. [2] J. A. Sethian, "Fast marching methods", SIAM Review 41(2), 199-235,
       1999. :doi:`10.1137/S0036144598347059`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import geodesic_watershed
    >>> img = np.zeros((8, 12)); img[:, 6:] = 100.0
    >>> geodesic_watershed(img, [[4, 1], [4, 10]])[4].tolist()
    [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    """
    from .fmm import arrival_time

    return_distance = check_bool(return_distance, "return_distance")
    array, h, weight, sigma, _, residual = _prepare(image, weight, sigma, spacing)
    arr = np.asarray(markers)
    if arr.shape == array.shape and arr.dtype.kind in "biu":
        if arr.dtype.kind == "b":
            raise TypeError("markers must be an integer label image (0 = none) or (K, ndim) coordinates, got bool")
        if (arr < 0).any():
            raise ValueError("markers must be >= 0 (0 = no marker)")
        where = arr > 0
        if not where.any():
            raise ValueError("markers is empty: the label image has no label > 0")
        pts = np.argwhere(where).astype(np.float64)
        seed_labels = arr[where].astype(np.int32)
    else:
        pts = _seed_points(markers, array.shape, "markers")
        seed_labels = np.arange(1, len(pts) + 1, dtype=np.int32)
    if weight == "graydiff":
        best = np.full(array.shape, np.inf)
        labels = np.zeros(array.shape, dtype=np.int32)
        for lab in np.unique(seed_labels):
            mine = pts[seed_labels == lab]
            W = _speed(array, weight, mine, sigma, h, residual)
            T = arrival_time(np.asarray(W, dtype=np.float64), mine, dx=h)
            closer = T < best  # NaN compares False: unreached points keep their label
            best[closer] = T[closer]
            labels[closer] = lab
        T = np.where(np.isfinite(best), best, np.nan)
    else:
        W = _speed(array, weight, pts, sigma, h, residual)
        T, which = arrival_time(np.asarray(W, dtype=np.float64), pts, dx=h, closest=True)
        labels = np.where(which >= 0, seed_labels[np.maximum(which, 0)], 0).astype(np.int32)
    return (labels, T) if return_distance else labels


def geodesic_distance(mask_or_seeds, seeds=None, *, weight=None, spacing=None):
    """Geodesic distance from seeds, inside a mask and/or weighted by a cost.

    Two forms, after MATLAB:

    * ``geodesic_distance(mask, seeds)`` -- ``bwdistgeodesic``: the length
      of the shortest path from the seeds that stays inside ``mask`` (True =
      allowed);
    * ``geodesic_distance(seed_mask, weight=cost)`` -- ``graydist``: the
      smallest integral of ``cost`` along paths from the seed pixels,
      anywhere in the image.

    Both combine: ``geodesic_distance(mask, seeds, weight=cost)``.  The
    distance solves ``|grad D| = cost`` by fast marching (second order, exact
    start at point seeds), so it approximates the Euclidean path length
    rather than a chamfer (city-block, chessboard) metric.

    Parameters
    ----------
    mask_or_seeds : (M, N[, P]) bool array
        With ``seeds``: the allowed region.  Without: the seed pixels (the
        whole image is allowed).
    seeds : (K, ndim) array_like or bool array, optional
        Seed coordinates (0-based index units, sub-pixel allowed) or a
        boolean seed mask.  Seeds outside ``mask`` are ignored (as in
        ``bwdistgeodesic``); at least one must be inside.
    weight : (M, N[, P]) array_like, optional
        Cost per unit length (> 0; ``cost <= 0`` marks obstacles).  Default
        1: plain path length in physical units.
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis.

    Returns
    -------
    D : (M, N[, P]) ndarray of float64
        Geodesic distance; NaN outside the mask and where no path exists.

    Raises
    ------
    ValueError
        Shapes differ, no seed (inside the mask), seeds outside the image,
        non-finite cost.
    TypeError
        Non-boolean mask, non-numeric input.

    References
    ----------
    .. [1] P. Soille, *Morphological Image Analysis*, 2nd ed., Springer,
       2003 (geodesic distance).
    .. [2] MathWorks, ``bwdistgeodesic`` and ``graydist``, Image Processing
       Toolbox reference.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import geodesic_distance
    >>> corridor = np.ones((5, 7), bool); corridor[:4, 3] = False   # a wall with a gap at the bottom
    >>> D = geodesic_distance(corridor, [[0, 0]])
    >>> round(float(D[0, 6]), 1)                                      # around the wall, not 6
    10.8
    """
    from .fmm import arrival_time

    region = np.asarray(mask_or_seeds)
    if region.dtype.kind != "b":
        raise TypeError(f"mask_or_seeds must be a boolean array (mask or seed mask), got dtype {region.dtype}")
    if region.ndim not in (1, 2, 3) or region.size == 0:
        raise ValueError(f"mask_or_seeds must be a non-empty 1-D, 2-D or 3-D array, got shape {region.shape}")
    h = parse_spacing(spacing, region.ndim)
    if seeds is None:
        pts = _seed_points(region, region.shape, "mask_or_seeds")
        allowed = np.ones(region.shape, dtype=bool)
    else:
        pts = _seed_points(seeds, region.shape)
        allowed = region
    if weight is None:
        cost = np.ones(region.shape)
    else:
        cost, _ = check_image(weight, name="weight", ndims=(region.ndim,))
        if cost.shape != region.shape:
            raise ValueError(f"weight must have the shape of the mask {region.shape}, got {cost.shape}")
        cost = np.asarray(cost, dtype=np.float64)
    with np.errstate(divide="ignore"):
        speed = np.where((cost > 0) & allowed, 1.0 / np.where(cost > 0, cost, 1.0), 0.0)
    inside = allowed[_nearest(pts, region.shape)] & (speed[_nearest(pts, region.shape)] > 0)
    if not inside.any():
        raise ValueError("no seed lies inside the mask (on an allowed point with weight > 0)")
    return arrival_time(speed, pts[inside], dx=h)


def minimal_path(speed, start, end, *, spacing=None, step=0.5, max_steps=None):
    """Geodesic shortest path between two points, with sub-pixel accuracy.

    The arrival time ``T`` of a front started at ``start`` with the given
    speed (:func:`imdiffuse.fmm.arrival_time`, second order, exact near the
    source) is back-tracked from ``end`` along ``-grad T``: Runge-Kutta
    (order 4) steps of ``step`` pixels on the multilinearly interpolated,
    normalised gradient of ``T``.  Inside the analytically initialised box
    around ``start`` the path goes straight to it (there ``T`` is the exact
    straight-ray time), so the path is accurate near the source too.

    Parameters
    ----------
    speed : (M, N[, P]) array_like
        Speed (> 0; ``<= 0`` marks obstacles).  For a cost (``1/speed``),
        pass ``1 / cost``.  For a bright curve, use e.g. an increasing
        function of the intensity.
    start, end : sequence of float
        End points in 0-based index coordinates (sub-pixel allowed).
    spacing : float or sequence of float, optional
        Pixel/voxel spacing per axis.
    step : float, optional
        Step length in pixels (of the smallest spacing), default 0.5.
    max_steps : int, optional
        Cap on the number of steps (default: 4 times the number of grid
        points divided by ``step``, at least 10 000).

    Returns
    -------
    path : (L, ndim) ndarray of float64
        Coordinates from ``start`` to ``end`` (both included), index units.

    Raises
    ------
    ValueError
        Points outside the grid, on an obstacle, or ``end`` not reachable
        from ``start``; bad options.
    RuntimeError
        The descent stalls (no progress over 100 steps) or exceeds
        ``max_steps``.

    References
    ----------
    .. [1] L. D. Cohen and R. Kimmel, "Global minimum for active contour
       models: a minimal path approach", Int. J. Comput. Vision 24(1),
       57-78, 1997. :doi:`10.1023/A:1007922224810`
    .. [2] G. Peyre, M. Pechaud, R. Keriven and L. D. Cohen, "Geodesic
       methods in computer vision and graphics", Found. Trends Comput.
       Graph. Vis. 5(3-4), 197-397, 2010. :doi:`10.1561/0600000029`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import minimal_path
    >>> path = minimal_path(np.ones((40, 40)), (5, 5), (30, 20))
    >>> path[0].tolist(), path[-1].tolist()
    ([5.0, 5.0], [30.0, 20.0])
    >>> d = np.abs((path[:, 0] - 5) * 15 - (path[:, 1] - 5) * 25) / np.hypot(15, 25)
    >>> bool(d.max() < 0.05)      # a straight line
    True
    """
    from .fmm import arrival_time

    F, _ = check_image(speed, name="speed", ndims=(2, 3))
    F = np.asarray(F, dtype=np.float64)
    h = np.array(parse_spacing(spacing, F.ndim))
    step = check_positive(step, "step")
    if step > 2:
        raise ValueError(f"step must be in (0, 2] pixels, got {step!r}")
    a = _seed_points(start, F.shape, "start")
    b = _seed_points(end, F.shape, "end")
    if len(a) != 1 or len(b) != 1:
        raise ValueError(f"start and end must be single points, got {len(a)} and {len(b)} points")
    a, b = a[0], b[0]
    radius = 5
    T = arrival_time(F, a[None, :], dx=tuple(h), radius=radius)
    from scipy import ndimage

    t_end = ndimage.map_coordinates(np.nan_to_num(T, nan=np.inf), b[:, None], order=1, mode="nearest")[0]
    if not np.isfinite(t_end) or np.isnan(T[_nearest(b[None, :], F.shape)]).any():
        raise ValueError(f"end {tuple(b.tolist())} cannot be reached from start {tuple(a.tolist())} "
                         "(obstacles: speed <= 0 in between, or end on an obstacle)")
    finite = np.isfinite(T)
    big = 2.0 * float(T[finite].max()) + 1.0
    Tf = np.where(finite, T, big)
    grads = np.stack([_gradient_axis(T, ax, h[ax]) for ax in range(F.ndim)])
    # straight finish: the analytic box around start is obstacle-free
    lo = np.maximum(np.ceil(a - radius).astype(int), 0)
    hi = np.minimum(np.floor(a + radius).astype(int), np.array(F.shape) - 1)
    box = tuple(slice(l, u + 1) for l, u in zip(lo, hi))
    straight = bool((F[box] > np.finfo(np.float64).eps).all())
    if max_steps is None:
        max_steps = max(10_000, int(4 * F.size / step))
    else:
        max_steps = int(max_steps)
    path, status = _descend(np.ascontiguousarray(grads.reshape(F.ndim, -1)), np.ascontiguousarray(Tf.ravel()),
                           np.array(F.shape, dtype=np.int64), h, a, b, float(step), int(max_steps),
                           float(radius - 1) if straight else 0.0)
    if status == 1 and straight and np.abs(path[-1] - a).max() <= radius + 2:
        # stalled at the rim of the analytic start box, where the straight-ray times meet the marched
        # ones (a kink of T for a varying speed): the rest is the straight ray to the source
        path = np.concatenate([path, a[None, :]])
        status = 0
    if status == 1:
        raise RuntimeError(f"minimal_path stalled at {tuple(np.round(path[-1], 2).tolist())}: the descent of the "
                           "arrival time made no progress over 100 steps")
    if status == 2:
        raise RuntimeError(f"minimal_path exceeded max_steps={max_steps} steps")
    return path[::-1].copy()
