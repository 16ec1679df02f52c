"""Sphinx configuration for the imdiffuse documentation.

Build from the repository root with::

    sphinx-build -b html docs docs/_build/html

The build needs no network: there is no intersphinx mapping, and MathJax is
only loaded by the browser that views the pages.
"""

from __future__ import annotations

import importlib
import os
import re
from importlib.metadata import PackageNotFoundError, version as _pkg_version

from sphinx.util import logging

os.environ.setdefault("MPLBACKEND", "Agg")  # the gallery renders off-screen

logger = logging.getLogger("imdiffuse.docs")

# -- Project information ------------------------------------------------------

project = "imdiffuse"
author = "The imdiffuse developers"
copyright = "The imdiffuse developers"  # noqa: A001 (Sphinx's name)

try:  # the one source of the version number: the installed package metadata
    release = _pkg_version("imdiffuse")
except PackageNotFoundError:  # docs built from a tree that is not installed
    release = "0+unknown"
version = ".".join(release.split(".")[:2])

# -- General configuration ----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "examples"]  # gallery sources: see below
templates_path: list[str] = []
default_role = "autolink"
root_doc = "index"

# :doi:`10.1109/83.661190` in docstrings and pages
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}

# No network on the build machines: no intersphinx inventories are fetched.
intersphinx_mapping: dict = {}

# -- autodoc / autosummary / numpydoc -------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc Parameters section is the reference
autodoc_default_options = {"member-order": "bysource"}

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- sphinx-gallery -------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "examples",  # relative to this file: docs/examples
    "gallery_dirs": "auto_examples",  # output: docs/auto_examples
    "filename_pattern": r"/plot_",  # execute every plot_*.py
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("imdiffuse",),
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "plot_gallery": "True",
    "download_all_examples": False,
    "show_memory": False,
    "write_computation_times": False,  # no sg_execution_times.rst in the source tree
}

# -- HTML output ----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"imdiffuse {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "install": [], "cli": []}

# -- module docstrings ------------------------------------------------------------
#
# numpydoc reformats function and class docstrings but leaves module docstrings
# as they are: their "References" heading would become a page section and
# their citations, relabelled by numpydoc but cited nowhere in the text, would
# each raise "Citation ... is not referenced".  Do for modules what numpydoc
# does for functions: a rubric, and a LaTeX-only line that cites every entry.

_CITATION = re.compile(r"^\.\. \[([A-Za-z0-9._-]+)\]")


def _module_references(app, what, name, obj, options, lines):
    if what != "module":
        return
    for i in range(len(lines) - 1):
        if lines[i].strip() == "References" and set(lines[i + 1].strip()) == {"-"}:
            lines[i : i + 2] = [".. rubric:: References", ""]
            break
    else:
        return
    labels = [m.group(1) for m in map(_CITATION.match, lines) if m]
    if labels:
        lines += ["", ".. only:: latex", "", "   " + ", ".join(f"[{label}]_" for label in labels), ""]


# -- modules that may not be importable yet --------------------------------------
#
# ``api.rst`` documents a module that may not exist yet (it is being written)
# with a comment line ``.. optional-automodule: NAME`` instead of the
# directive.  At read time the comment becomes ``.. automodule:: NAME`` with
# ``:members:`` if NAME imports, otherwise a short note, and an INFO line is
# logged, rather than failing a ``-W`` build on an import error.  (A comment,
# not a directive, so that autosummary's source scan does not import it.)

_OPTIONAL_AUTOMODULE = re.compile(r"^\.\. optional-automodule: (?P<name>[\w.]+)[ \t]*$", re.MULTILINE)


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any import failure means "not yet"
        return False
    return True


def _optional_automodules(app, docname, source):
    def repl(match):
        name = match.group("name")
        if _importable(name):
            return f".. automodule:: {name}\n   :members:\n   :member-order: bysource\n"
        logger.info(f"[imdiffuse docs] {name} does not import; its API section in {docname} is a placeholder")
        return f".. note::\n\n   The reference for ``{name}`` appears here once the module is available.\n"

    source[0] = _OPTIONAL_AUTOMODULE.sub(repl, source[0])


def setup(app):
    app.connect("source-read", _optional_automodules)
    # after numpydoc's own handler (priority 500), which relabels the citations
    app.connect("autodoc-process-docstring", _module_references, priority=600)
