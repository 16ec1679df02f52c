"""
===========================================================
Estimating the noise level: edges, texture and clipped data
===========================================================

Everything blind in imdiffuse (:func:`imdiffuse.denoise`, :func:`imdiffuse.edges`,
:func:`imdiffuse.segment_fmm`) starts from :func:`imdiffuse.estimate_noise`.
Donoho's wavelet rule, which scikit-image's ``estimate_sigma`` implements,
takes the median of the finest diagonal wavelet coefficients.  At low noise,
edges and texture count as noise there, and voxels clipped at 0 or 255 (no
noise at all) pull the median down.  imdiffuse takes the same median over a
screened set: coefficients whose neighbourhood at the next coarser scale shows
structure are left out, and so are those at the border or touching clipped
voxels (see :ref:`nonlinear`, step 1).  The plot shows both estimates divided
by the true sigma on scikit-image's images; 1 is right.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import skimage.data
from skimage.restoration import estimate_sigma

import imdiffuse as imd

images = {
    "camera": skimage.data.camera(),
    "coins": skimage.data.coins(),
    "grass": skimage.data.grass(),
    "Shepp": skimage.data.shepp_logan_phantom() * 255.0,  # Shepp-Logan phantom
}
sigmas = (5, 15, 30)
rng = np.random.default_rng(0)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, clipped in zip(axes, (False, True)):
    x = np.arange(len(images) * len(sigmas))
    ours, theirs, labels = [], [], []
    for name, clean in images.items():
        for s in sigmas:
            noisy = clean.astype(np.float64) + rng.normal(0, s, clean.shape)
            if clipped:
                noisy = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs.append(estimate_sigma(noisy.astype(np.float64)) / s)
            ours.append(imd.estimate_noise(noisy) / s)
            labels.append(f"{name}\n\u03c3 {s}")
    ax.bar(x - 0.2, theirs, 0.4, label="scikit-image estimate_sigma")
    ax.bar(x + 0.2, ours, 0.4, label="imdiffuse estimate_noise")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_title("uint8, clipped to 0..255" if clipped else "float, noise not clipped")
axes[0].set_ylabel("estimate / true sigma")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
