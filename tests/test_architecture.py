"""The package's layers: which module may import which (README, "Architecture").

Every import in ``hsiae/`` is read from the source (function-local imports
included) and checked against four rules:

1. A module imports only from its own layer or the layers below it.
2. A private module is imported only inside the package that owns it
   (``hsiae.io._read`` by ``hsiae.io.*``, never by ``hsiae.cli``;
   ``hsiae._stats`` by any ``hsiae.*``), and a private name (``_x``) only by
   the modules beside its own (``hsiae.io._write._BIGTIFF_BYTES`` by
   ``hsiae.io._store``, never ``hsiae.encoder._ARCHITECTURES`` by
   ``hsiae.persistence``).
3. No command of the command line imports another command, and the command
   line's shared modules import no command.
4. Inside the package, names come from the module that defines them, not
   from the lazy ``hsiae`` facade (except ``__version__``).

The checker also runs on altered copies of the sources, to show that it
catches each kind of violation.
"""

import ast
import importlib
from pathlib import Path

import pytest

import hsiae

PACKAGE = Path(__file__).resolve().parents[1] / "hsiae"

# (layer, name): a module belongs to the first entry that is its name or a package above it.
LAYERS = {
    "hsiae.exceptions": (0, "messages"),
    # estimators and what they compute
    "hsiae._stats": (1, "estimators"),
    "hsiae._checks": (1, "estimators"),
    "hsiae._training": (1, "estimators"),
    "hsiae.losses": (1, "estimators"),
    "hsiae.networks": (1, "estimators"),
    "hsiae.encoder": (1, "estimators"),
    "hsiae.resampling": (1, "estimators"),
    "hsiae.segmentation": (1, "estimators"),
    "hsiae.metrics": (1, "estimators"),
    "hsiae.unmixing": (1, "estimators"),
    "hsiae.noise": (1, "estimators"),
    "hsiae.unmixer": (1, "estimators"),
    # data in and out
    "hsiae.io": (2, "data"),
    "hsiae.datasets": (2, "data"),
    "hsiae.synthetic_mixing": (2, "data"),
    "hsiae.plotting": (2, "data"),
    # orchestration
    "hsiae.workflow": (3, "workflow"),
    "hsiae.persistence": (3, "workflow"),
    # the command line
    "hsiae.cli": (4, "command line"),
    "hsiae.__main__": (4, "command line"),
    # the facade: imports nothing at load time, names everything lazily
    "hsiae": (5, "facade"),
}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_sources():
    return {module_name(p): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module):
    if module == "hsiae":
        return LAYERS[module]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(module)


def owning_package(module, is_package):
    return module if is_package else module.rpartition(".")[0]


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imports(module, source, is_package):
    """Yield (line, imported module, imported name or None) for every hsiae import of ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hsiae":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = owning_package(module, is_package).split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target.split(".")[0] != "hsiae":
                continue
            for alias in node.names:
                yield node.lineno, target, alias.name


def command_modules(sources):
    """Modules of the commands: ``hsiae.cli._<name>`` for each command the parser defines.

    :func:`hsiae.cli.main` imports ``hsiae.cli._<command>`` once the command line is parsed.
    """
    tree = ast.parse(sources["hsiae.cli._parser"])
    return {
        f"hsiae.cli._{node.args[0].value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_parser"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def violations(sources):
    """Every import in ``sources`` (module name -> text) that breaks a rule, as readable lines."""
    packages = {m for m in sources if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists() or m == "hsiae"}
    commands = command_modules(sources)
    found = []
    for module, source in sources.items():
        try:
            layer, layer_name = layer_of(module)
        except KeyError:
            found.append(f"{module}: not in any layer; add it to LAYERS and the README's table")
            continue
        own = owning_package(module, module in packages)
        for line, target, name in imports(module, source, module in packages):
            where = f"{module}:{line}"
            # the module imported: hsiae.x.y, or hsiae.x.y.name when name is a submodule
            full = f"{target}.{name}" if name and f"{target}.{name}" in sources else target
            if target == "hsiae" and full == "hsiae":
                if module != "hsiae" and name != "__version__":
                    what = "the facade 'hsiae'" if name is None else f"{name} from the facade 'hsiae'"
                    found.append(f"{where}: imports {what}; import from the module that defines it")
                continue
            target_layer, target_name = layer_of(full)
            if target_layer > layer:
                found.append(f"{where}: the {layer_name} layer imports {full} from the {target_name} layer above it")
            # private modules on the way to the imported one, and a private name
            parts = full.split(".")
            for i, part in enumerate(parts):
                if is_private(part) and i:
                    owner = ".".join(parts[:i])
                    if not (own == owner or own.startswith(owner + ".")):
                        message = f"{where}: imports the private module {'.'.join(parts[: i + 1])} from outside {owner}"
                        if message not in found:
                            found.append(message)
                        break
            if name and full == target and is_private(name):
                owner = owning_package(target, target in packages)
                if own != owner:
                    found.append(f"{where}: imports the private name {name} of {target} from outside {owner}")
            if module.startswith("hsiae.cli.") and full in commands and full != module:
                kind = "the command" if module in commands else "the shared module"
                found.append(f"{where}: {kind} {module} imports the command {full}")
    return list(dict.fromkeys(found))  # one line per import and rule


def test_the_package_keeps_its_layers():
    assert violations(package_sources()) == []


def test_every_layer_in_the_table_exists():
    sources = package_sources()
    for prefix in LAYERS:
        assert any(m == prefix or m.startswith(prefix + ".") for m in sources), prefix


def test_the_commands_are_found():
    commands = command_modules(package_sources())
    assert {
        "hsiae.cli._train",
        "hsiae.cli._segment",
        "hsiae.cli._denoise",
        "hsiae.cli._unmix",
        "hsiae.cli._bands",
        "hsiae.cli._demo",
    } <= commands
    assert all((PACKAGE / "cli" / f"{m.rsplit('.', 1)[1]}.py").is_file() for m in commands)


def _with(module, line):
    sources = package_sources()
    sources[module] = sources[module] + "\n" + line + "\n"
    return violations(sources)


@pytest.mark.parametrize(
    "module, line, expected",
    [
        # a command imports another (at load time or inside a function)
        (
            "hsiae.cli._train",
            "from hsiae.cli._segment import run",
            "the command hsiae.cli._train imports the command hsiae.cli._segment",
        ),
        (
            "hsiae.cli._train",
            "def f():\n    import hsiae.cli._demo",
            "the command hsiae.cli._train imports the command hsiae.cli._demo",
        ),
        (
            "hsiae.cli._outputs",
            "from hsiae.cli import _denoise",
            "the shared module hsiae.cli._outputs imports the command hsiae.cli._denoise",
        ),
        # a lower layer reaches up
        (
            "hsiae.encoder",
            "from hsiae.workflow.recipes import join",
            "the estimators layer imports hsiae.workflow.recipes from the workflow layer above it",
        ),
        ("hsiae.io._read", "from hsiae.plotting import plot_spectrum", None),  # same layer: allowed
        (
            "hsiae.workflow.fitting",
            "from hsiae.cli._memory import _check_memory",
            "the workflow layer imports hsiae.cli._memory from the command line layer above it",
        ),
        # private names and modules across packages
        (
            "hsiae.cli._inputs",
            "from hsiae.io._read import _read_cube",
            "imports the private module hsiae.io._read from outside hsiae.io",
        ),
        (
            "hsiae.persistence._safe",
            "from hsiae.encoder import _ARCHITECTURES",
            "imports the private name _ARCHITECTURES of hsiae.encoder from outside hsiae",
        ),
        ("hsiae.io._store", "from hsiae.io._write import _BIGTIFF_BYTES", None),  # within io: allowed
        ("hsiae.workflow.usable", "from hsiae._stats import ROW_BLOCK", None),
        # the facade
        ("hsiae.workflow.spectra", "from hsiae import AEDEncoder", "imports AEDEncoder from the facade 'hsiae'"),
        ("hsiae.persistence._models", "import hsiae", "imports the facade 'hsiae'"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(module, line, expected):
    found = _with(module, line)
    if expected is None:
        assert found == []
    else:  # every finding is about the added line, and one of them says what it breaks
        added = len(package_sources()[module].splitlines()) + 2 + line.count("\n")
        assert found and all(f.startswith(f"{module}:{added}:") for f in found), found
        assert any(expected in f for f in found), found


def test_a_new_module_must_be_given_a_layer():
    sources = package_sources()
    sources["hsiae.newthing"] = "import numpy\n"
    assert violations(sources) == ["hsiae.newthing: not in any layer; add it to LAYERS and the README's table"]


def test_every_lazy_public_name_resolves_to_its_module():
    assert sorted(hsiae.__all__) == sorted([*hsiae._NAMES, "__version__"])
    for name, module in hsiae._NAMES.items():
        value = getattr(importlib.import_module(module), name)
        assert getattr(hsiae, name) is value
        assert name in importlib.import_module(module).__all__, f"{name} is not in {module}.__all__"
