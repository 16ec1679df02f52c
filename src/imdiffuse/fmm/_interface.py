"""Initialisation of the front: the frozen points the march starts from.

* :func:`init_linear` -- scikit-fmm's initialisation (the zero contour of
  phi located by linear interpolation along each axis, the distance of a
  node from the planes through those crossings).  First-order accurate
  where the front is oblique to the grid.
* :func:`init_quadratic` -- a higher-order initialisation in the spirit of
  Chopp (2001): at each node next to the front, phi is modelled by its
  second-order Taylor polynomial (central differences for the gradient and
  all second derivatives), and the node's distance is the exact distance to
  the zero set of that polynomial, found by Chopp's projection iteration.
  The model is exact for quadratic phi and third-order accurate otherwise,
  so the second-order march that follows is really second order.
* :func:`init_points` -- exact values around point sources.

Importing this module imports Numba.
"""

from __future__ import annotations

import numpy as np

from .._kernels import jit
from ._march import EXTENSION, FAR, FROZEN, MASK, TRAVEL, _coords, _nbr, _step


@jit
def _mark_pairs(mark, phi, lo, hi, count):
    """mark[lo + b] and mark[hi + b] where phi changes sign between them, b < count.

    Written on slices, one store per point, so that LLVM vectorises it.
    """
    pa = phi[lo:lo + count]
    pb = phi[hi:hi + count]
    ma = mark[lo:lo + count]
    mb = mark[hi:hi + count]
    for b in range(count):
        s = pa[b] * pb[b] < 0.0
        ma[b] |= s
        mb[b] |= s


@jit
def _near_front(phi, shape, strides, periodic):
    """Indices (ascending) of the points with phi == 0 or a sign change to an axis neighbour.

    A superset of the initial front (masks are ignored here), found with
    vectorised passes over contiguous runs, so that :func:`init_linear`
    visits only these few points instead of testing every neighbour of
    every point (8 ms -> 1 ms on 1024^2).
    """
    ndim = shape.shape[0]
    size = phi.shape[0]
    mark = phi == 0.0
    for e in range(ndim):
        n = shape[e]
        inner = strides[e]
        if n < 2:
            continue
        outer = size // (n * inner)
        if inner == 1:  # along rows: neighbours at +-1 in one contiguous run
            for a in range(outer):
                base = a * n
                row = phi[base:base + n]
                mk = mark[base:base + n]
                for j in range(n - 1):  # pairs (j, j + 1); two passes keep one store per point
                    mk[j] |= row[j] * row[j + 1] < 0.0
                for j in range(1, n):
                    mk[j] |= row[j] * row[j - 1] < 0.0
                if periodic[e] and n > 2:  # the wrap-around pair
                    s = row[0] * row[n - 1] < 0.0
                    mk[0] |= s
                    mk[n - 1] |= s
            continue
        for a in range(outer):
            base = a * n * inner
            for j in range(n - 1):
                _mark_pairs(mark, phi, base + j * inner, base + (j + 1) * inner, inner)
            if periodic[e] and n > 2:
                _mark_pairs(mark, phi, base, base + (n - 1) * inner, inner)
    return np.flatnonzero(mark)


@jit
def init_linear(phi, flag, dist, speed, fext, ext_mask, shape, strides, periodic, dx, mode):
    """scikit-fmm's initial front; returns the number of frozen points."""
    ndim = shape.shape[0]
    ci = np.empty(ndim, dtype=np.int64)
    ld = np.zeros(ndim)
    ls = np.zeros(ndim)
    near = _near_front(phi, shape, strides, periodic)
    count = 0
    for i in near:
        if flag[i] != MASK and phi[i] == 0.0:
            flag[i] = FROZEN
            dist[i] = 0.0
            count += 1
            if mode == EXTENSION:
                fext[i] = speed[i]
    for i in near:
        if flag[i] != FAR:
            continue
        _coords(i, strides, ci)
        borders = False
        pi = phi[i]
        for e in range(ndim):
            ld[e] = 0.0
            ls[e] = 0.0
            for step in (-1, 1):
                n = _step(i, ci[e], step, shape[e], strides[e], periodic[e])
                if n >= 0 and flag[n] != MASK and pi * phi[n] < 0:
                    borders = True
                    d = dx[e] * pi / (pi - phi[n])
                    if ld[e] == 0 or ld[e] > d:
                        ld[e] = d
                        if mode == EXTENSION:
                            if ext_mask[i]:
                                ls[e] = speed[n]
                            elif ext_mask[n]:
                                ls[e] = speed[i]
                            else:
                                ls[e] = speed[i] + d / dx[e] * (speed[n] - speed[i])
        if borders:
            if mode == EXTENSION:
                num = 0.0
                den = 0.0
                for e in range(ndim):
                    if ld[e] != 0.0:
                        num += ls[e] / (ld[e] * ld[e])
                        den += 1 / (ld[e] * ld[e])
                fext[i] = num / den
            dsum = 0.0
            for e in range(ndim):
                if ld[e] > 0:
                    dsum += 1 / ld[e] / ld[e]
            dist[i] = -np.sqrt(1 / dsum) if pi < 0 else np.sqrt(1 / dsum)
            flag[i] = FROZEN
            count += 1
    if mode == TRAVEL:
        for i in near:
            if flag[i] == FROZEN:
                dist[i] = abs(dist[i] / speed[i])
    return count


@jit
def _closest_on_quadric(p0, g, H, h, y):
    """Distance from the origin to the zero set of p(y) = p0 + g.y + y.H.y / 2.

    Chopp's (2001) iteration: a Newton step onto the zero set along the
    gradient, then a step that removes the component of (origin - y)
    orthogonal to the gradient.  Returns -1.0 when it does not converge to
    a point within 3 cells (the caller then keeps the linear value).
    """
    ndim = g.shape[0]
    for e in range(ndim):
        y[e] = 0.0
    grad = np.empty(ndim)
    for _ in range(50):
        pv = p0
        gg = 0.0
        for e in range(ndim):
            s = g[e]
            for f in range(ndim):
                s += H[e, f] * y[f]
            grad[e] = s
            gg += s * s
        for e in range(ndim):
            hy = 0.0
            for f in range(ndim):
                hy += H[e, f] * y[f]
            pv += g[e] * y[e] + 0.5 * y[e] * hy
        if gg == 0.0:
            return -1.0
        # delta1: Newton onto p = 0; delta2: towards the foot of the perpendicular
        dot = 0.0
        for e in range(ndim):
            dot += -y[e] * grad[e]
        step2 = 0.0
        for e in range(ndim):
            d1 = -pv * grad[e] / gg
            d2 = -y[e] - dot * grad[e] / gg
            y[e] += d1 + d2
            step2 += d1 * d1 + d2 * d2
        if not step2 < 9.0 * h * h * ndim:
            return -1.0
        if step2 < 1e-30 * h * h:
            break
    r = 0.0
    for e in range(ndim):
        r += y[e] * y[e]
    return np.sqrt(r)


@jit
def init_quadratic(phi, flag, dist, shape, strides, periodic, dx):
    """Refine the frozen front nodes of :func:`init_linear` with a quadratic model of phi.

    Run after :func:`init_linear` (distance mode): every frozen node with a
    nonzero phi whose 3**ndim neighbourhood lies inside the grid and outside
    the mask gets the distance to the zero set of its local Taylor model.
    Returns the number of refined nodes.
    """
    ndim = shape.shape[0]
    size = phi.shape[0]
    ci = np.empty(ndim, dtype=np.int64)
    g = np.empty(ndim)
    H = np.empty((ndim, ndim))
    y = np.empty(ndim)
    plus = np.empty(ndim, dtype=np.int64)
    minus = np.empty(ndim, dtype=np.int64)
    hmax = 0.0
    for e in range(ndim):
        hmax = max(hmax, dx[e])
    out = dist.copy()
    refined = 0
    for i in range(size):
        if flag[i] != FROZEN or phi[i] == 0.0:
            continue
        _coords(i, strides, ci)
        ok = True
        for e in range(ndim):
            plus[e] = _nbr(i, ci[e], e, 1, shape, strides, periodic)
            minus[e] = _nbr(i, ci[e], e, -1, shape, strides, periodic)
            if plus[e] < 0 or minus[e] < 0 or flag[plus[e]] == MASK or flag[minus[e]] == MASK:
                ok = False
        if not ok:
            continue
        p0 = phi[i]
        for e in range(ndim):
            pp = phi[plus[e]]
            pm = phi[minus[e]]
            g[e] = (pp - pm) / (2 * dx[e])
            H[e, e] = (pp - 2 * p0 + pm) / (dx[e] * dx[e])
        for e in range(ndim):
            for f in range(e + 1, ndim):
                # corners (+,+), (+,-), (-,+), (-,-) of the (e, f) plane
                cpp = _nbr(plus[e], ci[f], f, 1, shape, strides, periodic)
                cpm = _nbr(plus[e], ci[f], f, -1, shape, strides, periodic)
                cmp_ = _nbr(minus[e], ci[f], f, 1, shape, strides, periodic)
                cmm = _nbr(minus[e], ci[f], f, -1, shape, strides, periodic)
                if (flag[cpp] == MASK or flag[cpm] == MASK or flag[cmp_] == MASK or flag[cmm] == MASK):
                    ok = False
                    break
                hef = (phi[cpp] - phi[cpm] - phi[cmp_] + phi[cmm]) / (4 * dx[e] * dx[f])
                H[e, f] = hef
                H[f, e] = hef
            if not ok:
                break
        if not ok:
            continue
        r = _closest_on_quadric(p0, g, H, hmax, y)
        # never farther than the model's own zero crossing along an axis:
        # keeps neighbouring front nodes consistent (|d_i - d_j| <= dx)
        for e in range(ndim):
            qa = 0.5 * H[e, e]
            qb = g[e]
            tmin = -1.0
            if qa == 0.0:
                if qb != 0.0:
                    tmin = abs(p0 / qb)
            else:
                disc = qb * qb - 4 * qa * p0
                if disc >= 0:
                    sq = np.sqrt(disc)
                    # numerically stable roots
                    qq = -0.5 * (qb + sq if qb >= 0 else qb - sq)
                    t1 = qq / qa
                    t2 = p0 / qq if qq != 0.0 else t1
                    tmin = min(abs(t1), abs(t2))
            if 0.0 <= tmin <= dx[e] and (r < 0.0 or tmin < r):
                r = tmin
            # and not beyond the linearly interpolated crossing with a neighbour
            for nb in (minus[e], plus[e]):
                if p0 * phi[nb] < 0:
                    t = dx[e] * p0 / (p0 - phi[nb])
                    if r < 0.0 or t < r:
                        r = t
        if r > 0.0:
            out[i] = r if p0 > 0 else -r
            refined += 1
    for i in range(size):
        dist[i] = out[i]
    return refined


@jit
def init_points(seeds, flag, dist, speed, label, shape, strides, dx, radius):
    """Exact arrival times around point sources; returns the number of frozen points.

    Every grid point within ``radius`` cells (box) of a seed gets the
    straight-ray time |x - s| * (1/F(s) + 1/F(x)) / 2 (exact for a constant
    speed, second order for a smooth one), the minimum over seeds, and the
    seed's row as label.  Where an obstacle (MASK) lies in a seed's box only
    the grid points next to the seed are initialised, so that no ray crosses
    a wall.  Seeds on or next to obstacles only freeze unmasked points.
    """
    ndim = shape.shape[0]
    K = seeds.shape[0]
    lo = np.empty(ndim, dtype=np.int64)
    hi = np.empty(ndim, dtype=np.int64)
    c = np.empty(ndim, dtype=np.int64)
    near = np.empty(ndim, dtype=np.int64)
    for k in range(K):
        nidx = 0
        for e in range(ndim):
            r = int(np.floor(seeds[k, e] + 0.5))
            r = min(max(r, 0), shape[e] - 1)
            near[e] = r
            nidx += r * strides[e]
        fs = speed[nidx]
        if flag[nidx] == MASK:
            fs = 0.0
        for attempt in range(2):
            rad = radius if attempt == 0 else 1
            total = 1
            for e in range(ndim):
                lo[e] = max(int(np.ceil(seeds[k, e] - rad)), 0)
                hi[e] = min(int(np.floor(seeds[k, e] + rad)), shape[e] - 1)
                if lo[e] > hi[e]:
                    total = 0
                total *= hi[e] - lo[e] + 1
            blocked = False
            if attempt == 0:
                for e in range(ndim):
                    c[e] = lo[e]
                for _ in range(total):
                    idx = 0
                    for e in range(ndim):
                        idx += c[e] * strides[e]
                    if flag[idx] == MASK:
                        blocked = True
                        break
                    for e in range(ndim - 1, -1, -1):
                        c[e] += 1
                        if c[e] <= hi[e]:
                            break
                        c[e] = lo[e]
                if blocked:
                    continue
            for e in range(ndim):
                c[e] = lo[e]
            for _ in range(total):
                idx = 0
                r2 = 0.0
                for e in range(ndim):
                    idx += c[e] * strides[e]
                    d = (c[e] - seeds[k, e]) * dx[e]
                    r2 += d * d
                if flag[idx] != MASK:
                    f = speed[idx]
                    fseed = fs if fs > 0 else f
                    t = np.sqrt(r2) * 0.5 * (1.0 / fseed + 1.0 / f)
                    if flag[idx] != FROZEN or t < dist[idx]:
                        dist[idx] = t
                        flag[idx] = FROZEN
                        if label.shape[0] > 0:
                            label[idx] = k
                for e in range(ndim - 1, -1, -1):
                    c[e] += 1
                    if c[e] <= hi[e]:
                        break
                    c[e] = lo[e]
            break
    count = 0
    for i in range(flag.shape[0]):
        if flag[i] == FROZEN:
            count += 1
    return count
