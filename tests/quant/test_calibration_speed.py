"""The calibration speed-ups change no bit: quantiles from order statistics, prefix replay in the alpha
search, the thread policy.  (How fast they are is benchmarks/calib_speed.py's business, not a test's.)"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import uqvit
from uqvit import threads
from uqvit.errors import UserError
from uqvit.quant import replay
from uqvit.quant.uniform import PERCENTILES, order_statistics, row_quantiles

from model_factories import small_swin, small_vit

LEVELS = torch.tensor([v for p in PERCENTILES for v in (p, 1 - p)])
# levels whose rank lands on .5 in float32 but not in float64 (0.1f * 5 = 0.50000000745): torch takes ranks in double
AWKWARD = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 4), n=st.integers(1, 2500), kind=st.sampled_from(["normal", "ties", "three", "double"]),
       seed=st.integers(0, 2**31 - 1), interpolation=st.sampled_from(["nearest", "linear"]),
       awkward=st.booleans())
def test_row_quantiles_are_torch_quantile_bit_for_bit(rows, n, kind, seed, interpolation, awkward):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, n, generator=g)
    if kind == "ties":
        x = torch.round(x * 3) / 3
    elif kind == "three":
        x = torch.randint(0, 3, (rows, n), generator=g).float()
    elif kind == "double":
        x = x.double()
    levels = (AWKWARD if awkward else LEVELS).to(x.dtype)
    want = torch.quantile(x, levels, dim=1, interpolation=interpolation)
    assert torch.equal(row_quantiles(x, levels, interpolation), want)


def test_order_statistics_cover_both_ends_and_single_values():
    x = torch.tensor([[5.0, -1.0, 3.0, 3.0, 9.0, 0.0, 2.0, 7.0, 1.0, 4.0] * 10])
    s = x.sort(dim=1).values[0]
    got = order_statistics(x, [0, 1, 98, 99])
    assert [got[r].item() for r in (0, 1, 98, 99)] == [s[0].item(), s[1].item(), s[98].item(), s[99].item()]
    one = torch.tensor([[3.5]])
    assert row_quantiles(one, LEVELS, "nearest").flatten().tolist() == [3.5] * len(LEVELS)


def test_row_quantiles_refuse_an_interpolation_they_do_not_reproduce():
    with pytest.raises(ValueError, match="interpolation"):
        row_quantiles(torch.randn(2, 10), LEVELS, "midpoint")


def _state(q):
    return {k: v.clone() for k, v in q.state_dict().items()}


@pytest.mark.parametrize("family", ["vit", "swin"])
@pytest.mark.parametrize("method", ["uqvit", "uqvit-hw"])
def test_prefix_replay_changes_no_bit(family, method, monkeypatch):
    model, size = (small_vit(), 32) if family == "vit" else (small_swin(), 56)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(8, 3, size, size, generator=g)
    fast = uqvit.quantize(model, x, method, 4, 4, progress=False)
    monkeypatch.setattr(replay, "ENABLED", False)
    slow = uqvit.quantize(model, x, method, 4, 4, progress=False)
    assert fast.uqvit_alphas == slow.uqvit_alphas
    a, b = _state(fast), _state(slow)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(fast(x), slow(x))
    for m in fast.modules():  # no replaying forward is left behind
        assert "forward" not in vars(m)


def test_prefix_replay_replays_only_what_runs_before_the_site():
    model = small_vit()
    blk = model.blocks[0]
    x = torch.randn(2, 17, 48)
    ran = []
    hooks = [m.register_forward_pre_hook(lambda m, a, n=n: ran.append(n)) for n, m in blk.named_modules() if n]
    with replay.replay_prefix(blk, blk.mlp.fc1) as run:
        first = run(x)
        ran.clear()
        assert torch.equal(run(x), first)
    for h in hooks:
        h.remove()
    # attn finishes before fc1 starts: its recorded output is returned, so nothing inside it runs
    assert not [n for n in ran if n.startswith("attn.")]
    assert {"norm2", "mlp", "mlp.fc1", "mlp.act", "mlp.fc2"} <= set(ran)
    with replay.replay_prefix(blk, blk.mlp.fc1) as run:
        run(x)
        with pytest.raises(ValueError, match="same input"):
            run(x.clone())


def test_calibration_is_bit_identical_at_one_and_two_threads():
    model = small_vit()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    before = torch.get_num_threads()
    one = uqvit.quantize(model, x, "uqvit", 4, 4, progress=False, threads=1)
    two = uqvit.quantize(model, x, "uqvit", 4, 4, progress=False, threads=2)
    assert torch.get_num_threads() == before  # restored
    a, b = _state(one), _state(two)
    assert all(torch.equal(a[k], b[k]) for k in a) and one.uqvit_alphas == two.uqvit_alphas


@pytest.mark.parametrize("text,want", [("auto", "auto"), ("torch", "torch"), (" 3 ", 3), (2, 2), ("AUTO", "auto")])
def test_thread_policy_values(text, want):
    assert threads.parse(text) == want


@pytest.mark.parametrize("bad", ["0", "-1", "many", 0, 1.5, True])
def test_bad_thread_policy_is_one_clear_error(bad):
    with pytest.raises(UserError, match="give auto, torch or a number of threads"):
        threads.parse(bad)


def test_thread_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.parse(None) == 1
    monkeypatch.setenv(threads.ENV, "lots")
    with pytest.raises(UserError, match="UQVIT_THREADS"):
        threads.parse(None)


class _Meter:
    def __init__(self, busy):
        self.busy = list(busy)

    def others_busy(self):
        return self.busy.pop(0)


def test_auto_policy_leaves_the_busy_cores_to_other_processes(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "LoadMeter", lambda: _Meter([1.2, None, 0.1, 3.9, 9.0]))
    torch.set_num_threads(4)
    try:
        with threads.ThreadPolicy("auto") as p:
            seen = []
            for _ in range(5):
                p.update()
                seen.append(p.threads)
        assert seen == [3, 3, 4, 1, 1]  # None: the interval was too short to read, keep the last count
        assert torch.get_num_threads() == 4
        torch.set_num_threads(2)  # the count torch had caps auto
        with threads.ThreadPolicy("auto") as p:
            p._meter = _Meter([0.0])
            p.update()
            assert p.threads == 2
    finally:
        torch.set_num_threads(before)


def test_load_meter_sees_a_busy_process():
    import subprocess
    import sys
    import time

    m = threads.LoadMeter()
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.6)
        busy = m.others_busy()
    finally:
        p.kill()
        p.wait()
    assert busy is not None and busy >= 0.6
