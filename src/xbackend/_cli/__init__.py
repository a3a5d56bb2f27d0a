"""The ``xbackend`` command (also ``python -m xbackend``).

Subcommands:

``xbackend report`` (the default)
    Detect the installed backends and devices, run a compact conformance suite of every
    loss against each framework's native loss and against the float64 closed form, print a
    backend × device × loss table and exit non-zero if any cell fails (``--json`` for
    machines).
``xbackend explain``
    The motivating question worked on this machine: the seed example on every backend,
    then a sweep of logits comparing ``-z·log σ(x)``, ``sigmoid → clip → log`` and the
    stable logits form (``--plot FILE.png`` draws it).
``xbackend bench``
    The benchmark (``xbackend._cli._bench``).

No framework is imported before a subcommand needs it; framework log spam is kept off
the terminal (``--verbose`` on ``report`` shows it).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable

__all__ = ["build_parser", "main"]

SUBCOMMANDS = ("report", "explain", "bench")


def _out_function() -> Callable[[str], None]:
    stream = sys.stdout
    if hasattr(stream, "reconfigure"):
        # a terminal without UTF-8 gets '?' for σ, ·, Σ instead of a crash
        with contextlib.suppress(Exception):
            stream.reconfigure(errors="replace")

    def out(text: str = "") -> None:
        print(text, file=sys.stdout, flush=True)

    return out


def _add_backend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backends",
        metavar="LIST",
        help="comma-separated frameworks to use, e.g. numpy,torch "
        "(default: every installed one: numpy, array_api_strict, torch, jax, tensorflow, dask, cupy)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``xbackend`` (``bench``'s own options live in ``xbackend._cli._bench``)."""
    from xbackend import __version__

    parser = argparse.ArgumentParser(
        prog="xbackend",
        description="Sigmoid and softmax cross-entropy written once against the Array API: "
        "check them on every framework installed here.",
        epilog="Without a subcommand, `xbackend` runs `xbackend report`.",
    )
    parser.add_argument("--version", action="version", version=f"xbackend {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{report,explain,bench}")

    rep = sub.add_parser(
        "report",
        help="conformance table: every backend × device × loss vs the native loss and the closed form",
        description="Run a compact conformance suite (values and gradients, float64/float32/"
        "half precision, edge cases) of every xbackend loss on every installed backend and "
        "device, against the framework's own loss and the float64 closed form. Exit status "
        "1 if any cell fails.",
    )
    _add_backend_option(rep)
    rep.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                     help="devices to test (default: all = CPU plus every visible GPU)")
    rep.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.add_argument("--verbose", action="store_true",
                     help="also print the framework logs captured while importing and running")

    exp = sub.add_parser(
        "explain",
        help="why -z·log(sigmoid(x)) and sigmoid→clip→log differ from the logits form",
        description="The seed example on every installed backend, then a sweep of logits "
        "from -1e4 to 1e4 showing where the probability-space formulas give inf, NaN or a "
        "zero gradient, in float32 and float64.",
    )
    _add_backend_option(exp)
    exp.add_argument("--plot", metavar="FILE.png", help="also draw the sweep (needs matplotlib: "
                     'pip install "xbackend[plot]")')

    sub.add_parser("bench", help="benchmark xbackend against the native losses (see `xbackend bench --help`)",
                   add_help=False)
    return parser


def _run_bench(argv: list[str], out: Callable[[str], None]) -> int:
    import importlib

    try:
        _bench = importlib.import_module("xbackend._cli._bench")  # lazily: bench is optional
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "xbackend._cli._bench":
            out("xbackend bench: the benchmark module (xbackend._cli._bench) is not available in this install.")
        else:  # it exists but one of its imports failed
            out(f"xbackend bench: the benchmark could not be imported: {type(exc).__name__}: {exc}")
        return 2
    parser = argparse.ArgumentParser(prog="xbackend bench",
                                     description="Benchmark xbackend's losses against the native ones.")
    _bench.add_arguments(parser)
    args = parser.parse_args(argv)
    return int(_bench.run(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xbackend`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = _out_function()
    try:
        if argv and argv[0] == "bench":
            return _run_bench(argv[1:], out)
        if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
            argv = ["report", *argv]
        args = build_parser().parse_args(argv)
        from xbackend._cli import _detect

        try:
            args.backends = _detect.parse_backends(args.backends)
        except ValueError as exc:
            print(f"xbackend {args.command}: error: {exc}", file=sys.stderr)
            return 2
        if args.command == "explain":
            from xbackend._cli import _explain

            return _explain.run(args, out)
        from xbackend._cli import _report

        return _report.run(args, out)
    except SystemExit as exc:  # argparse: --help, --version, usage errors (argparse has printed them)
        code = exc.code
        if isinstance(code, int) or code is None:
            return 0 if code is None else code
        print(code, file=sys.stderr, flush=True)  # a message: say it, then exit 2
        return 2
    except KeyboardInterrupt:
        print("xbackend: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
