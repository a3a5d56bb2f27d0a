"""Contract: every ``xp.<name>`` the library uses exists in the TensorFlow namespace.

The library is written once against the Array API; TensorFlow is the one framework whose
namespace xbackend writes itself (``xbackend._backends._tf_namespace``). This test scans
every module under ``src/xbackend`` (AST, so strings and comments do not count) for
attribute accesses on a name ``xp``, for ``hasattr(xp, "...")``/``getattr(xp, "...")``
probes and for helpers called as ``helper(xp, "name", ...)`` (which look ``name`` up on
``xp``), and checks each name against the TF namespace, so the adapter cannot silently
fall behind the losses. It also checks the adapter's own promises: anything else raises a
clear AttributeError, and nothing is forwarded to ``tf.experimental.numpy``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.backends import BY_NAME, skip_reason

_reason = skip_reason(BY_NAME["tensorflow"])
if _reason is not None:
    pytest.skip(_reason, allow_module_level=True)

from xbackend._backends import _tf_namespace as tfx
from xbackend._backends import backend as xb_backend

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "xbackend"


def xp_names_used() -> dict[str, set[str]]:
    """``name -> {files}`` for every ``xp.name`` / ``hasattr(xp, "name")`` in the library."""
    used: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = str(path.relative_to(SRC))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "xp":
                name = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr")
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "xp"
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                name = node.args[1].value
            elif (
                isinstance(node, ast.Call)
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "xp"
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and node.args[1].value.isidentifier()
            ):  # a helper that looks the function up by name: unary_(xp, "exp", t)
                name = node.args[1].value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "xp"
                and node.func.attr == "unary_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):  # the kernel namespace's in-place helper: xp.unary_("exp", t)
                used.setdefault(node.args[0].value, set()).add(rel)
            if name is not None:
                used.setdefault(name, set()).add(rel)
    return used


def test_the_scan_finds_the_core_array_api_calls():
    """Guard against a vacuous contract: the scan must see the calls the kernels are made of."""
    used = xp_names_used()
    assert {"where", "sum", "exp", "log1p", "max", "astype", "take_along_axis", "finfo", "isdtype"} <= set(used)
    assert len(used) >= 25, sorted(used)


def test_every_xp_name_the_library_uses_exists_in_the_tensorflow_namespace():
    """Names the kernel namespace adds itself (the in-place helpers, ``inplace``, ...) are
    not the TF namespace's business; every other ``xp.name`` must exist there."""
    from xbackend._backends._base import Functional

    kernel_ns = Functional(tfx, xb_backend(tfx))
    own = set(vars(kernel_ns)) - set(dir(tfx)) | {n for n in dir(Functional) if not n.startswith("__")}
    missing = {
        name: sorted(files) for name, files in xp_names_used().items() if not hasattr(tfx, name) and name not in own
    }
    assert not missing, (
        "xbackend._backends._tf_namespace lacks names the library uses (add them, mapped onto core TF "
        f"ops): {missing}"
    )


def test_every_function_listed_as_implemented_is_a_callable_of_the_namespace():
    for name in tfx.IMPLEMENTED:
        assert callable(getattr(tfx, name)), name
    for name in ("float16", "bfloat16", "float32", "float64", "int32", "int64", "bool", "inf", "nan"):
        assert hasattr(tfx, name), name


def test_a_name_outside_the_adapter_raises_a_clear_attribute_error():
    with pytest.raises(AttributeError, match=r"TensorFlow namespace has no 'cumulative_sum'.*implements only"):
        tfx.cumulative_sum  # noqa: B018
    assert not hasattr(tfx, "linalg")


def test_the_adapter_never_uses_tf_experimental_numpy():
    """Core TF ops only: no ``tf.experimental.numpy`` and no process-wide numpy behaviour switch."""
    attrs = set()
    for name in ("_tf_namespace.py", "_tensorflow.py"):
        tree = ast.parse((SRC / "_backends" / name).read_text())
        attrs |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "experimental" not in attrs
    assert "experimental_enable_numpy_behavior" not in attrs
