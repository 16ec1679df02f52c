"""Fast marching kernels: a binary min-heap and the upwind updates (Numba).

Everything works on *flat* C-order arrays of any dimension: a point is one
integer index, its neighbour along axis ``e`` is ``i +- strides[e]`` and the
coordinate along ``e`` (needed for the borders and periodic wrap) is computed
once per frozen point.  One compiled kernel serves 1-D, 2-D, 3-D and N-D
arrays and all modes, so a session compiles a handful of specialisations,
cached on disk.

Point states (``flag``): FAR (not yet reached), NARROW (in the heap), FROZEN
(final), MASK (obstacle, never entered).

Update formulas follow scikit-fmm (Sethian's first- and second-order upwind
quadratic) so that, in compatible mode, results agree to rounding; where
scikit-fmm fails (negative discriminant) the update here falls back locally
-- order 2 -> order 1 -> fewer axes -- instead of raising or freezing a 0.

Importing this module imports Numba.
"""

from __future__ import annotations

import numpy as np

from .._kernels import jit

FAR, NARROW, FROZEN, MASK = 0, 1, 2, 3
DISTANCE, TRAVEL, EXTENSION = 0, 1, 2
MAXD = np.finfo(np.float64).max
EPS = np.finfo(np.float64).eps
AA = 9.0 / 4.0
THIRD = 1.0 / 3.0


# ------------------------------------------------------------------ heap --
# keys hk[0:n], point indices hi[0:n], pos[point] = heap slot (decrease-key).


@jit
def _sift_up(hk, hi, pos, k):
    key = hk[k]
    idx = hi[k]
    while k > 0:
        parent = (k - 1) >> 1
        if hk[parent] <= key:
            break
        hk[k] = hk[parent]
        hi[k] = hi[parent]
        pos[hi[k]] = k
        k = parent
    hk[k] = key
    hi[k] = idx
    pos[idx] = k


@jit
def _sift_down(hk, hi, pos, k, n):
    key = hk[k]
    idx = hi[k]
    while True:
        child = 2 * k + 1
        if child >= n:
            break
        if child + 1 < n and hk[child + 1] < hk[child]:
            child += 1
        if hk[child] >= key:
            break
        hk[k] = hk[child]
        hi[k] = hi[child]
        pos[hi[k]] = k
        k = child
    hk[k] = key
    hi[k] = idx
    pos[idx] = k


@jit
def _heap_set(hk, hi, pos, k, n, key):
    old = hk[k]
    hk[k] = key
    if key < old:
        _sift_up(hk, hi, pos, k)
    else:
        _sift_down(hk, hi, pos, k, n)


# ------------------------------------------------------------- neighbours --


@jit
def _nbr(i, c, e, step, shape, strides, periodic):
    """Index of the neighbour ``step`` cells from i along axis e (c: i's coordinate), -1 if none."""
    nc = c + step
    n = shape[e]
    if nc < 0 or nc >= n:
        if not periodic[e]:
            return -1
        nc = nc % n
    return i + (nc - c) * strides[e]


@jit
def _coords(i, strides, out):
    rem = i
    for e in range(strides.shape[0]):
        q = rem // strides[e]
        out[e] = q
        rem -= q * strides[e]


# ---------------------------------------------------------------- updates --


@jit
def _terms(p, cp, dist, flag, phi, shape, strides, periodic, idx2, order, mode, strict, ta, tb, tc):
    """Per-axis quadratic coefficients (a, b, c) of the upwind update of point p.

    Returns a bit mask of the axes with a frozen neighbour.  ``strict``
    reproduces scikit-fmm's stencil exactly (the second neighbour of one
    side may be kept when the other side's first neighbour is nearer).
    """
    ndim = shape.shape[0]
    active = 0
    for e in range(ndim):
        v1 = MAXD
        v2 = MAXD
        for step in (-1, 1):
            n = _nbr(p, cp[e], e, step, shape, strides, periodic)
            if n >= 0 and flag[n] == FROZEN:
                dn = dist[n]
                if abs(dn) < abs(v1):
                    v1 = dn
                    if not strict:
                        v2 = MAXD
                    if order == 2:
                        n2 = _nbr(p, cp[e], e, 2 * step, shape, strides, periodic)
                        if n2 >= 0 and flag[n2] == FROZEN:
                            d2 = dist[n2]
                            if (d2 <= v1 and v1 >= 0) or (d2 >= v1 and v1 <= 0):
                                v2 = d2
                                if mode == TRAVEL and phi.shape[0] == flag.shape[0] and (
                                    phi[n2] * phi[n] < 0 or phi[n2] * phi[p] < 0
                                ):
                                    v2 = -v2
        ta[e] = 0.0
        tb[e] = 0.0
        tc[e] = 0.0
        if v2 < MAXD:
            tp = THIRD * (4 * v1 - v2)
            ta[e] = idx2[e] * AA
            tb[e] = idx2[e] * 2 * AA * tp
            tc[e] = idx2[e] * AA * (tp * tp)
            active |= 1 << e
        elif v1 < MAXD:
            ta[e] = idx2[e]
            tb[e] = idx2[e] * 2 * v1
            tc[e] = idx2[e] * (v1 * v1)
            active |= 1 << e
    return active


@jit
def _solve(subset, ta, tb, tc, rhs, root):
    """Root of sum_e a_e T^2 - b_e T + c_e = rhs over the axes in ``subset``.

    Returns (value, ok).  ``root``: 0 travel time or 1 positive distance
    (the larger root), -1 negative distance (the smaller root).
    """
    a = 0.0
    b = 0.0
    c = 0.0
    for e in range(ta.shape[0]):
        if subset & (1 << e):
            a += ta[e]
            b -= tb[e]
            c += tc[e]
    c -= rhs
    det = b * b - 4 * a * c
    if a == 0.0:
        return 0.0, False
    if det >= 0:
        if root >= 0:
            return (-b + np.sqrt(det)) / 2.0 / a, True
        return (-b - np.sqrt(det)) / 2.0 / a, True
    return 0.0, False


@jit
def _fewer_axes(active, ta, tb, tc, rhs, root, memo_v, memo_ok):
    """scikit-fmm's recursion on failure: best solution with fewer axes.

    value(S) = solve(S) if it succeeds, else the best of value(S - {e});
    "best" is the smallest |T|.  Evaluated bottom-up over the subsets of
    the active axes (2**k of them, k <= ndim; only runs on failure).
    """
    best = 0.0
    for s in range(1, active + 1):
        if s & active != s:
            continue
        v, ok = _solve(s, ta, tb, tc, rhs, root)
        if not ok:
            ok = False
            for e in range(ta.shape[0]):
                bit = 1 << e
                if s & bit:
                    r = s ^ bit
                    if r and memo_ok[r]:
                        if not ok or abs(memo_v[r]) < abs(v):
                            v = memo_v[r]
                            ok = True
        memo_v[s] = v
        memo_ok[s] = ok
    if memo_ok[active]:
        best = memo_v[active]
        return best, True
    return best, False


@jit
def _update(p, cp, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode, strict,
            ta, tb, tc, memo_v, memo_ok):
    """New tentative value of point p from its frozen neighbours: (value, ok)."""
    if mode == TRAVEL:
        f = speed[p]
        rhs = 1 / (f * f)
        root = 0
    else:
        rhs = 1.0
        root = 1 if phi[p] > EPS else -1
    active = _terms(p, cp, dist, flag, phi, shape, strides, periodic, idx2, order, mode, strict, ta, tb, tc)
    if active == 0:
        return 0.0, False
    v, ok = _solve(active, ta, tb, tc, rhs, root)
    if ok:
        return v, True
    if order == 2 and mode != TRAVEL:
        # local fallback to the first-order stencil (as scikit-fmm >= 2022 for distances)
        active = _terms(p, cp, dist, flag, phi, shape, strides, periodic, idx2, 1, mode, strict, ta, tb, tc)
        v, ok = _solve(active, ta, tb, tc, rhs, root)
        if ok:
            return v, True
    if strict and mode != TRAVEL:
        # scikit-fmm: the vertex of the parabola, -b / 2a
        a = 0.0
        b = 0.0
        for e in range(ta.shape[0]):
            if active & (1 << e):
                a += ta[e]
                b -= tb[e]
        return -b / (2.0 * a), True
    # upwind fallback: the best solution that uses fewer axes
    return _fewer_axes(active, ta, tb, tc, rhs, root, memo_v, memo_ok)


@jit
def _finalize_extension(i, ci, dist, flag, fext, shape, strides, periodic, idx2):
    """Extension velocity of a newly frozen point: grad f . grad d = 0 (Adalsteinsson & Sethian)."""
    ndim = shape.shape[0]
    num = 0.0
    den = 0.0
    for e in range(ndim):
        ld = 0.0
        ls = 0.0
        for step in (-1, 1):
            n = _nbr(i, ci[e], e, step, shape, strides, periodic)
            if n >= 0 and flag[n] == FROZEN and n != i:
                d = dist[i] - dist[n]
                if ld == 0 or ld > d:
                    if abs(d) > EPS:
                        ld = d
                        ls = fext[n]
        num += abs(ld) * ls * idx2[e]
        den += abs(ld) * idx2[e]
    if den != 0.0:
        fext[i] = num / den
        return
    # degenerate (all frozen neighbours at the same distance): nearest neighbour's value
    best = MAXD
    for e in range(ndim):
        for step in (-1, 1):
            n = _nbr(i, ci[e], e, step, shape, strides, periodic)
            if n >= 0 and flag[n] == FROZEN and n != i and abs(dist[n]) < best:
                best = abs(dist[n])
                fext[i] = fext[n]


@jit
def _inherit_label(i, ci, dist, flag, label, shape, strides, periodic):
    """label[i] = label of the frozen neighbour with the smallest value (the upwind one)."""
    best = MAXD
    for e in range(shape.shape[0]):
        for step in (-1, 1):
            n = _nbr(i, ci[e], e, step, shape, strides, periodic)
            if n >= 0 and n != i and flag[n] == FROZEN and label[n] >= 0 and abs(dist[n]) < best:
                best = abs(dist[n])
                label[i] = label[n]


@jit
def _visit(n, cn, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode, strict,
           ta, tb, tc, memo_v, memo_ok, hk, hi, pos, hn):
    """(Re)compute a FAR or NARROW point and push/update it in the heap."""
    fl = flag[n]
    if fl == NARROW:
        v, ok = _update(n, cn, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode, strict,
                        ta, tb, tc, memo_v, memo_ok)
        if ok:
            dist[n] = v
            _heap_set(hk, hi, pos, pos[n], hn[0], abs(v))
    elif fl == FAR:
        v, ok = _update(n, cn, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode, strict,
                        ta, tb, tc, memo_v, memo_ok)
        if ok:
            dist[n] = v
            flag[n] = NARROW
            k = hn[0]
            hn[0] = k + 1
            hk[k] = abs(v)
            hi[k] = n
            _sift_up(hk, hi, pos, k)


@jit
def march(dist, flag, phi, speed, fext, label, shape, strides, periodic, idx2, order, mode, narrow, stop, strict):
    """Fast marching from the FROZEN points of ``flag`` (values in ``dist``).

    Parameters
    ----------
    dist : (N,) float64, values of the frozen points; output
    flag : (N,) int8, FAR / FROZEN / MASK on input; FROZEN = reached on output
    phi : (N,) float64, sign of the result (DISTANCE/EXTENSION modes) and
        scikit-fmm's sign flip of second neighbours across the front (TRAVEL)
    speed : (N,) float64 (TRAVEL mode; > 0 where not masked) or a dummy
    fext : (N,) float64 extension velocities (EXTENSION mode) or a dummy
    label : (N,) int64 labels of the frozen points, inherited upwind, or size 0
    shape, strides : (ndim,) int64; periodic : (ndim,) bool; idx2 : 1/dx**2
    order : 1 or 2; mode : DISTANCE, TRAVEL or EXTENSION
    narrow : stop when the smallest |value| exceeds it (0: never)
    stop : same, for arrival times (inf: never)
    strict : reproduce scikit-fmm's second-order stencil bit for bit

    Returns the number of frozen points.
    """
    ndim = shape.shape[0]
    size = dist.shape[0]
    pos = np.empty(size, dtype=np.int64)
    nheap = 0
    for i in range(size):
        if flag[i] == FAR:
            nheap += 1
    hk = np.empty(max(nheap, 1), dtype=np.float64)
    hi = np.empty(max(nheap, 1), dtype=np.int64)
    hn = np.zeros(1, dtype=np.int64)
    ta = np.zeros(ndim)
    tb = np.zeros(ndim)
    tc = np.zeros(ndim)
    memo_v = np.zeros(1 << ndim)
    memo_ok = np.zeros(1 << ndim, dtype=np.bool_)
    ci = np.empty(ndim, dtype=np.int64)
    cn = np.empty(ndim, dtype=np.int64)
    use_label = label.shape[0] > 0
    frozen = 0

    # initial narrow band: far points next to a frozen point
    for i in range(size):
        if flag[i] != FAR:
            if flag[i] == FROZEN:
                frozen += 1
            continue
        _coords(i, strides, ci)
        touch = -1
        for e in range(ndim):
            for step in (-1, 1):
                n = _nbr(i, ci[e], e, step, shape, strides, periodic)
                if n >= 0 and flag[n] == FROZEN:
                    touch = n
                    break
            if touch >= 0:
                break
        if touch >= 0:
            _visit(i, ci, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode, strict,
                   ta, tb, tc, memo_v, memo_ok, hk, hi, pos, hn)
    if frozen == 0:
        return 0

    group = np.empty(16, dtype=np.int64)
    while hn[0] > 0:
        value = hk[0]
        if (narrow != 0 and value > narrow) or value > stop:
            break
        # pop every point with this value, freeze them, then update their neighbours
        ng = 0
        while hn[0] > 0 and hk[0] == value:
            i = hi[0]
            n_last = hn[0] - 1
            hn[0] = n_last
            if n_last > 0:
                hk[0] = hk[n_last]
                hi[0] = hi[n_last]
                pos[hi[0]] = 0
                _sift_down(hk, hi, pos, 0, n_last)
            flag[i] = FROZEN
            frozen += 1
            if mode == EXTENSION or use_label:
                _coords(i, strides, ci)
                if mode == EXTENSION:
                    _finalize_extension(i, ci, dist, flag, fext, shape, strides, periodic, idx2)
                if use_label:
                    _inherit_label(i, ci, dist, flag, label, shape, strides, periodic)
            if ng == group.shape[0]:
                bigger = np.empty(2 * ng, dtype=np.int64)
                bigger[:ng] = group
                group = bigger
            group[ng] = i
            ng += 1
        for g in range(ng):
            i = group[g]
            _coords(i, strides, ci)
            for e in range(ndim):
                for step in (-1, 1):
                    n = _nbr(i, ci[e], e, step, shape, strides, periodic)
                    if n >= 0 and flag[n] < FROZEN:
                        for k in range(ndim):
                            cn[k] = ci[k]
                        cn[e] = (ci[e] + step) % shape[e]
                        _visit(n, cn, dist, flag, phi, speed, shape, strides, periodic, idx2, order, mode,
                               strict, ta, tb, tc, memo_v, memo_ok, hk, hi, pos, hn)
                    if order == 2 and n >= 0 and flag[n] == FROZEN:
                        # the point behind a frozen neighbour gets a second-order stencil now
                        n2 = _nbr(i, ci[e], e, 2 * step, shape, strides, periodic)
                        if n2 >= 0 and flag[n2] == NARROW:
                            for k in range(ndim):
                                cn[k] = ci[k]
                            cn[e] = (ci[e] + 2 * step) % shape[e]
                            _visit(n2, cn, dist, flag, phi, speed, shape, strides, periodic, idx2, order,
                                   mode, strict, ta, tb, tc, memo_v, memo_ok, hk, hi, pos, hn)
    return frozen
