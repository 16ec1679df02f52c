"""Fast sweeping (Zhao 2005): the first-order Eikonal solve by Gauss-Seidel sweeps.

Instead of visiting points in order of their value with a heap (fast
marching), every point is updated in turn, sweeping the grid in the 2**d
diagonal orderings (all combinations of increasing/decreasing along each
axis), until a whole cycle of sweeps changes nothing.  Each update is the
same first-order Godunov upwind solve as the fast march's.  Characteristics
that run in one of the sweep directions are resolved in a single sweep, so
distances from a front need only a few cycles; winding paths (mazes,
obstacles, strongly varying speed) need more.

The kernel works on a (Z, Y, X) view of 1-D, 2-D and 3-D grids, on the
same point states and initial fronts as :mod:`._march`.

References
----------
.. [1] H. Zhao, "A fast sweeping method for Eikonal equations", Math.
   Comp. 74(250):603-627, 2005. :doi:`10.1090/S0025-5718-04-01678-3`
"""

from __future__ import annotations

import numpy as np

from .._kernels import jit
from ._march import FROZEN, MASK, _step

#: A cycle of sweeps that lowers no value by more than this (relative) ends the solve.
TOLERANCE = 1e-13


@jit
def _godunov(a0, a1, a2, w0, w1, w2, rhs):
    """Solution T of sum_e w_e (T - a_e)+**2 = rhs (first-order upwind, up to 3 axes)."""
    # sort the neighbour values (with their weights) ascending
    if a1 < a0:
        a0, a1 = a1, a0
        w0, w1 = w1, w0
    if a2 < a1:
        a1, a2 = a2, a1
        w1, w2 = w2, w1
        if a1 < a0:
            a0, a1 = a1, a0
            w0, w1 = w1, w0
    if a0 == np.inf:
        return np.inf
    t = a0 + np.sqrt(rhs / w0)
    if t <= a1:
        return t
    A = w0 + w1
    B = w0 * a0 + w1 * a1
    C = w0 * a0 * a0 + w1 * a1 * a1 - rhs
    t = (B + np.sqrt(max(B * B - A * C, 0.0))) / A
    if t <= a2:
        return t
    A += w2
    B += w2 * a2
    C += w2 * a2 * a2
    return (B + np.sqrt(max(B * B - A * C, 0.0))) / A


@jit
def _axis_min(u, i, c, n, stride, per):
    """Smaller of the two neighbour values along one axis (inf if none)."""
    best = np.inf
    if n == 1:
        return best
    for step in (-1, 1):
        j = _step(i, c, step, n, stride, per)
        if j >= 0 and u[j] < best:
            best = u[j]
    return best


@jit
def _unlock(lock, i, c, n, stride, per):
    """Unlock the two neighbours of i along one axis."""
    if n == 1:
        return
    for step in (-1, 1):
        j = _step(i, c, step, n, stride, per)
        if j >= 0:
            lock[j] = 0


@jit
def sweep(u, flag, rhs, shape3, per3, idx2_3, max_cycles):
    """Lower the values u (flat; inf = not reached) of the non-frozen, unmasked points to convergence.

    ``rhs`` holds (1 / speed)**2 per point, or a single value for all.
    Points are *locked* (skipped) until a neighbour's value drops (Bak,
    McLaughlin & Renzi 2010), so converged regions cost a byte test per
    sweep.  Returns the number of cycles of 2**d sweeps taken.
    """
    Z, Y, X = shape3[0], shape3[1], shape3[2]
    sz, sy = Y * X, X
    wz, wy, wx = idx2_3[0], idx2_3[1], idx2_3[2]
    pz, py, px = per3[0], per3[1], per3[2]
    one = rhs.shape[0] == 1
    dirs_z = 2 if Z > 1 else 1
    dirs_y = 2 if Y > 1 else 1
    lock = np.ones(u.shape[0], dtype=np.uint8)
    for z in range(Z):
        for y in range(Y):
            base = z * sz + y * sy
            for x in range(X):
                i = base + x
                if flag[i] == FROZEN:
                    _unlock(lock, i, z, Z, sz, pz)
                    _unlock(lock, i, y, Y, sy, py)
                    _unlock(lock, i, x, X, 1, px)
    cycles = 0
    while cycles < max_cycles:
        cycles += 1
        changed = False
        for oz in range(dirs_z):
            for oy in range(dirs_y):
                for ox in range(2):
                    for kz in range(Z):
                        z = kz if oz == 0 else Z - 1 - kz
                        for ky in range(Y):
                            y = ky if oy == 0 else Y - 1 - ky
                            base = z * sz + y * sy
                            for kx in range(X):
                                x = kx if ox == 0 else X - 1 - kx
                                i = base + x
                                if lock[i]:
                                    continue
                                lock[i] = 1
                                if flag[i] == FROZEN or flag[i] == MASK:
                                    continue
                                t = _godunov(_axis_min(u, i, z, Z, sz, pz), _axis_min(u, i, y, Y, sy, py),
                                             _axis_min(u, i, x, X, 1, px), wz, wy, wx,
                                             rhs[0] if one else rhs[i])
                                if t < u[i]:
                                    if u[i] - t > TOLERANCE * t:
                                        changed = True
                                        _unlock(lock, i, z, Z, sz, pz)
                                        _unlock(lock, i, y, Y, sy, py)
                                        _unlock(lock, i, x, X, 1, px)
                                    u[i] = t
        if not changed:
            break
    return cycles
