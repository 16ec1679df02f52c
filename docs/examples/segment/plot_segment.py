"""
===========================================
Segmentation and minimal paths by marching
===========================================

From an image and a few clicks to a mask, a label image and a traced
curve: :func:`imdiffuse.segment_fmm` (one click per object, automatic
threshold), :func:`imdiffuse.geodesic_watershed` (one marker per region) and
:func:`imdiffuse.minimal_path` (the geodesic between two clicks).

See :ref:`segment` in the user guide.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from skimage import data, filters

import imdiffuse as imd

# %%
# Coins from one click each
# =========================
#
# ``segment_fmm`` denoises the image (edge-preserving, blind), builds a
# speed map that is fast where the intensity is that of the seed's
# neighbourhood (:func:`imdiffuse.graydiff_weight`), marches a front from
# the seed and keeps the region the front covers before it stalls at the
# object's boundary (``threshold="auto"``).  Most coins come out whole; a
# few whose intensity is close to the shaded background leak into it (the
# outlines that run off into the background): one click is not enough
# there (in ``benchmarks/bench_segment.py`` 5 of the 24 coins fail).

coins = data.coins()
# the "clicks": a point deep inside each coin (maximum of the distance
# transform of a rough Otsu mask), so that the example is reproducible
rough = ndimage.binary_fill_holes(coins > filters.threshold_otsu(coins))
lab, n_coins = ndimage.label(rough)
seeds = [np.unravel_index(np.argmax(ndimage.distance_transform_edt(lab == k)), coins.shape)
         for k in range(1, n_coins + 1) if (lab == k).sum() >= 100]
outlines = np.zeros(coins.shape, bool)
for seed in seeds:
    mask = imd.segment_fmm(coins, [seed])
    outlines |= mask & ~ndimage.binary_erosion(mask)

# %%
# CT: one click per organ, with the pixel spacing
# ===============================================

ct = imd.data.ct_slice().astype(np.float32)
spacing = imd.data.SPACING["ct_slice"]
organs = {"aorta": (8, 92), "vertebral body": (25, 57), "spinal canal": (51, 57)}
ct_masks = {name: imd.segment_fmm(ct, [seed], spacing=spacing) for name, seed in organs.items()}

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
axes[0].imshow(np.ma.masked_where(~outlines, outlines), cmap="autumn", interpolation="nearest")
axes[0].imshow(coins, cmap="gray", alpha=0.85)
axes[0].contour(outlines, levels=[0.5], colors="red", linewidths=0.8)
axes[0].plot([s[1] for s in seeds], [s[0] for s in seeds], "c+", ms=6)
axes[0].set_title("segment_fmm: one click per coin")
axes[1].imshow(ct, cmap="gray", vmin=-400, vmax=600)
for (name, m), colour in zip(ct_masks.items(), ("yellow", "lime", "red")):
    axes[1].contour(m, levels=[0.5], colors=colour, linewidths=1.2)
    axes[1].plot(organs[name][1], organs[name][0], "+", color=colour, ms=8, label=name)
axes[1].legend(loc="lower left", fontsize=8)
axes[1].set_title("CT slice: one click per structure")
for ax in axes:
    ax.set_axis_off()

# %%
# Geodesic watershed
# ==================
#
# With one marker per region (here the CT structures plus one background
# marker), every pixel gets the label of the marker whose front reaches it
# first.  Each label's front has its own speed (likeness to that label's
# marker intensity).

markers = np.array(list(organs.values()) + [(62, 57), (100, 20), (70, 110), (5, 5), (5, 120)])
labels = imd.geodesic_watershed(ct, markers, spacing=spacing)

fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
ax.imshow(ct, cmap="gray", vmin=-400, vmax=600)
ax.imshow(labels, cmap="tab10", alpha=0.4, vmin=1, vmax=10, interpolation="nearest")
ax.plot(markers[:, 1], markers[:, 0], "w+", ms=8)
ax.set_title(f"geodesic_watershed: {len(markers)} markers")
ax.set_axis_off()

# %%
# Minimal path: a bright curve in noise
# =====================================
#
# ``minimal_path`` marches from the start point with a speed that is high on
# bright pixels, then back-tracks the gradient of the arrival time from the
# end point with sub-pixel Runge-Kutta steps.  The extracted path stays
# within a fraction of a pixel of the true curve although the curve is
# hardly visible in the noise.

rng = np.random.default_rng(0)
n = 200
x = np.arange(n, dtype=float)
yc = n / 2 + 0.2 * n * np.sin(2 * np.pi * x / n * 1.5)
yy = np.arange(n, dtype=float)[:, None]
curve = np.exp(-((yy - yc) ** 2) / (2 * 1.5**2)) + rng.normal(0, 0.5, (n, n))
smooth = filters.gaussian(curve, 1.0)
speed = np.exp(4.0 * smooth / smooth.max())
path = imd.minimal_path(speed, (yc[2], 2.0), (yc[-3], n - 3.0))
xs = np.linspace(0, n - 1, 20 * n)  # distance to the true curve, sampled densely
dense = np.c_[np.interp(xs, x, yc), xs]
error = np.sqrt(((path[:, None, :] - dense[None]) ** 2).sum(-1)).min(axis=1)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
axes[0].imshow(curve, cmap="gray")
axes[0].plot(path[:, 1], path[:, 0], "r-", lw=1, label="minimal_path")
axes[0].set_title("bright curve, noise sigma = 0.5 x its height")
axes[0].legend(loc="lower left")
axes[1].plot(path[:, 1], error)
axes[1].set_xlabel("column")
axes[1].set_ylabel("distance to the true curve (px)")
axes[1].set_title(f"mean {error.mean():.2f} px, max {error.max():.2f} px")
plt.show()
