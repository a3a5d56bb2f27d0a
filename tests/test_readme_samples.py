"""The sample outputs in README.md are what the program prints now.

``scripts/readme_samples.py`` regenerates them (``python scripts/readme_samples.py``);
this test runs the same commands with NumPy only (seconds, not a minute) and compares
the parts of each sample that do not depend on the machine: the script's docstring says
what is left out (framework versions, timing, counts, error magnitudes of the report,
other backends' rows). Run the script when this fails.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_samples", ROOT / "scripts" / "readme_samples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_samples", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


samples = _script()

#: the samples include ``xbackend explain --plot``: the plot extra (the wheel session installs only ``[test]``)
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason='the README sample `xbackend explain --plot` needs matplotlib (pip install "xbackend[plot]")',
)


def test_every_sample_has_a_marked_region_in_the_readme():
    text = samples.README.read_text()
    found = samples.regions(text)
    assert set(found) == set(samples.SAMPLES)
    for name, body in found.items():
        assert body.startswith(f"```text\n{samples.SAMPLES[name].prompt}\n") and body.endswith("```\n"), name


@needs_matplotlib
def test_the_readme_samples_are_what_the_program_prints_now():
    diffs = samples.stale(samples.README.read_text(), backends=["numpy"])
    assert diffs == {}, "README samples are stale; run `python scripts/readme_samples.py`:\n" + "\n".join(
        diffs.values())


@needs_matplotlib
def test_a_stale_number_in_a_sample_is_detected():
    """The check is not vacuous: the old README's float32 row at x = 100 (a gradient of 0
    where the program prints -3.784e-44) is reported."""
    text = samples.README.read_text()
    row = next(line for line in samples.regions(text)["explain"].splitlines() if line.startswith("100 "))
    assert row.rstrip().endswith("-3.784e-44")
    old = text.replace(row, row.rstrip()[: -len("-3.784e-44")] + " " * 9 + "0", 1)
    diffs = samples.stale(old, backends=["numpy"])
    assert set(diffs) == {"explain"} and "-3.784e-44" in diffs["explain"]


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [
        ("report", "PASS: 42/42 rows pass (6 backends × 7 losses, 483/483 checks) in 24.0 s",
         "PASS: 7/7 rows pass (1 backends × 7 losses, 45/45 checks) in 0.4 s"),
        ("report", "numpy             sigmoid_xent               -        -  8.9e-16  1.9e-16        -     0.01    pass",
         "numpy    sigmoid_xent               -        -  7.7e-16  1.1e-16        -     0.02    pass"),
        ("explain", "numpy             0.598139     0.554355  3.790694         3.695643",
         "numpy    0.598139     0.554355  3.790694         3.695643"),
    ],
)
def test_machine_dependent_parts_are_normalised(name, a, b):
    assert samples.normalise(name, a + "\n") == samples.normalise(name, b + "\n")


def test_a_changed_result_or_explanation_is_not_normalised_away():
    row = "numpy             sigmoid_xent               -        -  8.9e-16  1.9e-16        -     0.01    pass\n"
    assert samples.normalise("report", row) != samples.normalise("report", row.replace("pass", "FAIL"))
    legend = "err/tol = worst error over every dtype and check / its tolerance 32·eps(dtype): > 1 fails.\n"
    assert samples.normalise("report", legend) != samples.normalise("report", legend.replace("32", "16"))
