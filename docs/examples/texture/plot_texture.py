"""
=====================================
Reaction-diffusion texture synthesis
=====================================

The Gray-Scott model (Pearson 1993) grows spots, stripes, mazes, holes and
waves from a few random seeds, depending on two rates: the feed ``F`` and
the kill ``k``.  :func:`imdiffuse.reaction_diffusion` names the classic
regimes in :data:`imdiffuse.texture.PRESETS`; every parameter may also vary
in space, so an image can guide the texture, and diffusion may be
anisotropic, so stripes can follow an image's structure.

See :ref:`texture` in the user guide.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, transform

import imdiffuse as imd
from imdiffuse.texture import PRESETS

# %%
# Every preset
# ============
#
# 96 x 96 points, periodic boundaries (the textures tile seamlessly), the
# same random start (seed 3) and the default time ``t = 10000``.  The
# value of ``v`` is shown; waves and chaos never settle, so theirs is a
# snapshot.

fig, axes = plt.subplots(2, 5, figsize=(12, 5.4))
for ax, (name, (F, k, Du, Dv, text)) in zip(axes.flat, PRESETS.items()):
    v = imd.reaction_diffusion((96, 96), preset=name, seed=3)
    ax.imshow(v, cmap="magma")
    ax.set_title(f"{name}\nF={F:g}, k={k:g}", fontsize=9)
for ax in axes.flat:
    ax.set_axis_off()
fig.tight_layout()

# %%
# Spot density from an image's brightness
# =======================================
#
# ``F`` and ``k`` as arrays: they move, pixel by pixel, between the
# ``solitons`` regime (sparse spots) in dark regions and ``mitosis`` (dense
# splitting spots) in bright ones, so the texture becomes a half-toning of
# the photograph (Turk 1991; Witkin & Kass 1991).

img = transform.resize(data.camera().astype(float), (128, 128), anti_aliasing=True)
w = (img - img.min()) / (img.max() - img.min())  # 0 (dark) .. 1 (bright)
F0, k0 = PRESETS["solitons"][:2]
F1, k1 = PRESETS["mazes"][:2]
F = F0 + (F1 - F0) * w
k = k0 + (k1 - k0) * w
v = imd.reaction_diffusion(img.shape, F=F, k=k, seed=1, periodic=False)

fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
axes[0].imshow(img, cmap="gray")
axes[0].set_title("guide image")
axes[1].imshow(v, cmap="gray")
axes[1].set_title("F, k from brightness: spots (dark) to stripes (bright)", fontsize=9)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()

# %%
# Stripes steered by a diffusion tensor
# =====================================
#
# With ``tensor=``, both species diffuse with ``Du D(x)`` and ``Dv D(x)``
# (the nonnegative stencil of :func:`imdiffuse.edge_enhancing`).  Stripes
# run along the direction of fastest diffusion.  Here ``D`` has eigenvalue
# 1 along the iso-lines of a guide image (concentric rings: the
# eigenvector of the smallest eigenvalue of its structure tensor,
# :func:`imdiffuse.structure_tensor`) and 0.15 across them, so the maze
# turns into rings.

n = 96
yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2
guide = np.hypot(yy, xx)  # distance to the centre: iso-lines are circles
J = imd.structure_tensor(guide, sigma=1.0, rho=2.0)
_, vecs = np.linalg.eigh(J)  # eigenvalues ascending
along = vecs[..., :, 0]  # least variation: along the iso-lines
D = 0.15 * np.eye(2) + 0.85 * along[..., :, None] * along[..., None, :]
iso = imd.reaction_diffusion((n, n), preset="mazes", seed=2, t=5000, periodic=False)
steered = imd.reaction_diffusion((n, n), preset="mazes", seed=2, t=5000, periodic=False, tensor=D)

fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
axes[0].imshow(iso, cmap="magma")
axes[0].set_title("mazes, isotropic")
axes[1].imshow(steered, cmap="magma")
axes[1].set_title("mazes, tensor along circles")
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()

plt.show()
