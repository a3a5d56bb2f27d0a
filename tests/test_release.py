"""Release checks: one version, the license in what is installed, the Array API version.

Cheap enough for every run. The wheel-only checks (license file and metadata of a
non-editable install) run in ``nox -s wheel``, which installs the built wheel; in an
editable or source-tree run they skip with the reason.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

import xbackend as xb

ROOT = Path(__file__).resolve().parent.parent


def _installed_distribution() -> importlib.metadata.Distribution:
    """The installed xbackend distribution whose files are the imported package (not editable)."""
    try:
        dist = importlib.metadata.distribution("xbackend")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("xbackend is not installed (running from the source tree)")
    if dist.read_text("WHEEL") is None:  # e.g. an egg-info left in src/ by a build
        pytest.skip("the xbackend metadata found is not an installed wheel's")
    init = Path(dist.locate_file("xbackend/__init__.py"))
    if not init.exists() or init.resolve() != Path(xb.__file__).resolve():
        pytest.skip("the imported xbackend is not an installed wheel (editable or source tree)")
    return dist


def test_the_version_is_written_once():
    """pyproject.toml takes the version from ``xbackend.__version__`` (or repeats it exactly)."""
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("no pyproject.toml next to the tests")
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    if "version" in project.get("dynamic", []):
        attr = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]["dynamic"]["version"]
        assert attr == {"attr": "xbackend.__version__"}
    else:
        assert project["version"] == xb.__version__


def test_installed_metadata_has_the_package_version():
    dist = _installed_distribution()
    assert dist.version == xb.__version__


def test_installed_wheel_ships_the_license():
    dist = _installed_distribution()
    assert dist.metadata["License-Expression"] == "BSD-3-Clause"
    licenses = [f for f in dist.files or () if f.name == "LICENSE"]
    assert licenses, "LICENSE is not among the installed files"
    assert "BSD 3-Clause License" in licenses[0].read_text(encoding="utf-8")


def _namespace_module():
    return sys.modules[xb.array_namespace.__module__]


def test_older_array_api_strict_version_is_a_clear_error(monkeypatch):
    """The losses need the 2024.12 standard; array-api-strict set older says so, naming the fix."""
    strict = pytest.importorskip("array_api_strict")
    monkeypatch.setattr(_namespace_module(), "_by_type", {})  # the first lookup of the type runs the check
    saved = strict.get_array_api_strict_flags()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strict.set_array_api_strict_flags(api_version="2023.12")
        x = strict.asarray(np.zeros((2, 3)))
        with pytest.raises(TypeError, match=r"2024\.12.*api_version='2023\.12'.*set_array_api_strict_flags"):
            xb.array_namespace(x)
        with pytest.raises(TypeError, match=r"2024\.12"):
            xb.softmax_cross_entropy(x, x)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strict.set_array_api_strict_flags(**saved)
    monkeypatch.setattr(_namespace_module(), "_by_type", {})
    assert xb.array_namespace(strict.asarray(np.zeros(2))) is strict


def test_default_array_api_strict_version_is_accepted(monkeypatch):
    strict = pytest.importorskip("array_api_strict")
    monkeypatch.setattr(_namespace_module(), "_by_type", {})
    assert strict.get_array_api_strict_flags()["api_version"] >= "2024.12"
    assert xb.array_namespace(strict.asarray(np.zeros(2))) is strict
