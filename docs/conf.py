"""Sphinx configuration of the hsiae documentation.

Build (from the repository root; ``pip install -e ".[docs]"`` first)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Fast variant that does not run the gallery's examples (their pages are made,
without figures or output)::

    python -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html

Environment variables read here:

``HSIAE_EXAMPLE_SMALL``
    The examples in ``examples/`` train with smaller settings (fewer epochs, a
    smaller grid) when it is ``1``, which this file sets unless it is already
    set; ``HSIAE_EXAMPLE_SMALL=0`` runs them with the settings they have when
    run by hand.
``HSIAE_DOCS_INTERSPHINX``
    ``auto`` (default): link to the documentation of Python, NumPy,
    scikit-learn, PyTorch, Dask, ... whose inventory answers within a few
    seconds; ``0``: no outside links (an offline build); ``1``: all of them,
    failing the build where one can't be read.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.request import Request, urlopen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the checkout's hsiae, installed or not
sys.path.insert(0, str(HERE / "_ext"))

import hsiae  # noqa: E402

os.environ.setdefault("HSIAE_EXAMPLE_SMALL", "1")

# -- Project -----------------------------------------------------------------

project = "hsiae"
author = "The hsiae developers"
copyright = "the hsiae developers"
release = hsiae.__version__
version = release

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "hsiae_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.json",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
]
default_role = "literal"
toc_object_entries_show_parents = "hide"  # "fit()" rather than "AEDEncoder.fit()" in a page's contents
nitpicky = False
# MathJax comes from its CDN when a page is opened (Sphinx's default); offline, the
# few formulas in the API pages show as TeX source.

# -- MyST (the guide pages are Markdown) -------------------------------------

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3  # CONTRIBUTING.md#what-is-public-and-how-it-changes and the like resolve

# -- API reference -----------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc sections carry the types
autodoc_member_order = "groupwise"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
numpydoc_xref_aliases = {
    # numpydoc's defaults point these at the Python and NumPy documentation with
    # explicit "python:" and "numpy:" targets, which an offline build shows as
    # "python:None" or fails on (glossary terms); plain targets read as code offline
    # and still link when the inventories are there.
    **{
        name: name
        for name in (
            "None",
            "True",
            "False",
            "list",
            "tuple",
            "str",
            "dict",
            "float",
            "int",
            "bool",
            "callable",
            "object",
        )
    },
    "boolean": "bool",
    "string": "str",
    "array_like": "numpy.typing.ArrayLike",
    "array-like": "numpy.typing.ArrayLike",
    "scalar": "numbers.Number",
    "sequence": "collections.abc.Sequence",
    "iterable": "collections.abc.Iterable",
    "mapping": "collections.abc.Mapping",
    "generator": "collections.abc.Generator",
    "contextmanager": "contextlib.contextmanager",
    "namedtuple": "collections.namedtuple",
    "path-like": "os.PathLike",
    "ndarray": "numpy.ndarray",
    "dtype": "numpy.dtype",
    "Generator": "numpy.random.Generator",
    "RandomState": "numpy.random.RandomState",
    "Pipeline": "sklearn.pipeline.Pipeline",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "Tensor": "torch.Tensor",
    "Path": "pathlib.Path",
    "AEDEncoder": "hsiae.AEDEncoder",
    "AEUnmixer": "hsiae.AEUnmixer",
    "SpectralResampler": "hsiae.SpectralResampler",
    "SpatialGMMSegmenter": "hsiae.SpatialGMMSegmenter",
    "SegmentationPipeline": "hsiae.SegmentationPipeline",
    "CubeInfo": "hsiae.CubeInfo",
    "ModelInfo": "hsiae.persistence.ModelInfo",
}

# -- Gallery -----------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "hsiae_docs.ExampleOrder",
    "doc_module": ("hsiae",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"hsiae": None},
    "prefer_full_module": {r"hsiae\."},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "capture_repr": (),
    "min_reported_time": 1,
}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"hsiae {release}"
html_static_path = ["_static"]
html_css_files = ["hsiae.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["theme-switcher"],
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # the gallery's wide figures get the page's width; other pages list their sections on the right
    "secondary_sidebar_items": {
        "*": ["page-toc"],
        "user_guide/*": ["page-toc"],
        "generated/*": ["page-toc"],
        "auto_examples/*": [],
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": [], "getting_started": [], "cli": [], "changelog": []}

# -- Links to other projects' documentation, only where it can be read ----------

_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "sklearn": "https://scikit-learn.org/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "skorch": "https://skorch.readthedocs.io/en/stable",
    "dask": "https://docs.dask.org/en/stable",
    "distributed": "https://distributed.dask.org/en/stable",
    "matplotlib": "https://matplotlib.org/stable",
    "joblib": "https://joblib.readthedocs.io/en/stable",
}


def _answers(url, timeout=4.0):
    try:
        with urlopen(Request(f"{url}/objects.inv", method="HEAD"), timeout=timeout) as response:
            return response.status < 400
    except (OSError, ValueError):  # no network, no name resolution, a timeout, an HTTP error
        return False


_mode = os.environ.get("HSIAE_DOCS_INTERSPHINX", "auto")
if _mode not in ("auto", "0", "1"):
    raise ValueError(f"HSIAE_DOCS_INTERSPHINX={_mode!r}: expected 'auto', '0' or '1'")
if _mode == "0":
    _reachable = []
elif _mode == "1":
    _reachable = list(_INVENTORIES)
else:
    with ThreadPoolExecutor(len(_INVENTORIES)) as pool:
        _reachable = [name for name, ok in zip(_INVENTORIES, pool.map(_answers, _INVENTORIES.values())) if ok]
intersphinx_mapping = {name: (_INVENTORIES[name], None) for name in _reachable}
intersphinx_timeout = 10
print(f"hsiae docs: intersphinx links to {', '.join(_reachable) or 'no other project (offline)'}")
