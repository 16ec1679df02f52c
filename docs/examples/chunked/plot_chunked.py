"""
Chunk by chunk, equal to the in-memory result
=============================================

:mod:`imdiffuse.chunked` runs a filter on a Dask array one chunk at a time:
each chunk is extended by a halo of its neighbours, filtered in memory and
cropped back.  With the default halo the result equals the in-memory call
(here to float32 rounding), also on the chunk borders.  A halo that is too
thin shows the chunk grid in the error map.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from skimage import data

import imdiffuse as imd

img = data.camera().astype(np.float32)
noisy = img + np.random.default_rng(0).normal(0, 20, img.shape).astype(np.float32)
x = da.from_array(noisy, chunks=128)  # a 4 x 4 grid of chunks

kw = dict(kappa=12.0, sigma=1.0)
ref = imd.perona_malik(noisy, 10.0, **kw)  # in memory
u = imd.chunked.perona_malik(x, 10.0, **kw).compute()  # chunk by chunk, default halo
thin = imd.chunked.perona_malik(x, 10.0, depth=3, **kw).compute()  # halo of 3 pixels only

err = np.abs(u - ref) / np.abs(ref).max()
err_thin = np.abs(thin - ref) / np.abs(ref).max()
print(f"default halo: max relative error {err.max():.1e}")
print(f"3-pixel halo: max relative error {err_thin.max():.1e}")

fig, axes = plt.subplots(1, 3, figsize=(11, 4))
axes[0].imshow(u, cmap="gray")
axes[0].set_title("chunked Perona-Malik")
for k in range(1, 4):
    axes[0].axhline(128 * k - 0.5, color="y", lw=0.6)
    axes[0].axvline(128 * k - 0.5, color="y", lw=0.6)
im = axes[1].imshow(err, cmap="magma", vmin=0, vmax=max(err.max(), 1e-7))
axes[1].set_title(f"default halo: max error {err.max():.0e}")
fig.colorbar(im, ax=axes[1], fraction=0.046)
im = axes[2].imshow(err_thin, cmap="magma")
axes[2].set_title(f"3-pixel halo: max error {err_thin.max():.0e}")
fig.colorbar(im, ax=axes[2], fraction=0.046)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
plt.show()
