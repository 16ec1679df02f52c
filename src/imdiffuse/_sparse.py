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

Arrays are flat (C-order) spatial arrays; neighbour tables hold flat
indices, -1 outside the image.

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


@jit(parallel=True)
def _neighbour_table(flat, shape, strides, table):
    ndim = shape.shape[0]
    for k in prange(flat.shape[0]):
        rem = flat[k]
        for a in range(ndim):
            c = rem // strides[a]
            rem -= c * strides[a]
            table[k, 2 * a] = flat[k] - strides[a] if c > 0 else -1
            table[k, 2 * a + 1] = flat[k] + strides[a] if c < shape[a] - 1 else -1
    return table


@jit(parallel=True)
def _weighted_count(nb, w, power):
    """sum over the existing neighbours of w_axis**power, per row of nb."""
    out = np.zeros(nb.shape[0])
    for k in prange(nb.shape[0]):
        for j in range(nb.shape[1]):
            if nb[k, j] >= 0:
                out[k] += w[j // 2] ** power
    return out


def neighbour_table(flat, shape):
    """(n, 2 ndim) int64 flat indices of the axis neighbours of ``flat`` (-1 outside)."""
    shape_a = np.array(shape, dtype=np.int64)
    strides = np.cumprod(np.concatenate([[1], shape_a[::-1]]))[:-1][::-1].copy()
    table = np.empty((flat.size, 2 * len(shape)), dtype=np.int64)
    return _neighbour_table(flat.astype(np.int64), shape_a, strides, table)


@jit(parallel=True)
def _apply(kind, x, U, R, nbR, deg, w, z, y, out):
    """out = A x (harmonic) or B x (biharmonic) for unknowns x on U.

    ``z`` and ``y`` are full-size scratch arrays, zero outside U and R
    respectively: only those entries are ever written.  ``deg`` is the weighted
    degree of each pixel of R; U is R's first ``len(U)`` entries.

    The three neighbour sums are written out on purpose: a shared helper
    taking the arrays (plain or Numba-inlined) made the 512^2 biharmonic
    solve 40-150 % slower (reference counting of array arguments, as in
    :mod:`imdiffuse.fmm._march`).
    """
    nU = U.shape[0]
    nR = R.shape[0]
    for k in prange(nU):
        z[U[k]] = x[k]
    if kind == 1:
        for k in prange(nU):
            acc = deg[k] * x[k]
            for j in range(nbR.shape[1]):
                n = nbR[k, j]
                if n >= 0:
                    acc -= w[j // 2] * z[n]
            out[k] = acc
    else:
        for k in prange(nR):
            acc = -deg[k] * z[R[k]]
            for j in range(nbR.shape[1]):
                n = nbR[k, j]
                if n >= 0:
                    acc += w[j // 2] * z[n]
            y[R[k]] = acc
        for k in prange(nU):
            acc = -deg[k] * y[U[k]]
            for j in range(nbR.shape[1]):
                n = nbR[k, j]
                if n >= 0:
                    acc += w[j // 2] * y[n]
            out[k] = acc


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


@jit(parallel=True)
def _cg_direction(p, s, beta):
    for i in prange(p.shape[0]):
        p[i] = s[i] + beta * p[i]


@jit
def _pcg(kind, b, x, U, R, nbR, deg, w, dinv, z, y, tol, max_iter):
    """Jacobi-preconditioned CG on A x = b from the guess x; returns (iterations, relative residual)."""
    n = x.shape[0]
    r = np.empty(n)
    s = np.empty(n)
    p = np.empty(n)
    q = np.empty(n)
    _apply(kind, x, U, R, nbR, deg, w, z, y, q)
    bnorm = math.sqrt(_dot(b, b))
    if bnorm == 0.0:
        bnorm = 1.0
    for i in range(n):
        r[i] = b[i] - q[i]
        s[i] = dinv[i] * r[i]
        p[i] = s[i]
    rs = _dot(r, s)
    res = math.sqrt(_dot(r, r)) / bnorm
    it = 0
    while it < max_iter and res > tol:
        _apply(kind, p, U, R, nbR, deg, w, z, y, q)
        pq = _dot(p, q)
        if not pq > 0.0:  # converged to rounding (or breakdown): stop
            break
        rs_new, rr = _cg_update(x, r, s, p, q, dinv, rs / pq)
        res = math.sqrt(rr) / bnorm
        _cg_direction(p, s, rs_new / rs)
        rs = rs_new
        it += 1
    return it, res


class _Problem:
    """The pixel lists, neighbour table and diagonal of one masked solve."""

    def __init__(self, mask, spacing, kind):
        shape = mask.shape
        self.shape = shape
        self.kind = kind
        self.w = np.array([1.0 / h**2 for h in spacing], dtype=np.float64)
        U = np.flatnonzero(mask)
        nbU = neighbour_table(U, shape)
        if kind == BIHARMONIC:
            mark = np.zeros(mask.size, dtype=bool)
            mark[nbU[nbU >= 0]] = True
            mark[U] = False
            ring = np.flatnonzero(mark)
            R = np.concatenate([U, ring])
            nbR = np.concatenate([nbU, neighbour_table(ring, shape)])
        else:
            R, nbR = U, nbU
        self.U, self.R, self.nb = U, R, nbR
        self.deg = _weighted_count(nbR, self.w, 1)
        if kind == HARMONIC:
            diag = self.deg[: U.size]
        else:
            # B_pp = sum_r L[r, p]**2 = deg_p**2 + sum over p's neighbours n of w_n**2
            diag = self.deg[: U.size] ** 2 + _weighted_count(nbU, self.w, 2)
        self.dinv = 1.0 / diag

    def rhs(self, g):
        """b from the data g (flat, zero on U)."""
        y = np.zeros(g.size)
        nU = self.U.size
        # L g at the pixels of R, then (harmonic) b = (L g)|_U or (biharmonic) b = -(L (L g)|_R)|_U
        Lg = _neighbour_sum(g, self.nb, self.w) - self.deg * g[self.R]
        if self.kind == HARMONIC:
            return Lg[:nU].copy()
        y[self.R] = Lg
        b = _neighbour_sum(y, self.nb[:nU], self.w) - self.deg[:nU] * y[self.U]
        return -b

    def neighbour_mean(self, g):
        """Start guess: each unknown's mean of its known axis neighbours (else of all known data)."""
        known = np.ones(g.size, dtype=np.bool_)
        known[self.U] = False
        out = np.empty(self.U.size)
        _known_mean(g, known, self.nb, float(g[known].mean()), out)
        return out

    def matrix(self):
        """The system matrix (A or B) as a scipy CSC matrix, for the direct solve."""
        from scipy import sparse

        nU, nR = self.U.size, self.R.size
        pos = np.full(int(np.prod(self.shape)), -1, dtype=np.int64)
        pos[self.U] = np.arange(nU)
        cols = np.where(self.nb >= 0, pos[np.maximum(self.nb, 0)], -1)
        k, j = np.nonzero(cols >= 0)
        rows = np.concatenate([np.arange(nU), k])
        cc = np.concatenate([np.arange(nU), cols[k, j]])
        vals = np.concatenate([-self.deg[:nU], self.w[j // 2]])
        LE = sparse.csr_matrix((vals, (rows, cc)), shape=(nR, nU))  # rows of R, columns of U
        if self.kind == HARMONIC:
            return (-LE).tocsc()
        return (LE.T @ LE).tocsc()

    def solve_direct(self, gs):
        """Exact solves for the data gs (C, n) by one sparse LU factorisation (SuperLU)."""
        from scipy.sparse.linalg import splu

        lu = splu(self.matrix(), permc_spec="MMD_AT_PLUS_A")
        return [lu.solve(self.rhs(g)) for g in gs]

    def solve(self, g, x0, tol, max_iter):
        b = self.rhs(g)
        x = np.ascontiguousarray(x0, dtype=np.float64).copy()
        z = np.zeros(g.size)
        y = np.zeros(g.size)
        # waking the worker threads costs more than a small solve gains from them
        threads = numba.get_num_threads()
        if self.R.size < PARALLEL_MIN:
            numba.set_num_threads(1)
        try:
            it, res = _pcg(self.kind, b, x, self.U, self.R, self.nb, self.deg, self.w, self.dinv, z, y,
                           float(tol), int(max_iter))
        finally:
            numba.set_num_threads(threads)
        return x, int(it), float(res)


@jit(parallel=True)
def _known_mean(g, known, nb, fallback, out):
    for k in prange(out.shape[0]):
        acc = 0.0
        cnt = 0
        for j in range(nb.shape[1]):
            n = nb[k, j]
            if n >= 0 and known[n]:
                acc += g[n]
                cnt += 1
        out[k] = acc / cnt if cnt else fallback


@jit(parallel=True)
def _neighbour_sum_kernel(v, nb, w, out):
    for k in prange(nb.shape[0]):
        acc = 0.0
        for j in range(nb.shape[1]):
            n = nb[k, j]
            if n >= 0:
                acc += w[j // 2] * v[n]
        out[k] = acc


def _neighbour_sum(v, nb, w):
    out = np.empty(nb.shape[0])
    _neighbour_sum_kernel(v, nb, w, out)
    return out


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
    gs = [np.where(mask, 0.0, values[c]).ravel() for c in range(C)]
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
