"""The house rules, checked: layers import downward only, and the package declares exactly what it imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import bracket_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "selfhdr_cli"
# lowest first; a module may import its own layer and any layer below it
LAYERS = ("errors", "io", "radiometry", "nets", "merge", "evaluation", "training", "cli")
# import name → distribution name in pyproject.toml
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "OpenEXR": "openexr", "exifread": "exifread",
                 "imageio": "imageio", "numpy": "numpy", "rich": "rich", "safetensors": "safetensors",
                 "tifffile": "tifffile", "torch": "torch", "typer": "typer", "imagecodecs": "imagecodecs",
                 "rawpy": "rawpy"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "selfhdr_cli" and parts[1] in LAYERS else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def test_no_relative_imports_so_the_graph_can_be_read():
    for name, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
        assert name.startswith("selfhdr_cli.nets") or not relative, (name, relative)


def test_layers_import_downward_only():
    upward = []
    for name, path in _modules():
        own = _layer(name)
        if own is None:
            continue
        for imported in _imports(path):
            other = _layer(imported)
            if other is not None and LAYERS.index(other) > LAYERS.index(own):
                upward.append(f"{name} imports {imported}")
    assert not upward, upward


def test_named_boundaries():
    """Inference knows nothing of training data; metrics take μ-law from radiometry, not tone mapping."""
    assert not [m for m in _imports(PACKAGE / "merge" / "infer.py") if m.startswith("selfhdr_cli.training")]
    assert "selfhdr_cli.radiometry.tonemap" not in _imports(PACKAGE / "evaluation" / "metrics.py")


def test_core_imports_no_cli_libraries():
    for name, path in _modules():
        if name.startswith("selfhdr_cli.cli"):
            continue
        assert not {m.split(".")[0] for m in _imports(path)} & {"typer", "rich"}, name


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib arrived in Python 3.11")
def test_declared_dependencies_are_exactly_the_imported_ones():
    import tomllib

    stdlib = set(sys.stdlib_module_names) | {"selfhdr_cli", "__future__"}
    imported = {m.split(".")[0] for _, path in _modules() for m in _imports(path)} - stdlib
    unknown = imported - set(DISTRIBUTIONS)
    assert not unknown, f"imported but not mapped to a distribution: {unknown}"
    declared = {dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
                for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert declared == {DISTRIBUTIONS[m].lower() for m in imported}


def test_cli_defaults_and_choices_match_the_core():
    """The CLI repeats a few core constants so that --help imports nothing heavy: they must agree."""
    import importlib

    from selfhdr_cli.evaluation.synth import SPLIT_ALIASES, SPLITS
    from selfhdr_cli.merge.align import DEFAULT_FLOW, FLOW_METHODS
    from selfhdr_cli.merge.method import DEFAULT_METHOD, METHODS
    from selfhdr_cli.nets import NETWORKS
    from selfhdr_cli.radiometry.response import CameraResponse
    from selfhdr_cli.radiometry.tonemap import OPERATORS

    cli_app = importlib.import_module("selfhdr_cli.cli.app")  # the module; the package re-exports the Typer app
    assert cli_app.DEFAULT_FLOW == DEFAULT_FLOW and DEFAULT_FLOW in FLOW_METHODS
    assert cli_app.DEFAULT_METHOD == DEFAULT_METHOD and DEFAULT_METHOD in METHODS
    from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE

    assert cli_app.DEFAULT_CRF == str(DEFAULT_RESPONSE) == DEFAULT_RESPONSE.identity
    from selfhdr_cli.merge.color import DEFAULT_COLOR_MERGE
    from selfhdr_cli.merge.method import MergeConfig
    from selfhdr_cli.training.loop import DEFAULT_RECIPE, RECIPES, TrainConfig

    assert cli_app.DEFAULT_COLOR_MERGE == DEFAULT_COLOR_MERGE == MergeConfig(bracket=bracket_settings(), method="color").color.merge
    assert cli_app.DEFAULT_RECIPE == DEFAULT_RECIPE == TrainConfig().recipe and DEFAULT_RECIPE in RECIPES
    assert {r.value for r in cli_app.Recipe} == set(RECIPES)
    assert TrainConfig().color_merge == RECIPES[DEFAULT_RECIPE]["color_merge"]
    assert {m.value for m in cli_app.Method} == set(METHODS)
    assert {t.value for t in cli_app.Tonemap} == set(OPERATORS)
    assert {n.value for n in cli_app.Network} == set(NETWORKS)
    assert {s.value for s in cli_app.Split} == set(SPLITS) | set(SPLIT_ALIASES)
