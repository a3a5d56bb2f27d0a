"""Results, masks, aranges and reductions stay on the input's device.

These run without a GPU: torch's ``meta`` device (shapes only, no data; any host
round-trip or CPU-created helper array fails loudly with a device mismatch) and
array-api-strict's second device ``Device("device1")`` (every op checks that its
operands share a device). Together they catch a mask or ``arange`` created on the
default device, or a result silently moved to the host, before a GPU run does.
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from tests.loss_cases import CASES, C, N
from tests.loss_cases import data as _data


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_meta_device_stays_meta(case):
    torch = require("torch")
    _x, _y, _p, _m, _w, _cv = _data()
    meta = torch.device("meta")
    args = (
        torch.empty(N, C, device=meta, dtype=torch.float32, requires_grad=True),
        torch.empty(N, device=meta, dtype=torch.int64),
        torch.empty(N, C, device=meta, dtype=torch.float32),
        torch.empty(C, device=meta, dtype=torch.bool),
        torch.empty(N, device=meta, dtype=torch.float32),
        torch.empty(C, device=meta, dtype=torch.float32),
    )
    out = CASES[case](*args)
    assert out.device == meta, f"{case}: result on {out.device}"
    (g,) = torch.autograd.grad(out.sum(), args[0])
    assert g.device == meta and g.shape == (N, C)


@pytest.mark.parametrize("case", sorted(CASES))
def test_array_api_strict_second_device(case):
    xs = require("array_api_strict")
    dev = xs.Device("device1")
    x, y, p, m, w, cv = _data()
    args = [xs.asarray(a, device=dev) for a in (x, y, p, m, w, cv)]
    out = CASES[case](*args)
    assert out.device == dev, f"{case}: result on {out.device}"
    # the same call on the default device gives the same numbers
    ref = CASES[case](*[xs.asarray(a) for a in (x, y, p, m, w, cv)])
    np.testing.assert_array_equal(
        np.from_dlpack(out.to_device(xs.Device("CPU_DEVICE"))), np.from_dlpack(ref)
    )


def test_array_api_strict_devices_cannot_mix():
    xs = require("array_api_strict")
    x = xs.asarray(np.zeros((2, 3)), device=xs.Device("device1"))
    y = xs.asarray(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="device"):
        xb.sigmoid_cross_entropy(x, y)
