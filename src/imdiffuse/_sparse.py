"""Masked Laplace and biharmonic solves: the numerics of harmonic and biharmonic inpainting.

The unknowns are the masked pixels ``U`` only; every other pixel keeps its
value and enters as Dirichlet data.  ``L`` is the graph Laplacian of the
pixel grid with reflecting (Neumann) image borders: at pixel p,
``(L u)(p) = sum_n w_n (u_n - u_p)`` over the in-image axis neighbours n,
``w_n = 1 / h_axis**2``.  Writing ``u = g + E x`` (g: the data with zeros on
U, E: extension by zero of the unknowns x):

* harmonic: ``(L u)|_U = 0``, i.e. ``A x = (L g)|_U`` with ``A = -L|_UU``
  symmetric positive definite (as soon as one pixel is known);
* biharmonic: u minimises ``sum_p (L u)(p)**2`` over all pixels, whose
  normal equations are ``(L L u)|_U = 0``, i.e. ``B x = -(L L g)|_U`` with
  ``B = (L E)^T (L E)`` symmetric positive definite.  Only the rows of
  ``R = U + neighbours(U)`` depend on x.

Both are solved by conjugate gradients with a Jacobi preconditioner,
matrix-free, entirely inside one Numba function (no Python per iteration),
on compact lists of the pixels involved: the cost is proportional to the
masked region, not to the image.  Large holes converge slowly in plain CG
(condition number ~ diameter**2 for A, **4 for B), so the solve is nested
(*cascadic* multigrid, Bornemann & Deuflhard 1996): the problem is first
solved on a grid coarsened by 2 per axis, and its prolongation is the
initial guess on the finer grid, where CG has only the local (high
frequency) error left to remove.

Fields are flat (C-order) arrays of the image padded by one zero pixel on
every side, so a pixel's axis neighbours are ``f -+ stride`` with no border
tests; pixel lists hold flat indices into that padded grid.  Where the
rows involved cover much of the image (scattered missing pixels), the
biharmonic operator's Laplacians run densely over the whole image, which
vectorises, instead of gathering along the row lists.

References
----------
.. [1] F. A. Bornemann, P. Deuflhard, "The cascadic multigrid method for
   elliptic problems", Numer. Math. 75:135-152, 1996.
   :doi:`10.1007/s002110050234`
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from ._kernels import jit

__all__ = ["solve_masked", "HARMONIC", "BIHARMONIC"]

HARMONIC = 1
BIHARMONIC = 2

#: CG on fewer pixels (masked ones and their neighbours) than this runs on one thread.
PARALLEL_MIN = 50_000

#: Below this many unknowns, the cascade stops coarsening and solves directly by CG.
COARSEST = 4096

#: Wide holes (some masked pixel farther than WIDE pixels, chessboard, from the known
#: ones) with at most DIRECT_MAX unknowns are solved by a sparse LU
#: factorisation of the masked system: CG needs ~width**2 (biharmonic)
#: iterations there, while the factorisation of a few 10^4 unknowns takes
#: milliseconds.  Scattered missing pixels and very large masks use CG.
WIDE = 4.0
DIRECT_MAX = {2: 60_000, 3: 20_000}

#: The biharmonic operator's first Laplacian runs over the whole image, densely,
#: when the rows it needs (masked pixels and their neighbours) are more than
#: this fraction of it: a contiguous loop costs ~1/7 of a gather per pixel
#: (a 512^2 scribble mask touching 16 % of the pixels: 48 ms dense, 59 ms not).
DENSE_FRACTION = 0.1


@jit(parallel=True)
def _degrees(rows, inside, st, w, deg, diag):
    """deg: weighted count of the in-image axis neighbours of each pixel of ``rows``; diag: B's diagonal there.

    B_pp = sum_r L[r, p]**2 = deg_p**2 + sum over p's neighbours n of w_n**2.
    """
    for k in prange(rows.shape[0]):
        f = rows[k]
        d = 0.0
        d2 = 0.0
        for a in range(3):
            c = inside[f - st[a]] + inside[f + st[a]]
            d += w[a] * c
            d2 += w[a] * w[a] * c
        deg[k] = d
        diag[k] = d * d + d2


@jit(parallel=True)
def _laplace_rows(v, rows, st, w, deg, out):
    """out[k] = (L v)(rows[k]) for a padded flat field v that is zero on the padding."""
    s0, s1, s2 = st[0], st[1], st[2]
    w0, w1, w2 = w[0], w[1], w[2]
    for k in prange(rows.shape[0]):
        f = rows[k]
        out[k] = (w0 * (v[f - s0] + v[f + s0]) + w1 * (v[f - s1] + v[f + s1])
                  + w2 * (v[f - s2] + v[f + s2]) - deg[k] * v[f])


@jit(parallel=True)
def _scatter_direction(p, s, beta, U, z):
    """p = s + beta p, and z[U] = p (beta = 0 starts p at s)."""
    for k in prange(U.shape[0]):
        pk = s[k] + beta * p[k]
        p[k] = pk
        z[U[k]] = pk


@jit(parallel=True)
def _laplace_box(z, y, box, st, w):
    """y = L z on every pixel of the image (``box``: its shape, as three axes), densely.

    Faster than the row list when most pixels are rows of R (scattered
    missing pixels).  Each image row is read through its own slices of z:
    with one array and offset indices LLVM cannot rule out that y's stores
    alias z's loads and does not vectorise (measured 6x slower).  Pixels
    outside R get L z = 0 there, as z vanishes around them.
    """
    n0, n1, n2 = box[0], box[1], box[2]
    s0, s1 = st[0], st[1]
    w0, w1, w2 = w[0], w[1], w[2]
    o0 = 1 if s0 != 0 else 0
    o1 = 1 if s1 != 0 else 0
    for r in prange(n0 * n1):
        i0 = r // n1
        i1 = r - i0 * n1
        c0 = (i0 > 0) + (i0 < n0 - 1) if s0 != 0 else 0
        c1 = (i1 > 0) + (i1 < n1 - 1) if s1 != 0 else 0
        drow = w0 * c0 + w1 * c1 + 2.0 * w2
        b = (i0 + o0) * s0 + (i1 + o1) * s1 + 1
        zc = z[b - 1:b + n2 + 1]
        zu1 = z[b - s1:b - s1 + n2]
        zd1 = z[b + s1:b + s1 + n2]
        yr = y[b:b + n2]
        if s0 == 0:
            for j in range(n2):
                yr[j] = w1 * (zu1[j] + zd1[j]) + w2 * (zc[j] + zc[j + 2]) - drow * zc[j + 1]
        else:
            zu0 = z[b - s0:b - s0 + n2]
            zd0 = z[b + s0:b + s0 + n2]
            for j in range(n2):
                yr[j] = (w0 * (zu0[j] + zd0[j]) + w1 * (zu1[j] + zd1[j]) + w2 * (zc[j] + zc[j + 2])
                         - drow * zc[j + 1])
        # the row's ends have one neighbour less along the last axis
        yr[0] += w2 * zc[1]
        yr[n2 - 1] += w2 * zc[n2]


@jit(parallel=True)
def _apply_dot(kind, p, U, R, box, st, degU, degR, w, z, y, v, q):
    """q = A p (harmonic) or B p (biharmonic), given z = E p; returns p.q.

    ``z``, ``y`` and ``v`` are padded full-size scratch fields.  On the row
    lists, z and y are zero outside U and R respectively (only those
    entries are ever written), so the neighbour
    sums need no tests for the image border: the padding reads as zero and
    the degrees count only the neighbours inside the image.  Axis 0 of a
    2-D problem has stride 0 and weight 0.  The stencil is written out
    with scalar strides (not a loop over axes nor a shared array-taking
    helper: both measured 2x slower).
    """
    s0, s1, s2 = st[0], st[1], st[2]
    w0, w1, w2 = w[0], w[1], w[2]
    pq = 0.0
    if kind == 2 and box[0] > 0:  # both Laplacians over the whole image, then gather
        _laplace_box(z, y, box, st, w)
        _laplace_box(y, v, box, st, w)
        for k in prange(U.shape[0]):
            acc = v[U[k]]
            q[k] = acc
            pq += p[k] * acc
        return pq
    if kind == 2:
        for k in prange(R.shape[0]):
            f = R[k]
            y[f] = (w0 * (z[f - s0] + z[f + s0]) + w1 * (z[f - s1] + z[f + s1])
                    + w2 * (z[f - s2] + z[f + s2]) - degR[k] * z[f])
        src = y
        sign = 1.0
    else:
        src = z
        sign = -1.0
    for k in prange(U.shape[0]):
        f = U[k]
        acc = sign * (w0 * (src[f - s0] + src[f + s0]) + w1 * (src[f - s1] + src[f + s1])
                      + w2 * (src[f - s2] + src[f + s2]) - degU[k] * src[f])
        q[k] = acc
        pq += p[k] * acc
    return pq


@jit(parallel=True)
def _dot(a, b):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@jit(parallel=True)
def _cg_update(x, r, s, p, q, dinv, alpha):
    """x += alpha p, r -= alpha q, s = dinv r; returns (r.s, r.r)."""
    rs = 0.0
    rr = 0.0
    for i in prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        si = dinv[i] * ri
        s[i] = si
        rs += ri * si
        rr += ri * ri
    return rs, rr


@jit
def _pcg(kind, b, x, U, R, box, st, degU, degR, w, dinv, z, y, v, tol, max_iter):
    """Jacobi-preconditioned CG on A x = b from the guess x; returns (iterations, relative residual).

    Four parallel regions per iteration (three for the harmonic system):
    the new direction scattered into z, the two Laplacians (the second one
    also forms p.q), and the update of x, r and s with their dot products.
    """
    n = x.shape[0]
    r = np.zeros(n)
    s = np.zeros(n)
    p = np.zeros(n)
    q = np.empty(n)
    _scatter_direction(p, x, 0.0, U, z)
    _apply_dot(kind, p, U, R, box, st, degU, degR, w, z, y, v, q)
    bnorm = math.sqrt(_dot(b, b))
    if bnorm == 0.0:
        bnorm = 1.0
    for i in range(n):
        r[i] = b[i] - q[i]
    rs, rr = _cg_update(p, r, s, p, q, dinv, 0.0)  # s = dinv r
    res = math.sqrt(rr) / bnorm
    beta = 0.0
    p[:] = 0.0
    it = 0
    while it < max_iter and res > tol:
        _scatter_direction(p, s, beta, U, z)
        pq = _apply_dot(kind, p, U, R, box, st, degU, degR, w, z, y, v, q)
        if not pq > 0.0:  # converged to rounding (or breakdown): stop
            break
        rs_new, rr = _cg_update(x, r, s, p, q, dinv, rs / pq)
        res = math.sqrt(rr) / bnorm
        beta = rs_new / rs
        rs = rs_new
        it += 1
    return it, res


class _Problem:
    """The pixel lists and diagonals of one masked solve, on the zero-padded grid.

    Pixels are flat indices into the mask padded by one pixel on every side,
    so the axis neighbours of pixel f are ``f -+ stride[a]``, and the padding
    (always zero in the fields the solver reads) stands for "outside the
    image".
    """

    def __init__(self, mask, spacing, kind):
        if mask.ndim > 3:
            raise ValueError(f"masked solves are 1-D to 3-D, got a {mask.ndim}-D mask")
        self.shape = mask.shape
        self.kind = kind
        pm = np.pad(mask, 1)
        self.pshape = pm.shape
        # always three axes for the kernels: missing leading axes get stride 0 and weight 0
        lead = 3 - mask.ndim
        self.st = np.array([0] * lead + [s // pm.itemsize for s in pm.strides], dtype=np.int64)
        self.w = np.array([0.0] * lead + [1.0 / h**2 for h in spacing], dtype=np.float64)
        itype = np.int32 if pm.size < 2**31 else np.int64
        U = np.flatnonzero(pm).astype(itype)
        inside = np.pad(np.ones(mask.shape, dtype=np.uint8), 1).ravel()
        self.degU = np.empty(U.size)
        diag = np.empty(U.size)
        _degrees(U, inside, self.st, self.w, self.degU, diag)
        if kind == BIHARMONIC:
            inner = tuple(slice(1, -1) for _ in mask.shape)
            rows = pm.copy()  # U and its in-image axis neighbours, in grid order
            for a in range(mask.ndim):
                rows[inner] |= np.roll(pm, 1, axis=a)[inner] | np.roll(pm, -1, axis=a)[inner]
            R = np.flatnonzero(rows).astype(itype)
            self.degR = np.empty(R.size)
            _degrees(R, inside, self.st, self.w, self.degR, np.empty(R.size))
            self.dinv = 1.0 / diag
            if R.size > DENSE_FRACTION * mask.size:
                self.box = np.array((1,) * lead + mask.shape, dtype=np.int64)
        else:
            R, self.degR = U, self.degU
            self.dinv = 1.0 / self.degU
        self.U, self.R = U, R
        if not hasattr(self, "box"):
            self.box = np.zeros(3, dtype=np.int64)  # box[0] == 0: use the row list R

    def pad(self, g):
        """The spatial field g (any shape of self.shape's size) as a padded flat float64 array."""
        return np.pad(np.asarray(g, dtype=np.float64).reshape(self.shape), 1).ravel()

    def rhs(self, gp):
        """b from the padded data gp (zero on U and on the padding)."""
        # L g at the pixels of R, then (harmonic) b = (L g)|_U or (biharmonic) b = -(L (L g)|_R)|_U
        Lg = np.empty(self.R.size)
        _laplace_rows(gp, self.R, self.st, self.w, self.degR, Lg)
        if self.kind == HARMONIC:
            return Lg
        y = np.zeros(gp.size)
        y[self.R] = Lg
        b = np.empty(self.U.size)
        _laplace_rows(y, self.U, self.st, self.w, self.degU, b)
        return -b

    def neighbour_mean(self, gp):
        """Start guess: each unknown's mean of its known axis neighbours (else of all known data)."""
        known = np.pad(np.ones(self.shape, dtype=np.uint8), 1).ravel()
        known[self.U] = 0
        out = np.empty(self.U.size)
        fallback = float(gp[known.view(bool)].mean())
        _known_mean(gp, known, self.U, self.st, fallback, out)
        return out

    def matrix(self):
        """The system matrix (A or B) as a scipy CSC matrix, for the direct solve."""
        from scipy import sparse

        nU, nR = self.U.size, self.R.size
        pos = np.full(int(np.prod(self.pshape)), -1, dtype=np.int64)
        pos[self.U] = np.arange(nU)
        posR = np.full(pos.size, -1, dtype=np.int64)
        posR[self.R] = np.arange(nR)
        # L E: rows of R, columns of U
        rows, cols, vals = [posR[self.U]], [np.arange(nU)], [-self.degU]
        for s, w in zip(self.st, self.w):
            if s == 0:
                continue
            for nbr in (self.R - s, self.R + s):
                c = pos[nbr]
                k = np.flatnonzero(c >= 0)
                rows.append(k)
                cols.append(c[k])
                vals.append(np.full(k.size, w))
        LE = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(nR, nU))
        if self.kind == HARMONIC:
            return (-LE).tocsc()
        return (LE.T @ LE).tocsc()

    def solve_direct(self, gps):
        """Exact solves for the padded data gps by one sparse LU factorisation (SuperLU)."""
        from scipy.sparse.linalg import splu

        # A and B are symmetric positive definite: no pivoting, symmetric ordering
        # (measured 1.3-2.4x faster than the default pivoting LU on the benchmark's holes)
        lu = splu(self.matrix(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
        return [lu.solve(self.rhs(g)) for g in gps]

    def solve(self, gp, x0, tol, max_iter):
        b = self.rhs(gp)
        x = np.ascontiguousarray(x0, dtype=np.float64).copy()
        z = np.zeros(gp.size)
        y = np.zeros(gp.size) if self.kind == BIHARMONIC else z
        v = np.zeros(gp.size) if self.box[0] > 0 else y
        # waking the worker threads costs more than a small solve gains from them
        threads = numba.get_num_threads()
        if self.R.size < PARALLEL_MIN:
            numba.set_num_threads(1)
        try:
            it, res = _pcg(self.kind, b, x, self.U, self.R, self.box, self.st, self.degU, self.degR, self.w,
                           self.dinv, z, y, v, float(tol), int(max_iter))
        finally:
            numba.set_num_threads(threads)
        return x, int(it), float(res)


@jit(parallel=True)
def _known_mean(g, known, U, st, fallback, out):
    for k in prange(U.shape[0]):
        acc = 0.0
        cnt = 0
        for a in range(3):
            if st[a] == 0:
                continue
            for n in (U[k] - st[a], U[k] + st[a]):
                if known[n]:
                    acc += g[n]
                    cnt += 1
        out[k] = acc / cnt if cnt else fallback


def _coarsen(mask, values, spacing):
    """Mask, data and spacing on the grid coarsened by 2 along every axis of length > 1.

    A coarse pixel is known if any of its fine children is known; its value
    is the mean of its known children.
    """
    shape = mask.shape
    factors = tuple(2 if n > 1 else 1 for n in shape)
    padded = tuple(-(-n // f) * f for n, f in zip(shape, factors))
    pad = [(0, p - n) for n, p in zip(shape, padded)]
    known = np.pad(~mask, pad)  # padding counts as unknown, never as data
    v = np.pad(np.where(mask[None], 0.0, values), [(0, 0)] + pad)
    split = []
    for n, f in zip(padded, factors):
        split += [n // f, f]
    kn = known.reshape(split)
    vn = v.reshape((v.shape[0],) + tuple(split))
    axes = tuple(range(1, 2 * len(shape), 2))
    count = kn.sum(axis=axes)
    total = vn.sum(axis=tuple(a + 1 for a in axes))
    cvals = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return count == 0, cvals, tuple(h * f for h, f in zip(spacing, factors)), factors


def _prolong(coarse, factors, shape):
    """Piecewise-constant prolongation of a coarse field to ``shape`` (then cropped)."""
    out = coarse
    for a, f in enumerate(factors):
        if f > 1:
            out = np.repeat(out, f, axis=a + 1)
    return out[(slice(None),) + tuple(slice(0, n) for n in shape)]


def _is_wide(mask):
    """True if some masked pixel has no known pixel within WIDE pixels (chessboard distance).

    That is: some (2 WIDE + 1)-wide box is masked throughout (a separable
    minimum filter; outside the image counts as masked, by reflection).
    """
    from scipy import ndimage

    size = [2 * int(WIDE) + 1 if n > 1 else 1 for n in mask.shape]
    return bool(ndimage.minimum_filter(mask.view(np.uint8), size=size, mode="reflect").any())


def solve_masked(values, mask, spacing, kind, *, tol=1e-6, max_iter=None, guess=None, direct=None):
    """Fill ``values`` (C, *spatial) where ``mask`` is True by the harmonic or biharmonic solve.

    ``direct``: None chooses (see :data:`WIDE`), True/False forces the
    sparse LU or the CG path.  Returns ``(filled, info)``: a float64 array
    like ``values`` (known pixels unchanged) and a dict with the solver,
    the CG iterations and the final relative residual of the finest CG
    solve (worst over channels; 0 for the direct solve).
    """
    values = np.asarray(values, dtype=np.float64)
    C = values.shape[0]
    shape = mask.shape
    nU = int(mask.sum())
    dims = sum(n > 1 for n in shape)
    wide = _is_wide(mask)
    if direct is None:
        direct = wide and nU <= DIRECT_MAX.get(dims, DIRECT_MAX[3])
    problem = _Problem(mask, spacing, kind)
    out = values.copy()
    gs = [problem.pad(np.where(mask, 0.0, values[c])) for c in range(C)]
    if direct:
        for c, x in enumerate(problem.solve_direct(gs)):
            out[c][mask] = x
        return out, {"solver": "direct", "iterations": 0, "residual": 0.0}
    if max_iter is None:
        max_iter = max(1000, 20 * int(round(nU ** (1.0 / max(1, dims)))) ** 2)
    if guess is None:
        if wide and nU > COARSEST and min(n for n in shape if n > 1) >= 8:
            cmask, cvals, cspacing, factors = _coarsen(mask, values, spacing)
            # worth it only where holes are wide: most unknowns lie in fully
            # unknown coarse cells (not for scattered missing pixels)
            if cmask.any() and not cmask.all() and cmask.sum() * np.prod(factors) > 0.5 * nU:
                coarse, _ = solve_masked(cvals, cmask, cspacing, kind, tol=tol, max_iter=max_iter, direct=False)
                guess = _prolong(coarse, factors, shape)
        if guess is None:  # scattered unknowns: start from the mean of the known axis neighbours
            guess = [None] * C
    worst_res, worst_it = 0.0, 0
    for c in range(C):
        x0 = problem.neighbour_mean(gs[c]) if guess[c] is None else np.asarray(guess[c])[mask]
        x, it, res = problem.solve(gs[c], x0, tol, max_iter)
        out[c][mask] = x
        worst_res = max(worst_res, res)
        worst_it = max(worst_it, it)
    return out, {"solver": "cg", "iterations": worst_it, "residual": worst_res}
