"""The package's layers (CONVENTIONS.md) and its lazy public names, checked on the source.

Layers, from the bottom up; each imports only from the layers before it:
models, then data (files and figures), then the workflow, then the command
line. Modules meet at public names: a module outside a package does not
import that package's private (``_underscore``) modules or names, except the
estimators' shared helpers ``hsiae._training`` and ``hsiae._stats``.
"""

import ast
import importlib
from pathlib import Path

import pytest

import hsiae

ROOT = Path(hsiae.__file__).parent

# top-level module or package of hsiae -> layer
LAYERS = {
    "exceptions": 0, "_training": 0, "_stats": 0,
    "networks": 1, "losses": 1, "encoder": 1, "resampling": 1, "segmentation": 1, "unmixing": 1,
    "unmixer": 1, "metrics": 1,
    "io": 2, "datasets": 2, "synthetic_mixing": 2, "plotting": 2,
    "workflow": 3, "persistence": 3,
    "cli": 4, "__main__": 4,
}
SHARED_PRIVATE = {"_training", "_stats"}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, parts


def _imports(path):
    """(module imported, names imported from it) of every ``hsiae`` import, functions' bodies included."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "hsiae":
            yield node.module.split(".")[1:], [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hsiae":
                    yield alias.name.split(".")[1:], []


def test_every_module_has_a_layer():
    missing = {parts[0] for _, parts in _modules() if parts and parts[0] not in LAYERS}
    assert not missing, f"give these modules a layer in LAYERS: {sorted(missing)}"


@pytest.mark.parametrize("path, parts", [(p, m) for p, m in _modules() if m],
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else "")
def test_imports_go_down_the_layers_and_only_to_public_names(path, parts):
    own = parts[0]
    for target, names in _imports(path):
        if not target:  # "from hsiae import __version__"
            continue
        top = target[0]
        if top == own:
            continue  # a package's modules share its internals
        assert LAYERS[top] <= LAYERS[own], (
            f"hsiae.{'.'.join(parts)} (layer {LAYERS[own]}) imports hsiae.{'.'.join(target)} "
            f"(layer {LAYERS[top]})"
        )
        if own == "cli":
            continue  # the command line is being restructured on main; checked there
        private = [p for p in target if p.startswith("_") and p not in SHARED_PRIVATE]
        private += [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"hsiae.{'.'.join(parts)} imports private {private} of hsiae.{'.'.join(target)}"


def test_every_lazy_public_name_resolves_to_its_module():
    assert sorted(hsiae.__all__) == sorted([*hsiae._NAMES, "__version__"])
    for name, module in hsiae._NAMES.items():
        value = getattr(importlib.import_module(module), name)
        assert getattr(hsiae, name) is value
        assert name in importlib.import_module(module).__all__, f"{name} is not in {module}.__all__"


@pytest.mark.parametrize("name", ["AEUnmixer", "make_unmixing_scene", "unmix_blocks", "unmix_cube"])
def test_the_unmixing_names_are_public(name):
    assert name in hsiae.__all__ and name in dir(hsiae)
