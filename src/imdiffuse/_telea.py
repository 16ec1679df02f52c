"""Telea's fast-marching inpainting: the engine of ``inpaint(method="telea")``.

Telea (2004) fills the masked pixels in the order in which a front started
at the boundary of the mask reaches them (the arrival time ``T`` of the
eikonal equation ``|grad T| = 1``).  Each pixel p, when its turn comes, is
the weighted average of the first-order Taylor extrapolations from the
known (or already filled) pixels q of the ball ``|p - q| <= radius``::

    I(p) = sum_q w(p, q) [I(q) + grad I(q) . (p - q)] / sum_q w(p, q)
    w = dir * dst * lev,  dir = |(p - q) . N(p)| / |p - q|,
    dst = d0**2 / |p - q|**2,  lev = T0 / (1 + |T(p) - T(q)|)

with ``N = grad T / |grad T|``.  Conventions (checked against OpenCV's
``INPAINT_TELEA``, whose code is not used here):

* ``T = 0`` on the *band*, the known pixels next to the mask (axis
  neighbours); ``T > 0`` inside the mask; ``T = -(arrival time)`` on the
  known side up to ``radius + max(spacing)`` (then held at that value), so
  ``lev`` favours known pixels close to the boundary, as OpenCV's outer
  march does.
* ``dir`` has a floor ``DIR_MIN = 0.2`` (OpenCV: 1e-6), so that pixels
  beside p along the front still count a little: with OpenCV's floor a
  band along the image border is extrapolated almost only along the normal
  (camera, 20-px band: 20.3 dB against OpenCV's 20.7); floors of 0.1-0.35
  all fix that (21.1-22.4 dB) and cost at most 0.5 dB on a square hole,
  still 2.5 dB above OpenCV (``benchmarks/bench_telea.py``).  Where
  ``grad T`` vanishes (ridges of T, the centre of a hole) ``dir = 1``.
* ``d0 = T0 =`` the smallest grid spacing, which makes the result invariant
  to a common scaling of spacing and radius (OpenCV: 1 pixel).
* Pixels are filled when they are *frozen* (final ``T``), from frozen ones
  only; OpenCV fills a pixel when it enters the narrow band.

**The gradient** ``grad I(q)``.  Per-pixel differences (central where
both axis neighbours of q are available, one-sided else), as in the paper,
are unstable in practice: every filled layer differentiates the previous
layer's extrapolation errors and multiplies them by ``|p - q|`` (up to the
radius), so fills run away from the data (measured on camera, radius 5:
8.4 dB on a 32x32 hole where plain averaging gives 19.3 dB; also worse than
plain averaging on thin scratches).  OpenCV avoids the blow-up only by a
bug: it scales the difference by 2 instead of 1/2 and then normalises the
summed correction to unit length, i.e. it adds at most about one grey
level.  Here one gradient ``g(p)`` is used for all q of the ball: the
weighted least-squares slope of ``I(q) ~ a + g . (q - p)`` with Telea's
weights (``I(p) = a`` is then exactly Telea's average with
``grad I(q) = g``), multiplied by the fit's coefficient of determination
``R**2`` (per channel).  A linear image is reproduced exactly (``R**2 =
1``); on texture the fit explains little and the fill tends to Telea's
plain weighted average.  Measured with ``benchmarks/bench_telea.py``
(camera, moon, coins, camera 16-bit, astronaut RGB; rand50, blobs,
scribble, hole32 and border masks; radius 5): masked PSNR above OpenCV's
in all 25 cases (by 0.01 dB on astronaut hole32, up to 2.8 dB elsewhere),
with the direction floor below and the clip of poorly fitted extrapolations
(``TRUST_R2``).

Differences from OpenCV that the issue asks for: any float dtype (the sums
are accumulated in float64, the result stored in the input's dtype), any
number of channels (filled with the same weights), 1-D to N-D with
physical spacing (the ball is an ellipsoid of index offsets), and correct
image borders: the ball is clipped to the image (a halo of "unavailable"
pixels around the arrays, no wrap-around and no zeros from outside).  A
pixel whose ball holds no available pixel (``radius`` below a spacing) is
filled from its available axis neighbours, of which the march guarantees
at least one (its upwind neighbour).

The arrival times come from the project's fast marching kernel
(:func:`imdiffuse.fmm._march.march`, first order, unit speed); filling in
increasing ``T`` (a stable sort) is the order in which the march freezes
the pixels.  Only the mask's bounding box grown by ``radius + max(spacing)``
is processed.  Cost: ``O(M K C)`` for M masked pixels, K offsets in the
ball (80 for radius 5 in 2-D) and C channels, plus the two marches.

References
----------
.. [1] A. Telea, "An image inpainting technique based on the fast marching
   method", Journal of Graphics Tools 9(1), 23-34, 2004.
   :doi:`10.1080/10867651.2004.10487596`
"""

from __future__ import annotations

import math

import numpy as np

from ._kernels import jit

__all__ = ["telea", "arrival_times", "ball_offsets"]

#: Below this R**2 of the local plane fit, the filled value is clipped to the
#: range of the values it was computed from: on texture, slopes extrapolated
#: layer by layer into image corners drift (astronaut's border band: 12.7 dB
#: unclipped, 13.6 clipped, OpenCV 13.0; a threshold of 0.9 clipped too
#: little, 12.9 dB); above it the plane is trusted, so ramps are still
#: continued exactly past the image border.
TRUST_R2 = 0.99

#: Floor of the direction factor |cos(p - q, N)| (OpenCV: 1e-6 below 0.01; see the module docstring).
DIR_MIN = 0.2

#: Relative ridge added to the weighted covariance of the offsets (keeps the
#: least-squares gradient defined, minimum-norm-like, when the available
#: pixels are collinear).
RIDGE = 1e-9

#: The known side's T is marched out to this many radii plus one spacing.
LEVEL_REACH = 1.0

# states of the padded ``flag`` array of the fill kernel
_OUT, _HOLE, _AVAIL = 0, 1, 2


def _reach(radius, h):
    """How far (physical units) the known side's T is marched."""
    return LEVEL_REACH * float(radius) + float(np.max(h))


@jit
def _march_flags(m, shape, strides, far, frozen, obstacle, inside, outside):
    """Initial states of the inner and the outer march (flat C-order arrays).

    The band (known pixels with a masked axis neighbour) is frozen in both;
    masked pixels are far inside / obstacles outside, other known pixels
    the reverse.
    """
    ndim = shape.shape[0]
    c = np.zeros(ndim, dtype=np.int64)  # coordinates of i, advanced like an odometer
    for i in range(m.shape[0]):
        if i > 0:
            e = ndim - 1
            c[e] += 1
            while c[e] == shape[e] and e > 0:
                c[e] = 0
                e -= 1
                c[e] += 1
        if m[i]:
            inside[i] = far
            outside[i] = obstacle
            continue
        band = False
        for e in range(ndim):
            if (c[e] > 0 and m[i - strides[e]]) or (c[e] < shape[e] - 1 and m[i + strides[e]]):
                band = True
                break
        inside[i] = frozen if band else obstacle
        outside[i] = frozen if band else far


@jit
def _signed_times(m, inside, t_in, outside, t_out, frozen, reach, T):
    """T = inner time on the mask (inf if unreached), -(outer time) elsewhere, held at -reach."""
    for i in range(m.shape[0]):
        if m[i]:
            T[i] = t_in[i] if inside[i] == frozen else np.inf
        elif outside[i] == frozen and t_out[i] <= reach:
            T[i] = -t_out[i]
        else:
            T[i] = -reach


def arrival_times(mask, spacing, radius):
    """Signed arrival time T of Telea's front, float64 of the spatial shape.

    0 on the band (known pixels with a masked axis neighbour), > 0 inside
    the mask (first-order upwind eikonal, unit speed, ``spacing`` per axis),
    -(arrival time) on the known side, held at ``-(LEVEL_REACH * radius +
    max(spacing))`` beyond that.  Mask pixels no front reaches (a full mask)
    are +inf.
    """
    from .fmm import _geometry
    from .fmm import _march as fm

    m = np.ascontiguousarray(mask, dtype=bool).ravel()
    shp, strides, per, h = _geometry(np.shape(mask), spacing, False)
    reach = _reach(radius, h)
    inside = np.empty(m.size, dtype=np.int8)
    outside = np.empty(m.size, dtype=np.int8)
    _march_flags(m, shp, strides, fm.FAR, fm.FROZEN, fm.MASK, inside, outside)
    speed = np.ones(m.size)
    times = []
    for flag, stop in ((inside, np.inf), (outside, reach)):
        dist = np.zeros(m.size)
        fm.march(dist, flag, np.ones(1, dtype=np.int8), speed, np.zeros(1), np.zeros(0, dtype=np.int64), shp,
                 strides, per, 1.0 / h / h, 1, fm.TRAVEL, 0.0, stop, False, False, fm.index_template(m.size))
        times.append(dist)
    T = np.empty(m.size)
    _signed_times(m, inside, times[0], outside, times[1], fm.FROZEN, reach, T)
    return T.reshape(np.shape(mask))


def ball_offsets(shape, spacing, radius):
    """Integer offsets k != 0 with ``|k * spacing| <= radius``, clipped to the array.

    Returns ``(k, r2)``: (K, ndim) int64 offsets in C order and their squared
    physical lengths.  ``|k_e| <= shape_e - 1``: longer offsets never land in
    the array.
    """
    h = np.asarray(spacing, dtype=np.float64)
    reach = [min(int(math.floor(radius / he * (1 + 1e-12))), n - 1) for he, n in zip(h, shape)]
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    k = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    r2 = ((k * h) ** 2).sum(axis=1)
    keep = (r2 <= radius * radius * (1 + 1e-12)) & (r2 > 0)
    return k[keep], r2[keep]


@jit
def _fill(vals, flag, T, order, offs, dk, uk, dst, pstrides, h, h0, tag):
    """Fill the pixels ``order`` (padded flat indices, increasing T) in place.

    vals: (C, P) padded values; flag: (P,) int8 _OUT / _HOLE / _AVAIL;
    T: (P,) padded arrival times; offs: (K,) flat offsets of the ball, dk:
    (K, ndim) the same as physical vectors q - p, uk: (K, ndim) as unit
    vectors, dst: (K,) ``h0**2 / |q - p|**2``; pstrides: (ndim,) padded
    strides; h: (ndim,) spacing; h0: d0 = T0; tag: an empty array with
    one axis per spatial axis (its ndim is a compile-time constant, so the
    loops over axes unroll: about 30 % faster than a run-time count).
    """
    nc = vals.shape[0]
    ndim = tag.ndim  # a compile-time constant: the small loops over axes unroll
    m0 = np.zeros(nc)  # sum w I
    m2 = np.zeros(nc)  # sum w I^2
    m1 = np.zeros((nc, ndim))  # sum w I d
    s1 = np.zeros(ndim)  # sum w d
    cov = np.zeros((ndim, ndim))  # sum w d d^T, then the weighted covariance (Cholesky factor)
    g = np.zeros(ndim)
    nrm = np.zeros(ndim)
    lo = np.empty(nc)  # range of the ball's values: the fill stays within it
    hi = np.empty(nc)
    inv_h0 = 1.0 / h0
    for ii in range(order.shape[0]):
        p = order[ii]
        tp = T[p]
        # N(p): normalised grad T, central where both axis neighbours lie in the image
        gt2 = 0.0
        for e in range(ndim):
            a = p - pstrides[e]
            b = p + pstrides[e]
            ina = flag[a] != _OUT
            inb = flag[b] != _OUT
            if ina and inb:
                ge = (T[b] - T[a]) * 0.5
            elif inb:
                ge = T[b] - tp
            elif ina:
                ge = tp - T[a]
            else:
                ge = 0.0
            ge /= h[e]
            nrm[e] = ge
            gt2 += ge * ge
        has_dir = gt2 > 0.0
        if has_dir:
            inv = 1.0 / math.sqrt(gt2)
            for e in range(ndim):
                nrm[e] *= inv
        for c in range(nc):
            m0[c] = 0.0
            m2[c] = 0.0
            lo[c] = np.inf
            hi[c] = -np.inf
            for e in range(ndim):
                m1[c, e] = 0.0
        for e in range(ndim):
            s1[e] = 0.0
            for f in range(ndim):
                cov[e, f] = 0.0
        s = 0.0
        for j in range(offs.shape[0]):
            q = p + offs[j]
            if flag[q] != _AVAIL:
                continue
            d = 1.0
            if has_dir:
                d = 0.0
                for e in range(ndim):
                    d += uk[j, e] * nrm[e]
                d = abs(d)
                if d < DIR_MIN:
                    d = DIR_MIN
            w = d * dst[j] / (1.0 + abs(tp - T[q]) * inv_h0)
            s += w
            for e in range(ndim):
                wd = w * dk[j, e]
                s1[e] += wd
                for f in range(e + 1):
                    cov[e, f] += wd * dk[j, f]
            for c in range(nc):
                v = vals[c, q]
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
                wv = w * v
                m0[c] += wv
                m2[c] += wv * v
                for e in range(ndim):
                    m1[c, e] += wv * dk[j, e]
        if s == 0.0:
            # radius below a spacing: the available axis neighbours (the
            # upwind one always is), weighted 1 / h**2
            for e in range(ndim):
                we = 1.0 / (h[e] * h[e])
                for step in (-1, 1):
                    q = p + step * pstrides[e]
                    if flag[q] == _AVAIL:
                        for c in range(nc):
                            m0[c] += we * vals[c, q]
                        s += we
            if s > 0.0:
                for c in range(nc):
                    vals[c, p] = m0[c] / s
            flag[p] = _AVAIL
            continue
        # weighted covariance of d (lower triangle) plus a tiny ridge, then Cholesky
        tr = 0.0
        for e in range(ndim):
            for f in range(e + 1):
                cov[e, f] -= s1[e] * s1[f] / s
            tr += cov[e, e]
        ridge = RIDGE * tr + 1e-300
        ok = tr > 0.0
        for e in range(ndim):
            if not ok:
                break
            cov[e, e] += ridge
            for f in range(e + 1):
                acc = cov[e, f]
                for k in range(f):
                    acc -= cov[e, k] * cov[f, k]
                if f == e:
                    if acc <= 0.0:
                        ok = False
                        break
                    cov[e, e] = math.sqrt(acc)
                else:
                    cov[e, f] = acc / cov[f, f]
        for c in range(nc):
            mean = m0[c] / s
            value = mean
            if ok:
                # slope g: cov g = sum w (d - mean d)(I - mean I), by the Cholesky factor
                for e in range(ndim):
                    acc = m1[c, e] - s1[e] * mean
                    for k in range(e):
                        acc -= cov[e, k] * g[k]
                    g[e] = acc / cov[e, e]
                for e in range(ndim - 1, -1, -1):
                    acc = g[e]
                    for k in range(e + 1, ndim):
                        acc -= cov[k, e] * g[k]
                    g[e] = acc / cov[e, e]
                explained = 0.0
                corr = 0.0
                for e in range(ndim):
                    explained += g[e] * (m1[c, e] - s1[e] * mean)
                    corr += g[e] * s1[e]
                total = m2[c] - m0[c] * mean
                if total > 0.0 and explained > 0.0:
                    # the Taylor correction sum w g.(p - q) / sum w, scaled by R^2
                    r2 = min(explained / total, 1.0)
                    value -= r2 * corr / s
                    if r2 < TRUST_R2:  # a poor plane fit may extrapolate: stay within the ball's values
                        value = min(max(value, lo[c]), hi[c])
            vals[c, p] = value
        flag[p] = _AVAIL


def telea(values, mask, spacing, radius):
    """Fill ``mask`` in ``values`` by Telea's fast-marching method.

    Parameters
    ----------
    values : (C, *spatial) float32 or float64 ndarray
        C channels; any number of spatial axes (1-D to 3-D in practice).
        The values under the mask are ignored.
    mask : (*spatial) bool ndarray
        True = pixel to fill.
    spacing : tuple of float
        Grid spacing per spatial axis (physical units).
    radius : float
        Radius of the neighbourhood each pixel is extrapolated from, in the
        units of ``spacing`` (OpenCV's ``inpaintRadius`` for spacing 1).

    Returns
    -------
    ndarray
        A new array like ``values``: known pixels bit-identical, masked ones
        filled.  A mask covering every pixel (nothing to fill from) gives
        zeros there.
    """
    from .fmm import _geometry

    values = np.asarray(values)
    dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    mask = np.asarray(mask, dtype=bool)
    shape = mask.shape
    ndim = mask.ndim
    nc = values.shape[0]
    out = np.array(values, dtype=dtype, copy=True).reshape((nc,) + shape)
    if not mask.any():
        return out
    if mask.all():
        out[...] = 0
        return out
    spacing = tuple(float(s) for s in spacing)
    radius = float(radius)
    h = np.array(spacing)
    # work in the mask's bounding box grown by the known side's reach:
    # nothing farther from the mask enters any formula
    grow = [int(math.ceil(_reach(radius, h) / he)) + 1 for he in h]
    box = []
    for e in range(ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(f for f in range(ndim) if f != e)))
        box.append(slice(max(int(hit[0]) - grow[e], 0), min(int(hit[-1]) + grow[e] + 1, shape[e])))
    box = (slice(None),) + tuple(box)
    window = out[box]  # a view: filled in place at the end
    mask = mask[box[1:]]
    shape = mask.shape
    T = arrival_times(mask, spacing, radius)

    k, r2 = ball_offsets(shape, spacing, radius)
    halo = [int(np.abs(k[:, e]).max(initial=0)) + 1 for e in range(ndim)]
    pshape = tuple(n + 2 * w for n, w in zip(shape, halo))
    pstrides = _geometry(pshape, spacing, False)[1]
    inner = tuple(slice(w, w + n) for w, n in zip(halo, shape))

    vals = np.zeros((nc,) + pshape, dtype=dtype)
    vals[(slice(None),) + inner] = np.where(mask, 0, window)
    flag = np.full(pshape, _OUT, dtype=np.int8)
    flag[inner] = np.where(mask, _HOLE, _AVAIL)
    PT = np.zeros(pshape)
    PT[inner] = T
    # masked pixels in increasing T (the march's freezing order), as padded flat indices
    idx = np.flatnonzero(mask)
    idx = idx[np.argsort(T.ravel()[idx], kind="stable")]
    coords = np.unravel_index(idx, shape)
    order = sum((c + w) * s for c, w, s in zip(coords, halo, pstrides)).astype(np.int64)
    offs = (k @ pstrides).astype(np.int64)
    dk = np.ascontiguousarray(k * h)
    h0 = float(h.min())
    _fill(vals.reshape(nc, -1), flag.ravel(), PT.ravel(), order, offs, dk, dk / np.sqrt(r2)[:, None], h0 * h0 / r2,
          pstrides, h, h0, np.empty((0,) * ndim))
    window[:, mask] = vals[(slice(None),) + inner][:, mask]
    return out
