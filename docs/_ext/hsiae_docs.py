"""Sphinx helpers of the hsiae documentation.

- ``.. hsiae-cli::``: the ``--help`` text of ``hsiae`` and of each of its
  commands, produced at build time by the command line itself
  (``hsiae.cli.main([COMMAND, "--help"])``), one section per command, so the
  page can't drift from the parser.
- Class pages show the methods hsiae defines, including those a class inherits
  from hsiae's own mixins, and only name those inherited from scikit-learn or
  skorch (their docstrings point into those projects' documentation and
  belong there).
- Fitted attributes in array shapes (``ndarray of shape (n_pixels,
  n_features_in_)``, scikit-learn's way of writing them) are read as text, not
  as reStructuredText link references.
- The repository's Markdown files included as pages (CHANGELOG.md,
  CONTRIBUTING.md) link to each other by file name; those links are pointed at
  the pages that include them.
- :class:`ExampleOrder`: the order of the gallery.
"""

import argparse
import contextlib
import io
import os
import re

from docutils import nodes
from docutils.parsers.rst import Directive

# Width of the rendered --help text: what a terminal of 100 columns shows.
HELP_COLUMNS = 100

# The gallery's order: from the first segmentation to the cluster.
EXAMPLES = [
    "plot_segmentation.py",
    "plot_noisy_bands.py",
    "plot_shading.py",
    "plot_architectures.py",
    "plot_unmixing.py",
    "plot_distributed_search.py",
]


class ExampleOrder:
    """Sort key of the gallery: the order of :data:`EXAMPLES`, then by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        return (EXAMPLES.index(name) if name in EXAMPLES else len(EXAMPLES), name)


def help_text(*command):
    """The text ``hsiae COMMAND --help`` prints in a terminal of :data:`HELP_COLUMNS` columns."""
    from hsiae.cli import main

    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_COLUMNS)  # argparse reads the width from here
    try:
        with contextlib.redirect_stdout(out):
            status = main([*command, "--help"])
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    if status != 0:
        raise RuntimeError(f"'hsiae {' '.join(command)} --help' exited with status {status}")
    return out.getvalue()


def commands():
    """The names of the ``hsiae`` commands, in the parser's order."""
    from hsiae.cli._parser import _build_parser  # the parser itself: the one list of commands

    parser = _build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise RuntimeError("the hsiae parser has no commands")


class HsiaeCLI(Directive):
    """``hsiae --help``, then a section ``hsiae COMMAND`` with that command's help for each command."""

    has_content = False

    def _block(self, text):
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return block

    def run(self):
        out = [self._block(help_text())]
        for name in commands():
            section = nodes.section(ids=[f"hsiae-{name}"], names=[f"hsiae {name}"])
            section += nodes.title(text=f"hsiae {name}")
            section += self._block(help_text(name))
            out.append(section)
        return out


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out class members defined outside hsiae (scikit-learn's, skorch's, object's)."""
    if what != "class" or skip:
        return None
    target = getattr(obj, "fget", obj)  # properties
    target = getattr(target, "__func__", target)  # classmethods
    module = getattr(target, "__module__", None)
    if module is None:
        return None
    return None if module.split(".")[0] == "hsiae" else True


_SHAPE = re.compile(r"shape \(([^()]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*[A-Za-z0-9])_(?=[,\s]|$)")


def _escape_shape(match):
    return "shape (" + _TRAILING_UNDERSCORE.sub(r"\1\\_", match.group(1)) + ")"


def _escape_fitted_names_in_shapes(app, what, name, obj, options, lines):
    """``shape (n_pixels, n_features_in_)``: escape the trailing ``_``, which reST reads as a link."""
    for i, line in enumerate(lines):
        if "shape (" in line:
            lines[i] = _SHAPE.sub(_escape_shape, line)


def _foreign_methods(cls):
    """Public methods of ``cls`` defined outside hsiae, by top-level package."""
    found = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = getattr(cls, name, None)
        if not callable(member) or isinstance(member, type):
            continue
        package = (getattr(member, "__module__", None) or "").split(".")[0]
        if package and package not in ("hsiae", "builtins"):
            found.setdefault(package, []).append(name)
    return found


_PROJECTS = {"sklearn": "scikit-learn", "skorch": "skorch", "torch": "PyTorch"}


def _name_foreign_methods(app, what, name, obj, options, lines):
    """At the end of a class's docstring, name the methods it inherits from other projects."""
    if what != "class" or not isinstance(obj, type) or not obj.__module__.startswith("hsiae"):
        return
    for package, methods in sorted(_foreign_methods(obj).items()):
        listed = ", ".join(f"``{method}``" for method in methods)
        project = _PROJECTS.get(package, package)
        lines.extend(
            [
                "",
                f".. rubric:: Methods inherited from {project}",
                "",
                f"{listed}: see the documentation of {project}'s base classes.",
                "",
            ]
        )


# file name in the repository -> the page that includes it
INCLUDED_PAGES = {"CONTRIBUTING.md": "contributing.md", "CHANGELOG.md": "changelog.md"}


def _link_included_pages(app, relative_path, parent_docname, content):
    """In an included repository file, point ``[...](CONTRIBUTING.md#...)`` at the page that includes it."""
    if str(relative_path).endswith(".md"):
        for name, page in INCLUDED_PAGES.items():
            content[0] = content[0].replace(f"]({name}", f"]({page}")


def setup(app):
    app.add_directive("hsiae-cli", HsiaeCLI)
    app.connect("autodoc-skip-member", _skip_foreign_members)
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", _escape_fitted_names_in_shapes, priority=400)
    app.connect("include-read", _link_included_pages)
    # after numpydoc (priority 500) has turned the sections into reST
    app.connect("autodoc-process-docstring", _name_foreign_methods, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
