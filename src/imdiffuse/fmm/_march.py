"""Fast marching kernels: a 4-ary min-heap and the upwind updates (Numba).

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


# ------------------------------------------------------------- neighbours --

#: With padded arrays the kernels see every axis as this long and every
#: point at coordinate PAD_COORD, so the border tests never fire; the MASK
#: border does their work.
PAD_LENGTH = 1 << 62
PAD_COORD = 1 << 30


def index_template(size):
    """The ``itype`` argument of :func:`march` for ``size`` points."""
    return np.zeros(0, dtype=np.int32 if size < 2**31 - 1 else np.int64)


def signs(phi):
    """int8 code of phi's sign for :func:`march`: 2 above EPS, 1 in (0, EPS], 0 at 0, -1 below.

    The march takes the larger root where phi > EPS (scikit-fmm's rule) and
    flips second neighbours where phi's exact signs differ: products of
    these codes are negative exactly where those of phi are.
    """
    out = (phi > 0).view(np.int8)  # NaN (under a mask) codes as 0
    out += phi > EPS
    out -= phi < 0
    return out


def pad(flag, dist, shape, width, *fields):
    """Copies of the flat arrays with a border of ``width`` points per side; MASK in ``flag``.

    Returns ``(flag, dist, fields, shape, strides, crop)``: ``shape`` is the
    unbounded shape :func:`march` wants with ``padded=True``, and
    ``crop(a)`` takes a padded flat array back to the original (flat) points.
    A field that is None stays None.
    """
    pshape = tuple(n + 2 * width for n in shape)
    inner = tuple(slice(width, width + n) for n in shape)

    def grow(a, fill):
        if fill == 0:  # zeroed pages come lazily from the OS: only the copy touches memory
            out = np.zeros(pshape, dtype=a.dtype)
        else:  # the border alone, not a fill of the whole array that the copy then overwrites
            out = np.empty(pshape, dtype=a.dtype)
            for e, n in enumerate(shape):
                lo = [slice(None)] * len(shape)
                lo[e] = slice(0, width)
                out[tuple(lo)] = fill
                lo[e] = slice(width + n, None)
                out[tuple(lo)] = fill
        out[inner] = a.reshape(shape)
        return out.ravel()

    def crop(a):
        return np.ascontiguousarray(a.reshape(pshape)[inner]).ravel()

    strides = np.ones(len(shape), dtype=np.int64)
    for e in range(len(shape) - 2, -1, -1):
        strides[e] = strides[e + 1] * pshape[e + 1]
    big = np.full(len(shape), PAD_LENGTH, dtype=np.int64)
    grown = tuple(None if f is None else grow(f, 0) for f in fields)
    return grow(flag, MASK), grow(dist, 0.0), grown, big, strides, crop


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
def _step(i, c, step, n, stride, per):
    """Scalar-only :func:`_nbr` for the hot loop (no array arguments, no refcounting)."""
    nc = c + step
    if nc < 0 or nc >= n:
        if not per:
            return -1
        nc = nc % n
    return i + (nc - c) * stride


#: Heap slots and point indices are never negative: indexing with them cast
#: to this unsigned type spares the negative-index wrap-around that Numba
#: adds to every signed index (two instructions on the sift-down's critical
#: path at every level).
U = np.uintp


@jit(inline="always")
def _smallest_child(hk, first):
    """(slot, key) of the smallest of hk[first:first + 4], with selects (no branch); first wins ties.

    Slots past the heap's end hold MAXD (see :func:`march`), so the last
    node's missing children are never chosen.  The four keys are loaded
    once and the minimum is kept in registers: reloading the two pairs'
    winners put a second dependent load on the sift-down's critical path
    (each level waits for the previous one's choice).
    """
    f = U(first)
    h0 = hk[f]
    h1 = hk[f + U(1)]
    h2 = hk[f + U(2)]
    h3 = hk[f + U(3)]
    b01 = h1 < h0
    b23 = h3 < h2
    m01 = h1 if b01 else h0
    m23 = h3 if b23 else h2
    c01 = first + b01
    c23 = first + 2 + b23
    if m23 < m01:
        return c23, m23
    return c01, m01


#: In :func:`march`'s state array, a point in the heap at slot k holds
#: HEAP + k; FAR, FROZEN and MASK keep their codes (all below HEAP).
HEAP = 4

#: heap slots given their MAXD sentinel at a time, as the heap grows
HEAP_FILL = 1 << 14


@jit(inline="always")
def _move(hk, hi, state, k, src, key):
    """Slot k takes the entry of slot ``src`` (whose key is ``key``): the one move of every sift."""
    j = hi[U(src)]
    hk[U(k)] = key
    hi[U(k)] = j
    state[U(j)] = k + HEAP


@jit(inline="always")
def _sift_up(hk, hi, state, k, key, idx):
    """Put (key, idx) at slot k of the 4-ary heap and let it rise to its place."""
    while k > 0:
        parent = (k - 1) >> 2
        hp = hk[U(parent)]
        if hp <= key:
            break
        _move(hk, hi, state, k, parent, hp)
        k = parent
    hk[U(k)] = key
    hi[U(k)] = idx
    state[U(idx)] = k + HEAP


@jit
def _coords(i, strides, out):
    rem = i
    for e in range(strides.shape[0]):
        q = rem // strides[e]
        out[e] = q
        rem -= q * strides[e]


# ---------------------------------------------------------------- updates --


@jit
def _terms(p, cp, dist, flag, sgn, shape, strides, periodic, idx2, order, mode, strict, tt):
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
                                if mode == TRAVEL and sgn.shape[0] == flag.shape[0] and (
                                    sgn[n2] * sgn[n] < 0 or sgn[n2] * sgn[p] < 0
                                ):
                                    v2 = -v2
        tt[0, e] = 0.0
        tt[1, e] = 0.0
        tt[2, e] = 0.0
        tt[3, e] = 0.0
        if v2 < MAXD:
            tp = THIRD * (4 * v1 - v2)
            tt[0, e] = idx2[e] * AA
            tt[1, e] = idx2[e] * 2 * AA * tp
            tt[2, e] = idx2[e] * AA * (tp * tp)
            tt[3, e] = abs(v1)
            active |= 1 << e
        elif v1 < MAXD:
            tt[0, e] = idx2[e]
            tt[1, e] = idx2[e] * 2 * v1
            tt[2, e] = idx2[e] * (v1 * v1)
            tt[3, e] = abs(v1)
            active |= 1 << e
    return active


@jit
def _solve(subset, tt, rhs, root, causal):
    """Root of sum_e a_e T^2 - b_e T + c_e = rhs over the axes in ``subset``.

    ``tt`` rows: a, b, c and |first neighbour value| per axis.  Returns
    (value, ok).  ``root``: 0 travel time or 1 positive distance (the larger
    root), -1 negative distance (the smaller root).  ``causal``: also fail
    when |T| is below a neighbour value it was computed from (upwind
    violation), so that the caller falls back to fewer axes.
    """
    a = 0.0
    b = 0.0
    c = 0.0
    vmax = 0.0
    for e in range(tt.shape[1]):
        if subset & (1 << e):
            a += tt[0, e]
            b -= tt[1, e]
            c += tt[2, e]
            vmax = max(vmax, tt[3, e])
    c -= rhs
    det = b * b - 4 * a * c
    if a == 0.0 or det < 0:
        return 0.0, False
    if root >= 0:
        v = (-b + np.sqrt(det)) / 2.0 / a
    else:
        v = (-b - np.sqrt(det)) / 2.0 / a
    if (root == 0 and v < 0) or (causal and abs(v) < vmax):
        return v, False
    return v, True


@jit
def _fewer_axes(active, tt, rhs, root, memo_v, memo_ok, causal):
    """scikit-fmm's recursion on failure: best solution with fewer axes.

    value(S) = solve(S) if it succeeds, else the best of value(S - {e});
    "best" is the smallest |T|.  Evaluated bottom-up over the subsets of
    the active axes (2**k of them, k <= ndim; only runs on failure).
    """
    best = 0.0
    for s in range(1, active + 1):
        if s & active != s:
            continue
        v, ok = _solve(s, tt, rhs, root, causal)
        if not ok:
            ok = False
            for e in range(tt.shape[1]):
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
def _fallback(p, cp, dist, flag, sgn, shape, strides, periodic, idx2, order, mode, strict,
              tt, memo_v, memo_ok, rhs, root):
    """Value of point p when the full upwind quadratic has no real root: (value, ok).

    Only called on failure (rare), so it may take many array arguments.
    """
    active = _terms(p, cp, dist, flag, sgn, shape, strides, periodic, idx2, order, mode, strict, tt)
    if active == 0:
        return 0.0, False
    causal = not strict
    if order == 2 and (mode != TRAVEL or causal):
        # local fallback to the first-order stencil (as scikit-fmm >= 2022 for distances)
        active = _terms(p, cp, dist, flag, sgn, shape, strides, periodic, idx2, 1, mode, strict, tt)
        v, ok = _solve(active, tt, rhs, root, causal)
        if ok:
            return v, True
    if strict and (mode != TRAVEL or order == 1):
        # scikit-fmm (distances, and order-1 travel times): the vertex of the parabola, -b / 2a
        a = 0.0
        b = 0.0
        for e in range(tt.shape[1]):
            if active & (1 << e):
                a += tt[0, e]
                b -= tt[1, e]
        return -b / (2.0 * a), True
    # upwind fallback: the best solution that uses fewer axes
    return _fewer_axes(active, tt, rhs, root, memo_v, memo_ok, causal)


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


def march(dist, flag, sgn, speed, fext, label, shape, strides, periodic, idx2, order, mode, narrow, stop, strict,
          padded, itype):
    """Fast marching from the FROZEN points of ``flag`` (values in ``dist``).

    Parameters
    ----------
    dist : (N,) float64, values of the frozen points; output
    flag : (N,) int8, FAR / FROZEN / MASK on input; FROZEN = reached on output
    sgn : (N,) int8, :func:`signs` of phi: the sign of the result
        (DISTANCE/EXTENSION modes) and scikit-fmm's sign flip of second
        neighbours across the front (TRAVEL; a size-1 dummy disables it).
        One byte instead of phi's eight per point: it is read at every
        candidate, and phi's cache misses cost ~10 % of the march.
    speed : (N,) float64 (TRAVEL mode; > 0 where not masked) or a dummy
    fext : (N,) float64 extension velocities (EXTENSION mode) or a dummy
    label : (N,) int64 labels of the frozen points, inherited upwind, or size 0
    shape, strides : (ndim,) int64; periodic : (ndim,) bool; idx2 : 1/dx**2
    order : 1 or 2; mode : DISTANCE, TRAVEL or EXTENSION
    narrow : stop when the smallest |value| exceeds it (0: never)
    stop : same, for arrival times (inf: never)
    strict : reproduce scikit-fmm's second-order stencil and fallbacks bit for bit
    padded : the arrays carry a border of ``order`` MASK points on every
        side (see :func:`pad`), so that a neighbour is simply ``i -+ stride``:
        no coordinates (integer divisions) and no border tests.  ``shape``
        must then be :func:`pad`'s "unbounded" shape.
    itype : empty integer array whose dtype the point states and heap
        entries take (:func:`index_template`: int32, which halves their
        cache footprint, or int64 for 2**31 points and more)

    Returns the number of frozen points.  A Python function: :func:`start`
    then one :func:`resume` to the end (compiled, GIL released; a march
    that pauses and goes on calls them itself).  Called from compiled code
    instead, the resume's large body was compiled a second time inside the
    caller (1.8 s more on a cold cache).

    Inside, ``flag`` is copied into one integer state per point that also
    holds the heap slot of a NARROW point (:data:`HEAP` + slot): a
    candidate's test and its heap position are then one load, and the
    sift-down's position updates write into the array the neighbour tests
    read, instead of a separate position array (10-17 % faster on a 160^3
    sphere, bit-identical results).  Points popped with the same value wait
    on a small stack.  The states are written back to ``flag`` at the end.

    The hot loop is written out in this one function on purpose: every call
    to a compiled helper that takes arrays costs atomic reference-count
    updates per array, which made a version built from small helpers 4x
    slower.  Helpers taking scalars only (:func:`_step`) are free, and so is
    one inlined at the Numba IR level (:func:`_sift_up`, ``inline="always"``).
    """
    state, hk, hi, group, ctr = start(flag, itype)
    resume(dist, flag, sgn, speed, fext, label, shape, strides, periodic, idx2, order, mode, narrow, stop, strict,
           padded, state, hk, hi, group, ctr, -1, np.zeros(0))
    return int(ctr[1])


@jit
def start(flag, itype):
    """The work arrays of a march from the FROZEN points of ``flag``: ``(state, hk, hi, group, ctr)``.

    ``state`` is one integer per point (see :func:`march`), ``hk``/``hi``
    the heap's keys and points, ``group`` the stack of points popped with
    one value, ``ctr`` the counters [heap size, frozen points, initial-band
    scan position, frozen points at the start, heap slots holding the MAXD
    sentinel so far].  :func:`resume` carries
    them from one call to the next.
    """
    size = flag.shape[0]
    state = np.empty(size, dtype=itype.dtype)
    nfar = 0
    frozen = 0
    for i in range(size):  # one branch-free pass
        f = flag[i]
        state[i] = f
        nfar += f == FAR
        frozen += f == FROZEN
    # The narrow band is a 4-ary min-heap (children of slot k: 4k+1 .. 4k+4;
    # half the depth of a binary heap, measured 5-10 % faster overall; 8-ary
    # was slower).  Every slot from nh on holds MAXD, so the last children's
    # missing siblings are sentinels and the sift-down picks the smallest
    # child with selects, without branches (a data-dependent branch there
    # mispredicts at half the levels).
    # Room for every FAR point, but the sentinels are written only ahead of
    # the heap as it grows (resume's ``filled``): filling all of it up front
    # cost 0.12 s on a 256^3 volume whose front never holds 1 % of it.
    hk = np.empty(nfar + 4 if frozen else 4, dtype=np.float64)
    filled = min(hk.shape[0], HEAP_FILL)
    for j in range(filled):
        hk[j] = MAXD
    hi = np.empty(max(nfar, 1) if frozen else 1, dtype=itype.dtype)
    group = np.empty(max(nfar, 1) if frozen else 1, dtype=itype.dtype)
    ctr = np.zeros(5, dtype=np.int64)
    ctr[1] = frozen
    ctr[3] = frozen
    ctr[4] = filled
    return state, hk, hi, group, ctr


@jit
def resume(dist, flag, sgn, speed, fext, label, shape, strides, periodic, idx2, order, mode, narrow, stop, strict,
           padded, state, hk, hi, group, ctr, limit, popped):
    """Go on with the march held by :func:`start`'s work arrays until it ends or ``limit`` points are frozen.

    The arguments up to ``padded`` are :func:`march`'s.  ``limit`` < 0:
    no limit.  The march pauses only between two values popped, never
    inside a group of equal ones.  ``popped`` (size 0: not kept) receives
    the running maximum of the values popped, one per frozen point in the
    order frozen (the ``j``-th point frozen by the march gets
    ``popped[j]``): sorted, so ``N(t)`` is a binary search, and final below
    the last value popped (a second-order update can still freeze a later
    point slightly below it; the running maximum counts it there).

    Returns True when the march has ended (heap empty, ``narrow`` or
    ``stop`` reached) and ``flag`` holds the final states; False when it
    paused (``flag`` is then stale: the states are in ``state``).
    """
    ndim = shape.shape[0]
    size = dist.shape[0]
    flip = mode == TRAVEL and sgn.shape[0] == size
    use_label = label.shape[0] > 0
    record = popped.shape[0] > 0
    nh = ctr[0]
    frozen = ctr[1]
    scan = ctr[2]
    first = ctr[3]
    filled = ctr[4]
    if frozen == 0:
        return True
    ngroup = 0
    paused = False
    tt = np.zeros((4, ndim))
    memo_v = np.zeros(1 << ndim)
    memo_ok = np.zeros(1 << ndim, dtype=np.bool_)
    ci = np.empty(ndim, dtype=np.int64)
    cand = np.empty(4 * ndim, dtype=np.int64)
    candc = np.empty((4 * ndim, ndim), dtype=np.int64)
    if padded:  # any coordinate inside the unbounded shape will do
        ci[:] = PAD_COORD
        candc[:, :] = PAD_COORD

    while True:
        # ---- 1. the next points to (re)compute: `cand` (with coordinates)
        ncand = 0
        if scan < size:
            # initial narrow band: the FAR neighbours of the initially frozen points
            while scan < size and state[scan] != FROZEN:  # skip to the next frozen point
                scan += 1
            if scan == size:
                continue
            i = scan
            scan += 1
            if not padded:
                rem = i
                for e in range(ndim):
                    q = rem // strides[e]
                    ci[e] = q
                    rem -= q * strides[e]
            for e in range(ndim):
                for step in (-1, 1):
                    n = _step(i, ci[e], step, shape[e], strides[e], periodic[e])
                    if n >= 0 and state[n] == FAR:
                        cand[ncand] = n
                        if not padded:
                            for f in range(ndim):
                                candc[ncand, f] = ci[f]
                            candc[ncand, e] = (ci[e] + step) % shape[e]
                        ncand += 1
            if ncand == 0:
                continue
        else:
            if ngroup == 0:
                if nh == 0:
                    break
                value = hk[0]
                if (narrow != 0 and value > narrow) or value > stop:
                    break
                if limit >= 0 and frozen >= limit:
                    paused = True
                    break
                value_r = value  # nondecreasing in exact arithmetic; the running maximum makes sure
                if record and frozen > first:
                    value_r = max(value, popped[U(frozen - first - 1)])
                # pop every point with this value and freeze it (onto the group stack)
                while nh > 0 and hk[0] == value:
                    i = hi[0]
                    nh -= 1
                    key = hk[U(nh)]
                    idx = hi[U(nh)]
                    hk[U(nh)] = MAXD  # the sentinel, before the sift-down reads it
                    if nh > 0:
                        k = 0
                        # bottom-up (Floyd): the hole sinks along the smallest children
                        # to a leaf, then the last entry rises from there -- it
                        # belongs near the bottom, so this saves a comparison per level
                        while True:
                            child = 4 * k + 1
                            if child >= nh:
                                break
                            child, least = _smallest_child(hk, child)
                            _move(hk, hi, state, k, child, least)
                            k = child
                        _sift_up(hk, hi, state, k, key, idx)
                    state[U(i)] = FROZEN
                    if record:
                        popped[U(frozen - first)] = value_r
                    frozen += 1
                    group[ngroup] = i
                    ngroup += 1
                    if mode == EXTENSION or use_label:
                        if not padded:
                            _coords(i, strides, ci)
                        if mode == EXTENSION:
                            _finalize_extension(i, ci, dist, state, fext, shape, strides, periodic, idx2)
                        if use_label:  # inherit the label of the upwind frozen neighbour
                            best = MAXD
                            for e in range(ndim):
                                for step in (-1, 1):
                                    n = _step(i, ci[e], step, shape[e], strides[e], periodic[e])
                                    if (n >= 0 and n != i and state[n] == FROZEN and label[n] >= 0
                                            and abs(dist[n]) < best):
                                        best = abs(dist[n])
                                        label[i] = label[n]
            # the FAR/NARROW neighbours of one frozen point of the group, and
            # (order 2) the NARROW points behind a frozen neighbour
            ngroup -= 1
            i = group[ngroup]
            if not padded:
                rem = i
                for e in range(ndim):
                    q = rem // strides[e]
                    ci[e] = q
                    rem -= q * strides[e]
            if padded:
                # branch-free: every neighbour is written and the count grows
                # only for the wanted ones (which are wanted is a coin flip at
                # the front; a branch there mispredicts about every other time)
                for e in range(ndim):
                    se = strides[e]
                    for step in (-1, 1):
                        n = i + step * se
                        sn = state[U(n)]
                        cand[ncand] = n
                        ncand += (sn != FROZEN) & (sn != MASK)
                        if order == 2:
                            n2 = n + step * se
                            cand[ncand] = n2
                            ncand += (sn == FROZEN) & (state[U(n2)] >= HEAP)
            for e in range(ndim if not padded else 0):
                for step in (-1, 1):
                    for jump in range(1, order + 1):
                        n = _step(i, ci[e], step * jump, shape[e], strides[e], periodic[e])
                        if n < 0:
                            continue
                        if jump == 1:
                            sn = state[n]
                            if sn == FROZEN or sn == MASK:
                                continue
                        else:
                            n1 = _step(i, ci[e], step, shape[e], strides[e], periodic[e])
                            if state[n1] != FROZEN or state[n] < HEAP:
                                continue
                        cand[ncand] = n
                        for f in range(ndim):
                            candc[ncand, f] = ci[f]
                        candc[ncand, e] = (ci[e] + step * jump) % shape[e]
                        ncand += 1

        # ---- 2. upwind update of each candidate, then push / decrease-key
        for c in range(ncand):
            p = cand[c]
            fl = state[U(p)]
            if fl == FROZEN or fl == MASK:
                continue
            if mode == TRAVEL:
                fp = speed[U(p)]
                rhs = 1 / (fp * fp)
                root = 0
            else:
                rhs = 1.0
                root = 1 if sgn[U(p)] == 2 else -1
            a = 0.0
            b = 0.0
            cc = 0.0
            vmax = 0.0
            active = 0
            if order == 1 and padded:
                # the same sums without data-dependent branches (selects
                # instead): which neighbours are frozen is a coin flip at the
                # front.  Adding 0.0 for an axis without one leaves the sums
                # bit for bit as the general loop below makes them.
                # The loads are unconditional: a load under a condition stays a
                # branch (LLVM may not speculate it).
                for e in range(ndim):
                    lo = U(p - strides[e])
                    hi_ = U(p + strides[e])
                    dlo = dist[lo]
                    dhi = dist[hi_]
                    ie = idx2[e]
                    dlo = dlo if state[lo] == FROZEN else MAXD
                    dhi = dhi if state[hi_] == FROZEN else MAXD
                    v1 = dhi if abs(dhi) < abs(dlo) else dlo
                    on = v1 < MAXD
                    v1 = v1 if on else 0.0
                    w = ie if on else 0.0
                    a += w
                    b -= w * 2 * v1
                    cc += w * (v1 * v1)
                    vmax = max(vmax, abs(v1))
                    active += on
            for e in range(ndim if not (order == 1 and padded) else 0):
                ce = candc[c, e]
                se = strides[e]
                v1 = MAXD
                v2 = MAXD
                for step in (-1, 1):
                    # padded: the neighbours are just p -+ stride (no coordinates, no border tests)
                    n = p + step * se if padded else _step(p, ce, step, shape[e], se, periodic[e])
                    if n >= 0 and state[U(n)] == FROZEN:
                        dn = dist[U(n)]
                        if abs(dn) < abs(v1):
                            v1 = dn
                            if not strict:
                                v2 = MAXD
                            if order == 2:
                                n2 = p + 2 * step * se if padded else _step(p, ce, 2 * step, shape[e], se, periodic[e])
                                if n2 >= 0 and state[U(n2)] == FROZEN:
                                    d2 = dist[U(n2)]
                                    if (d2 <= v1 and v1 >= 0) or (d2 >= v1 and v1 <= 0):
                                        v2 = d2
                                        if flip and (sgn[n2] * sgn[n] < 0 or sgn[n2] * sgn[p] < 0):
                                            v2 = -v2
                if v2 < MAXD:
                    tp = THIRD * (4 * v1 - v2)
                    a += idx2[e] * AA
                    b -= idx2[e] * 2 * AA * tp
                    cc += idx2[e] * AA * (tp * tp)
                    vmax = max(vmax, abs(v1))
                    active += 1
                elif v1 < MAXD:
                    a += idx2[e]
                    b -= idx2[e] * 2 * v1
                    cc += idx2[e] * (v1 * v1)
                    vmax = max(vmax, abs(v1))
                    active += 1
            if active == 0:
                continue
            cc -= rhs
            det = b * b - 4 * a * cc
            good = det >= 0
            v = 0.0
            if good:
                # the root's sign as a factor, not a branch: inside and outside
                # points of a front interleave in the heap's order (exact: -b + (-s) == -b - s)
                v = (-b + (1.0 if root >= 0 else -1.0) * np.sqrt(det)) / 2.0 / a
                if (root == 0 and v < 0) or (not strict and abs(v) < vmax):
                    # upwind violation (scikit-fmm keeps it in compatible mode,
                    # except a negative travel time, which we never return)
                    good = False
            if not good:
                for f in range(ndim):
                    ci[f] = candc[c, f]
                v, ok = _fallback(p, ci, dist, state, sgn, shape, strides, periodic, idx2, order, mode, strict,
                                  tt, memo_v, memo_ok, rhs, root)
                if not ok:
                    continue
            dist[U(p)] = v
            key = abs(v)
            # push (a FAR point takes slot nh, whose sentinel MAXD it beats) or
            # change the key (decrease or, in compatible mode, increase): one path
            far = fl == FAR
            k = nh if far else fl - HEAP
            nh += far
            if nh + 4 > filled:  # sentinels ahead of the heap: the sift-down reads up to slot nh + 3
                top = min(filled + HEAP_FILL, hk.shape[0])
                for j in range(filled, top):  # a loop: a slice assignment costs ~1 s of compile time
                    hk[U(j)] = MAXD
                filled = top
            if key < hk[U(k)]:
                _sift_up(hk, hi, state, k, key, p)
                continue
            else:
                while True:
                    child = 4 * k + 1
                    if child >= nh:
                        break
                    child, least = _smallest_child(hk, child)
                    if least >= key:
                        break
                    _move(hk, hi, state, k, child, least)
                    k = child
            hk[U(k)] = key
            hi[U(k)] = p
            state[U(p)] = k + HEAP
    ctr[0] = nh
    ctr[1] = frozen
    ctr[2] = scan
    ctr[4] = filled
    if paused:
        return False
    for i in range(size):  # the FAR / NARROW / FROZEN / MASK codes of the states
        si = state[i]
        flag[i] = si if si < HEAP else NARROW
    return True
