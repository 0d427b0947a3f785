"""minidl.profiler.profile: per-op and per-module forward/backward times, as a table."""

from __future__ import annotations

import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import nn, profiler
from minidl.autograd import function
from minidl.nn.modules.module import Module


def _model():
    md.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))


def test_profile_records_ops_and_modules():
    model = _model()
    call = Module.__call__
    x, y = md.randn(2, 1, 4, 4), md.tensor([0, 1])
    with profiler.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    assert function._PROFILER is None and Module.__call__ is call  # restored
    rows = {(r.kind, r.name): r for r in prof.key_averages()}
    conv = rows["op", "Convolution"]
    assert conv.calls == 1 and conv.backward_calls == 1 and conv.forward > 0 and conv.backward > 0
    assert ("op", "MaxPool2DWithIndices") in rows
    seq, conv_mod = rows["module", "Sequential"], rows["module", "Conv2d"]
    assert seq.calls == 1 and conv_mod.calls == 1
    assert seq.forward >= conv_mod.forward > 0
    assert conv_mod.backward > 0 and seq.backward >= conv_mod.backward  # inclusive
    table = prof.table()
    assert "Convolution" in table and "Sequential" in table and "Total %" in table
    assert prof.key_averages().table() == table
    # sorted by total time, descending, within the op section
    ops = [r for r in prof.key_averages() if r.kind == "op"]
    op_section = table.split("\nModule ")[0]
    names_in_table = [line.split()[0] for line in op_section.splitlines()[3:] if line.strip() and line[0] != "-"]
    assert names_in_table == [r.name for r in sorted(ops, key=lambda r: r.total, reverse=True)]


def test_profile_names_modules_by_path_and_is_off_afterwards():
    model = _model()
    with profiler.profile(model) as prof:
        model(md.randn(1, 1, 4, 4)).sum().backward()
    names = {r.name for r in prof.key_averages() if r.kind == "module"}
    assert "0 (Conv2d)" in names and "<root> (Sequential)" in names
    n = len(prof.key_averages())
    model(md.randn(1, 1, 4, 4)).sum().backward()  # not recorded any more
    assert len(prof.key_averages()) == n
    with pytest.raises(ValueError):
        prof.table(sort_by="nope")


def test_profiles_do_not_nest():
    with profiler.profile(), pytest.raises(RuntimeError):
        with profiler.profile():
            pass
    assert function._PROFILER is None


def test_set_num_threads():
    from minidl.backend.threads import get_num_threads, set_num_threads

    before = get_num_threads()
    try:
        set_num_threads(1)
        assert get_num_threads() == 1
        with pytest.raises(ValueError):
            set_num_threads(0)
    finally:
        set_num_threads(before)
    assert get_num_threads() == before
