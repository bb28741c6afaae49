"""Every registered block: shapes, gradient flow, min_len, causality where claimed; DLinear/TimesNet internals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthwb.core.errors import SpecError
from synthwb.models import BLOCKS, ModelSpec, chain_lengths, validate_spec
from synthwb.models.blocks.decomp import MovingAvg
from synthwb.models.blocks.timesnet import fft_periods
from synthwb.models.registry import block_is_causal, block_min_len, block_out_len

D, T, B = 8, 32, 2
# small, valid params per block (n_heads must divide d_model=8)
SMALL = {
    "dlinear": {"kernel": 5},
    "timesnet": {"top_k": 2, "num_kernels": 2},
    "timemixer": {"layers": 2, "kernel": 5},
    "transformer": {"n_heads": 2},
    "lstm": {"hidden": 8},
    "gru": {"hidden": 8},
    "tcn": {"levels": 2},
    "fourier": {"modes": 6, "n_heads": 2},
    "revin": {},
    "patchtst": {"patch_len": 8, "stride": 4, "n_heads": 2},
    "itransformer": {"d_token": 8, "n_heads": 2},
    "layernorm": {},
}
EXPECTED_BLOCKS = {"dlinear", "timesnet", "timemixer", "transformer", "lstm", "gru", "tcn", "fourier", "revin",
                   "patchtst", "itransformer", "layernorm"}


def make(name, seq_len=T, **over):
    entry = BLOCKS.get(name)
    params = entry.resolve({**SMALL[name], **over})
    torch.manual_seed(0)
    block = entry.obj(D, seq_len, **params)
    if hasattr(block, "observe"):
        block.observe(torch.randn(B, seq_len, 3))
    return entry, params, block


def test_all_required_blocks_registered():
    assert EXPECTED_BLOCKS <= set(BLOCKS.names())
    for e in BLOCKS:
        assert isinstance(e.meta["keeps_time"], bool) and isinstance(e.meta["min_len"], int)
        assert isinstance(e.meta["causal"], bool)
        assert e.help and e.category


@pytest.mark.parametrize("name", sorted(EXPECTED_BLOCKS))
def test_block_shape_and_gradients(name):
    entry, params, block = make(name)
    x = torch.randn(B, T, D, requires_grad=True)
    y = block(x)
    assert y.dim() == 3 and y.shape[0] == B and y.shape[2] == D
    assert y.shape[1] == block_out_len(entry, T, params)
    if entry.meta["keeps_time"]:
        assert y.shape[1] == T
    assert torch.isfinite(y).all()
    (y ** 2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for n, p in block.named_parameters():
        assert p.grad is not None, f"{name}.{n} got no gradient"
    assert sum(float(p.grad.abs().sum()) for p in block.parameters()) > 0


CAUSAL_CASES = [("tcn", {}), ("lstm", {}), ("gru", {}), ("layernorm", {}), ("transformer", {"causal": True})]


@pytest.mark.parametrize("name,over", CAUSAL_CASES)
def test_causal_blocks_ignore_the_future(name, over):
    entry, params, block = make(name, **over)
    assert block_is_causal(entry, params)
    block.eval()
    x = torch.randn(B, T, D)
    x2 = x.clone()
    t = 20
    x2[:, t:] += 5.0 * torch.randn(B, T - t, D)
    with torch.no_grad():
        y, y2 = block(x), block(x2)
    torch.testing.assert_close(y[:, :t], y2[:, :t], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(y[:, t:], y2[:, t:])


@pytest.mark.parametrize("name,over", [("transformer", {}), ("lstm", {"bidirectional": True}), ("dlinear", {})])
def test_non_causal_blocks_do_see_the_future(name, over):
    entry, params, block = make(name, **over)
    assert not block_is_causal(entry, params)
    block.eval()
    x = torch.randn(B, T, D)
    x2 = x.clone()
    x2[:, 20:] += 5.0
    with torch.no_grad():
        assert not torch.allclose(block(x)[:, :20], block(x2)[:, :20])


def test_min_len_enforced_by_static_check_names_block():
    # timemixer with layers=3, window 2 needs 2 * 2**3 = 16 steps
    entry = BLOCKS.get("timemixer")
    assert block_min_len(entry, entry.resolve({"layers": 3})) == 16
    spec = ModelSpec(blocks=[{"name": "layernorm"}, {"name": "timemixer", "params": {"layers": 3}}],
                     head={"name": "gbm"}, n_features=2, d_model=8, context=12, horizon=4)
    with pytest.raises(SpecError, match=r"block 1 \(timemixer\) receives input of shape \(B, 12, 8\) but needs at least 16"):
        chain_lengths(spec)
    with pytest.raises(SpecError, match=r"block 1 \(timemixer\)"):
        validate_spec(spec)


def test_patchtst_shortens_time_and_breaks_a_later_block():
    entry = BLOCKS.get("patchtst")
    p = entry.resolve({"patch_len": 8, "stride": 4})
    # end-padded by 4: (32 + 4 - 8) // 4 + 1 = 8 patches (hand computed)
    assert block_out_len(entry, 32, p) == 8
    spec = ModelSpec(blocks=[{"name": "patchtst", "params": {"patch_len": 8, "stride": 4, "n_heads": 2}},
                             {"name": "timemixer", "params": {"layers": 3, "kernel": 3}}],
                     head={"name": "gbm"}, n_features=2, d_model=8, context=32, horizon=4)
    with pytest.raises(SpecError, match=r"block 1 \(timemixer\) receives input of shape \(B, 8, 8\)"):
        validate_spec(spec)


def test_moving_average_is_edge_padded():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0]).reshape(1, 5, 1)
    y = MovingAvg(3)(x).flatten().tolist()
    # edge padding repeats 1 at the front and 10 at the back
    assert y == pytest.approx([(1 + 1 + 2) / 3, 2.0, 3.0, (3 + 4 + 10) / 3, (4 + 10 + 10) / 3])


def test_dlinear_maps_along_time_as_in_the_paper():
    _, _, block = make("dlinear", seq_len=6, kernel=3, residual=False)
    # fresh weights are the paper's uniform average 1/T: every output step equals the window mean
    x = torch.randn(1, 6, D)
    y = block(x)
    expect = x.mean(dim=1, keepdim=True).expand(-1, 6, -1)
    torch.testing.assert_close(y, expect, rtol=1e-5, atol=1e-5)
    assert block.w_trend.shape == (6, 6) and block.w_seasonal.shape == (6, 6)


def test_timesnet_finds_the_dominant_period():
    t = torch.arange(96, dtype=torch.float32)
    x = torch.sin(2 * np.pi * t / 12)[None, :, None].expand(2, 96, 4)
    periods, weights = fft_periods(x, 1)
    assert periods == [12] and weights.shape == (2, 1)


def test_timesnet_2d_reshape_round_trips_and_weights_sum_to_one():
    _, _, block = make("timesnet", seq_len=30, top_k=3)
    block.conv = torch.nn.Identity()          # with an identity 2D stage the block is x + sum_k w_k x = 2x
    x = torch.randn(B, 30, D)                 # 30 is not a multiple of most periods: padding is cut again
    torch.testing.assert_close(block(x), 2 * x, rtol=1e-5, atol=1e-6)


def test_inception_single_conv_equals_mean_of_separate_convs():
    from synthwb.models.blocks.timesnet import Inception2d

    torch.manual_seed(1)
    inc = Inception2d(3, 4, 3)
    x = torch.randn(2, 3, 5, 7)
    # reference: TimesNet's Inception_Block_V1, one conv per kernel, then the mean
    ref = torch.stack([torch.nn.functional.conv2d(x, w, b, padding=w.shape[-1] // 2)
                       for w, b in zip(inc.weights, inc.biases)], dim=-1).mean(-1)
    torch.testing.assert_close(inc(x), ref, rtol=1e-5, atol=1e-5)
    inc(x).sum().backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in inc.weights)


def test_dlinear_individual_maps_each_channel_separately():
    _, _, block = make("dlinear", seq_len=6, kernel=3, residual=False, individual=True)
    with torch.no_grad():
        block.w_seasonal[0] = torch.eye(6)
        block.w_trend[0] = torch.eye(6)
    x = torch.randn(1, 6, D)
    y = block(x)
    torch.testing.assert_close(y[..., 0], x[..., 0], rtol=1e-5, atol=1e-6)          # identity on channel 0
    torch.testing.assert_close(y[..., 1], x[..., 1].mean(1, keepdim=True).expand(-1, 6), rtol=1e-5, atol=1e-6)


def test_timemixer_scales_and_time_maps():
    from synthwb.models.blocks.timemixer import TimeLinear

    _, _, block = make("timemixer", seq_len=32, layers=2)
    assert block.lens == [32, 16, 8]
    lin = TimeLinear(4, 3)
    x = torch.randn(2, 4, 5)
    ref = torch.nn.functional.linear(x.transpose(1, 2), lin.weight, lin.bias).transpose(1, 2)
    torch.testing.assert_close(lin(x), ref)
