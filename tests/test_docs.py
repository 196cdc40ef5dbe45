"""The documentation site: every public name has an API page, the examples suit the gallery, the site builds.

The API check reads ``docs/api.rst`` (the autosummary lists the pages are made from)
without building anything. The build test runs Sphinx with warnings as errors and
without executing the gallery (``-D plot_gallery=0``), offline; it is skipped when
the ``docs`` extra is not installed.
"""

import ast
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hsiae

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

# Modules whose __all__ must be documented name by name: the package, the public modules the
# issue names, and the other public modules (CONTRIBUTING.md, "What is public").
PUBLIC_MODULES = [
    "hsiae",
    "hsiae.io",
    "hsiae.plotting",
    "hsiae.datasets",
    "hsiae.metrics",
    "hsiae.unmixing",
    "hsiae.noise",
    "hsiae.networks",
    "hsiae.losses",
    "hsiae.workflow.recipes",
    "hsiae.workflow.usable",
    "hsiae.workflow.fitting",
    "hsiae.workflow.blocks",
    "hsiae.workflow.spectra",
    "hsiae.workflow.selection",
    "hsiae.workflow.unmixing",
]
# Plain values rather than functions or classes: documented in the text, not on pages of their own.
NOT_PAGES = {"hsiae.__version__"}

DOCS_PACKAGES = ["sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "myst_parser"]


def api_entries(text):
    """The fully qualified names listed in the autosummary tables of an .rst text."""
    names, module, in_table = [], None, False
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.match(r"\.\. currentmodule:: (\S+)", stripped):
            module, in_table = match.group(1), False
        elif stripped.startswith(".. autosummary::"):
            in_table = True
        elif in_table:
            if not line.startswith(" ") and stripped:
                in_table = False  # the table ends at the first unindented line
            elif stripped and not stripped.startswith(":"):
                names.append(f"{module}.{stripped}" if module else stripped)
    return names


def documented_names():
    return set(api_entries((DOCS / "api.rst").read_text(encoding="utf-8")))


def resolve(fullname):
    """Import the object a dotted name stands for: the longest importable module, then attributes."""
    parts = fullname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(fullname)


def test_api_entries_are_read_from_the_autosummary_tables():
    text = """
.. currentmodule:: hsiae

.. autosummary::
   :toctree: generated/

   AEDEncoder
   read_cube

Prose mentioning NotAName.

.. currentmodule:: hsiae.metrics

.. autosummary::
   :nosignatures:

   psnr
"""
    assert api_entries(text) == ["hsiae.AEDEncoder", "hsiae.read_cube", "hsiae.metrics.psnr"]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_has_an_api_page(module_name):
    documented = documented_names()
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        fullname = f"{module_name}.{name}"
        if fullname in NOT_PAGES or fullname in documented:
            continue
        # a name the package re-exports is documented once, under hsiae
        if name in hsiae.__all__ and getattr(hsiae, name) is getattr(module, name) and f"hsiae.{name}" in documented:
            continue
        missing.append(fullname)
    assert not missing, (
        f"public names without an API page: {', '.join(missing)}; add them to an autosummary table "
        f"in docs/api.rst (under the right '.. currentmodule::')"
    )


def test_every_api_entry_is_a_public_object():
    stale = []
    for fullname in sorted(documented_names()):
        try:
            resolve(fullname)
        except (ImportError, AttributeError):
            stale.append(fullname)
    assert not stale, f"docs/api.rst lists names that do not exist: {', '.join(stale)}"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("plot_*.py")), ids=lambda p: p.name)
def test_every_example_says_what_it_shows_and_has_small_settings(path):
    source = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring, f"{path.name} must start with a docstring: its title and what it demonstrates"
    title, underline, _, *text = docstring.splitlines()
    assert set(underline) == {"="} and len(underline) >= len(title), f"{path.name}: title underline"
    assert " ".join(text).strip(), f"{path.name}: say what the example demonstrates after its title"
    # the documentation's build runs the gallery with small settings
    assert 'os.environ.get("HSIAE_EXAMPLE_SMALL") == "1"' in source, (
        f"{path.name} does not read HSIAE_EXAMPLE_SMALL; give it small settings for the gallery"
    )
    assert "HSIAE_EXAMPLE_SMALL" in docstring, f"{path.name}: say in the docstring what HSIAE_EXAMPLE_SMALL changes"


# What the build reads outside docs/: the gallery's scripts and the Markdown files it includes.
BUILD_INPUTS = ["examples", "README.md", "CHANGELOG.md", "CONTRIBUTING.md", "benchmarks/RESULTS.md"]


def test_the_site_builds_offline_with_warnings_as_errors(tmp_path):
    """The site as the README builds it, without running the gallery, in a copy of its sources.

    One test, so that the build runs once under pytest-xdist too; in a copy, so that it
    leaves nothing in the checkout and does not race a build of its own.
    """
    absent = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if absent:
        pytest.skip(f"the docs extra is not installed (no {', '.join(absent)}): pip install -e '.[docs]'")
    source = tmp_path / "src"
    shutil.copytree(
        DOCS,
        source / "docs",
        ignore=shutil.ignore_patterns("_build", "generated", "auto_examples", "sg_execution_times.rst"),
    )
    for name in BUILD_INPUTS:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name)
    html = tmp_path / "html"
    env = {**os.environ, "HSIAE_DOCS_INTERSPHINX": "0", "PYTHONPATH": str(ROOT)}  # this checkout's hsiae
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-D",
        "plot_gallery=0",
        "-d",
        str(tmp_path / "doctrees"),
        str(source / "docs"),
        str(html),
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"the documentation build failed:\n{result.stderr[-6000:]}"

    # a page per public name
    for fullname in documented_names():
        assert (html / "generated" / f"{fullname}.html").is_file(), fullname
    page = (html / "generated" / "hsiae.AEDEncoder.html").read_text(encoding="utf-8")
    assert "zdims" in page and 'id="hsiae.AEDEncoder.inverse_transform"' in page
    # the help of every command, as the command line prints it
    page = (html / "cli.html").read_text(encoding="utf-8")
    help_text = subprocess.run(
        [sys.executable, "-m", "hsiae", "--help"], cwd=ROOT, capture_output=True, text=True, env=env
    ).stdout
    commands = re.findall(r"^    (\w+)\s{2,}", help_text, flags=re.MULTILINE)
    assert {"train", "segment", "denoise", "unmix", "bands", "demo"} <= set(commands)
    for command in commands:
        assert f"usage: hsiae {command}" in page, f"the command line page lacks 'hsiae {command} --help'"
    # a gallery page per example
    for path in EXAMPLES.glob("plot_*.py"):
        assert (html / "auto_examples" / f"{path.stem}.html").is_file(), path.name
