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


def _op_names(table):
    """The names in a table's op section, in order."""
    return [line.split()[0] for line in table.split("\nModule ")[0].splitlines()[3:] if line.strip() and line[0] != "-"]


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
    assert _op_names(table) == [r.name for r in sorted(ops, key=lambda r: r.total, reverse=True)]


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


def _profiled_step(**kwargs):
    model = _model()
    with profiler.profile(**kwargs) as prof:
        with profiler.record_function("step"):
            F.cross_entropy(model(md.randn(2, 1, 4, 4)), md.tensor([0, 1])).backward()
    return prof


@pytest.mark.parametrize("key", ["cpu_time_total", "self_cpu_time_total", "cpu_time", "count"])
def test_table_takes_torchs_sort_keys(key):
    torch = pytest.importorskip("torch")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tprof:
        torch.nn.Linear(3, 2)(torch.randn(4, 3)).sum().backward()
    tprof.key_averages().table(sort_by=key, row_limit=5)  # the key is torch's
    prof = _profiled_step(activities=[profiler.ProfilerActivity.CPU])
    rows = [r for r in prof.key_averages() if r.kind == "op"]
    table = prof.key_averages().table(sort_by=key, row_limit=2)
    assert _op_names(table) == [r.name for r in sorted(rows, key=lambda r: getattr(r, key), reverse=True)[:2]]
    for r in rows:
        assert getattr(r, key) == getattr(r, key)  # a number
    with pytest.raises(AttributeError):  # torch: the event has no such attribute
        prof.key_averages().table(sort_by="nope")


def test_rows_answer_to_torchs_names_in_microseconds():
    prof = _profiled_step()
    rows = {(r.kind, r.key): r for r in prof.key_averages()}
    conv = rows["op", "Convolution"]
    assert conv.count == conv.calls == 1
    assert conv.cpu_time_total == pytest.approx(conv.total * 1e6)
    assert conv.self_cpu_time_total == pytest.approx(conv.cpu_time_total)  # ops do not nest
    assert conv.cpu_time == pytest.approx(conv.cpu_time_total / conv.count)
    seq = rows["module", "Sequential"]
    ops_inside = sum(r.forward for r in prof.key_averages() if r.kind == "op" and r.name != "CrossEntropy")
    assert seq.self_total == pytest.approx(seq.forward - ops_inside, abs=1e-9)
    assert 0 <= seq.self_cpu_time_total < seq.cpu_time_total
    step = rows["range", "step"]
    all_ops = sum(r.total for r in prof.key_averages() if r.kind == "op")
    assert step.calls == 1 and step.total >= all_ops and step.self_total == pytest.approx(step.total - all_ops)
    assert "Range" in prof.table() and "step" in prof.table()
    assert prof.key_averages().self_cpu_time_total == pytest.approx(all_ops * 1e6)


def test_group_by_input_shape():
    conv = nn.Conv2d(1, 2, 3)
    with profiler.profile(record_shapes=True) as prof:
        conv(md.randn(1, 1, 4, 4))
        conv(md.randn(2, 1, 5, 5))
        conv(md.randn(2, 1, 5, 5))
    grouped = [r for r in prof.key_averages(group_by_input_shape=True) if r.kind == "op"]
    assert sorted((r.input_shapes, r.calls) for r in grouped) == [
        (((1, 1, 4, 4), (2, 1, 3, 3), (2,)), 1), (((2, 1, 5, 5), (2, 1, 3, 3), (2,)), 2)]  # fmt: skip
    assert "[[2, 1, 5, 5], [2, 1, 3, 3], [2]]" in prof.key_averages(group_by_input_shape=True).table()
    (merged,) = [r for r in prof.key_averages() if r.kind == "op"]
    assert merged.calls == 3 and merged.input_shapes is None
    with pytest.raises(TypeError):
        profiler.profile(activities=["cpu"])


def test_record_function_as_decorator_nested_and_without_a_profile(tmp_path):
    @profiler.record_function("inner")
    def f(depth):
        return md.randn(2).sum() if depth == 0 else f(depth - 1)

    f(1)  # no profile: nothing recorded, no error
    with profiler.profile() as prof, profiler.record_function("outer"):
        f(2)
    rows = {(r.kind, r.name): r for r in prof.key_averages()}
    assert rows["range", "inner"].calls == 3 and rows["range", "outer"].calls == 1
    assert rows["range", "outer"].total >= rows["range", "inner"].total / 3
    with pytest.raises(TypeError):
        profiler.record_function(3)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    import json

    events = json.loads(path.read_text())["traceEvents"]
    assert {e["cat"] for e in events} >= {"op", "user_annotation"}
    assert all(e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0 for e in events)
    assert sum(e["name"] == "inner" for e in events) == 3
