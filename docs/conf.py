"""Sphinx configuration for the xbackend documentation (built by ``nox -s docs``).

The build is offline and warning-free by construction (``-W`` in CI): the API pages
import only xbackend (no framework), the ``xbackend explain`` plot is the captured
``docs/images/explain.png``, and the benchmark page includes the newest table under
``benchmarks/results/`` (copied into ``docs/_generated/`` at build time).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))
# xbackend.keras' classes subclass keras.losses.Loss: Keras (docs/requirements.txt) on its
# JAX backend (CPU) lets autodoc document the real classes
os.environ.setdefault("KERAS_BACKEND", "jax")

import xbackend
import xbackend.keras

# the Keras classes are created on first lookup; look them up so that autodoc sees them
for _name in xbackend.keras.__all__:
    getattr(xbackend.keras, _name)

project = "xbackend"
author = "the xbackend authors"
copyright = "the xbackend authors"
release = version = xbackend.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "requirements.txt"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
# the benchmark table is written by another tool; its heading levels are not ours to fix
suppress_warnings = ["myst.header"]

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings describe the types

html_theme = "alabaster"
html_title = f"xbackend {release}"
html_static_path: list[str] = []


def _benchmark_page() -> None:
    """Copy the newest ``benchmarks/results/*.md`` into ``_generated/benchmarks_latest.md``."""
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"), key=lambda p: (p.stat().st_mtime, p.name))
    target = out / "benchmarks_latest.md"
    if results:
        latest = results[-1]
        text = f"*Source: `benchmarks/results/{latest.name}`.*\n\n" + latest.read_text(encoding="utf-8")
    else:
        text = (
            "*No benchmark results are recorded in `benchmarks/results/` yet: run `xbackend bench` "
            "on a machine with a GPU and commit its Markdown table there.*\n"
        )
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_benchmark_page()


#: the public modules; every name in their ``__all__`` must be documented (docs/api.rst)
PUBLIC_MODULES = (
    "xbackend",
    "xbackend.compat",
    "xbackend.compat.torch",
    "xbackend.compat.tf",
    "xbackend.compat.optax",
    "xbackend.compat.keras",
    "xbackend.keras",
    "xbackend.testing",
)


def _check_api_complete(app, env) -> None:
    """Warn (an error under ``-W``) for each public name the API reference does not document."""
    from sphinx.util import logging

    domain = env.get_domain("py")
    documented = set(domain.objects) | set(getattr(domain, "modules", {}))
    missing = [
        f"{mod}.{name}"
        for mod in PUBLIC_MODULES
        for name in importlib.import_module(mod).__all__
        if f"{mod}.{name}" not in documented
    ]
    if missing:
        logging.getLogger(__name__).warning(
            "public names missing from the API reference (docs/api.rst): %s", ", ".join(missing)
        )


def setup(app):
    app.connect("env-check-consistency", _check_api_complete)
