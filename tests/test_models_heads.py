"""Every head through a real tiny model: DESIGN §4 path contract, extremes, gradients, seeds, bridge exactness."""
from __future__ import annotations

import math

import pytest
import torch

from synthwb.core.errors import DataError, SpecError
from synthwb.models import HEADS, ModelSpec, build_model
from synthwb.models.simulate import MAX_LOGRET, bounded_vol, to_prices

H, CTX, NF, B, N = 12, 24, 3, 3, 64
HEAD_PARAMS = {"gbm": {}, "horizon": {"n_heads": 2}, "bridge": {}, "mixture": {"components": 3},
               "student_t": {"n_heads": 2}, "neural_sde": {"hidden": 8}, "term": {"vol_path": True}}


def model_for(head, blocks=None, horizon=H, **head_params):
    spec = ModelSpec(blocks=blocks if blocks is not None else [{"name": "tcn", "params": {"levels": 1}}],
                     head={"name": head, "params": {**HEAD_PARAMS[head], **head_params}},
                     n_features=NF, d_model=8, context=CTX, horizon=horizon)
    torch.manual_seed(0)
    return build_model(spec)


def inputs(scale=1.0, lc=(100.0, 1e-4, 1e7)):
    g = torch.Generator().manual_seed(3)
    return scale * torch.randn(B, CTX, NF, generator=g), torch.tensor(lc, dtype=torch.float32)


def test_required_heads_registered():
    assert set(HEAD_PARAMS) <= set(HEADS.names())


@pytest.mark.parametrize("head", sorted(HEAD_PARAMS))
def test_path_contract(head):
    model = model_for(head)
    x, lc = inputs()
    out = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1))
    p = out.paths
    assert p.shape == (B, N, H + 1)
    assert torch.equal(p[:, :, 0], lc[:, None].expand(B, N))
    assert torch.isfinite(p).all() and (p > 0).all()
    # fresh heads start near init_vol: spread of one-step log returns is of order 0.002
    r1 = torch.log(p[:, :, 1] / p[:, :, 0])
    assert 1e-4 < float(r1.detach().std()) < 5e-2
    assert out.extras["drift"].shape == (B, H) and out.extras["vol"].shape == (B, H)
    assert (out.extras["vol"] > 0).all()


@pytest.mark.parametrize("head", sorted(HEAD_PARAMS))
@pytest.mark.parametrize("scale", [1e6, 1e-6])
def test_extreme_inputs_give_finite_positive_paths(head, scale):
    model = model_for(head)
    x, lc = inputs(scale=scale, lc=(1e-4, 1.0, 1e7))
    with torch.no_grad():
        p = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1)).paths
    assert torch.isfinite(p).all() and (p > 0).all()
    assert torch.equal(p[:, :, 0], lc[:, None].expand(B, N))


@pytest.mark.parametrize("head", sorted(HEAD_PARAMS))
def test_gradients_reach_head_parameters_through_paths(head):
    """The heads' last layers start at zero (an untrained model is its baseline): the first
    step moves them, and from the second step gradients reach the backbone too."""
    model = model_for(head)
    x, lc = inputs(lc=(100.0, 50.0, 200.0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    y = lc * 1.01
    for step in range(2):
        opt.zero_grad()
        out = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1))
        # a CRPS-like loss on the final price against a realised value
        loss = (out.paths[:, :, -1] - y[:, None]).abs().mean()
        loss.backward()
        head_grads = [p.grad for p in model.head.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
        assert head_grads, f"no head parameter of {head} received a gradient at step {step}"
        opt.step()
    assert model.backbone.input.weight.grad is not None and model.backbone.input.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("head", sorted(HEAD_PARAMS))
def test_seed_reproducibility(head):
    model = model_for(head)
    x, lc = inputs()
    with torch.no_grad():
        a = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(7)).paths
        b = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(7)).paths
        c = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(8)).paths
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_bridge_pinned_at_both_ends_exactly():
    model = model_for("bridge")
    x, lc = inputs()
    with torch.no_grad():
        h = model.backbone(x)
        out = model.head(h, N, torch.Generator().manual_seed(2))
    R = out.extras["macro"]
    assert torch.equal(out.logret[..., -1], R)            # ends EXACTLY at the macro return
    # the texture alone is pinned at 0 at the end; the path starts at 0 (t0 column) by construction
    with torch.no_grad():
        paths = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(2)).paths
    torch.testing.assert_close(paths[..., -1], lc[:, None] * torch.exp(R), rtol=1e-6, atol=0)


def test_bridge_noise_grows_along_the_path():
    model = model_for("bridge", horizon=24)
    with torch.no_grad():  # make the macro spread clearly larger than the sub-step vol
        model.head.net[-1].bias[1] = 2.0
    x, lc = inputs()
    with torch.no_grad():
        lr = model.head(model.backbone(x), 4000, torch.Generator().manual_seed(0)).logret
    sd = lr.std(dim=1).mean(0)
    assert sd[5] < sd[11] < sd[17] < sd[23]


def test_gbm_head_matches_its_stated_distribution():
    model = model_for("gbm", init_vol=0.01)
    x, lc = inputs()
    with torch.no_grad():
        out = model(x, lc, n_paths=20000, generator=torch.Generator().manual_seed(0))
    lr = torch.log(out.paths[0, :, -1] / out.paths[0, :, 0]).double()
    vol, drift = float(out.extras["vol"][0, 0]), float(out.extras["drift"][0, 0])
    # sum of H iid N(drift, vol^2): std = vol sqrt(H), mean = H drift (4 sigma tolerances)
    assert abs(float(lr.std()) / (vol * math.sqrt(H)) - 1) < 0.04
    assert abs(float(lr.mean()) - H * drift) < 4 * vol * math.sqrt(H) / math.sqrt(20000)


def test_student_t_tails_are_fatter_than_gaussian():
    model = model_for("student_t", init_dof=3.0)
    x, lc = inputs()
    with torch.no_grad():
        out = model(x, lc, n_paths=20000, generator=torch.Generator().manual_seed(0))
    r = torch.log(out.paths[0, :, 1] / out.paths[0, :, 0]).double()
    z = (r - r.mean()) / r.std()
    kurt = float((z ** 4).mean())
    assert kurt > 4.0                      # a normal has 3
    assert 2.05 < float(out.extras["dof"][0]) < 100


def test_mixture_weights_get_straight_through_gradient():
    model = model_for("mixture")
    x, lc = inputs()
    out = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1))
    (out.paths[:, :, -1] / lc[:, None]).var(dim=1).sum().backward()
    last = model.head.net[-1]
    K = 3
    assert last.bias.grad[2 * K:].abs().sum() > 0        # logits (weights) got a gradient
    torch.testing.assert_close(out.extras["weights"].sum(-1), torch.ones(B))


def test_horizon_head_stable_at_288():
    model = model_for("horizon", horizon=288)
    x, lc = inputs(scale=100.0)
    out = model(x, lc, n_paths=16, generator=torch.Generator().manual_seed(0))
    assert out.paths.shape == (B, 16, 289)
    assert torch.isfinite(out.paths).all() and (out.paths > 0).all()
    out.paths.log().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_revin_denormalises_paths_by_window_volatility():
    blocks = [{"name": "revin", "params": {"ret_feature": 0}}, {"name": "layernorm"}]
    model = model_for("gbm", blocks=blocks)
    model.eval()
    x, lc = inputs()
    x2 = 3.0 * x                                           # the same window, three times as volatile
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    with torch.no_grad():
        a = model(x, lc, n_paths=N, generator=g())
        b = model(x2, lc, n_paths=N, generator=g())
    three = torch.full((B,), 3.0)
    la, lb = torch.log(a.paths[..., 1:] / lc[:, None, None]), torch.log(b.paths[..., 1:] / lc[:, None, None])
    # the instance-normalised backbone sees the same pattern (the input projection is linear and
    # RevIN removes mean and scale); only the de-normalisation factor differs: 3x the log returns
    torch.testing.assert_close(lb, 3.0 * la, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(b.extras["vol"][:, 0] / a.extras["vol"][:, 0], three, rtol=1e-3, atol=0)


def test_bad_inputs_raise_clear_errors():
    model = model_for("gbm")
    x, lc = inputs()
    with pytest.raises(SpecError, match=r"shape \(B, 24, 3\)"):
        model(x[:, :10], lc)
    with pytest.raises(DataError, match="strictly positive"):
        model(x, torch.tensor([1.0, 0.0, 2.0]))
    with pytest.raises(SpecError, match="n_paths must be a positive integer"):
        model(x, lc, n_paths=0)
    x[0, 0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        model(x, lc)


def test_price_conversion_guards():
    lc = torch.tensor([1e-4, 1e7])
    lr = torch.tensor([[[1e6, -1e6, float("nan")]], [[50.0, -50.0, 0.0]]])
    p = to_prices(lc, lr)
    assert torch.isfinite(p).all() and (p > 0).all()
    torch.testing.assert_close(p[1, 0, 1], lc[1] * math.exp(MAX_LOGRET), rtol=1e-5, atol=0)
    v = bounded_vol(torch.tensor([-1e9, 0.0, 1e9]), 0.002)
    assert float(v[1]) == pytest.approx(0.002) and float(v[0]) > 0 and math.isfinite(float(v[2]))


def test_term_head_tails_start_gaussian_and_are_learned_pathwise():
    """The term head's innovations are Tukey-h transformed normals: exactly N(0, 1) at h = 0
    (untrained), unit variance with heavier tails for h > 0, and h gets a gradient at h = 0."""
    model = model_for("term")
    x, lc = inputs(lc=(100.0, 50.0, 200.0))
    out = model(x, lc, n_paths=4000, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out.extras["tail"], torch.zeros(B))
    inc = torch.diff(torch.log(out.paths.detach()), dim=-1) / out.extras["vol"].detach()[:, None, :]
    k = ((inc - inc.mean()) ** 4).mean() / inc.var() ** 2
    assert abs(float(k) - 3.0) < 0.15                                 # Gaussian kurtosis
    loss = (out.paths[:, :, -1] - lc[:, None]).abs().mean()           # any loss of the paths
    loss.backward()
    assert model.head.net[-1].bias.grad[4] != 0                         # the tail weight moves from step 1
    with torch.no_grad():
        model.head.net[-1].bias[4] = 2.0                                # h = 0.2 tanh(2) ~ 0.19
        fat = model(x, lc, n_paths=4000, generator=torch.Generator().manual_seed(2))
    inc = torch.diff(torch.log(fat.paths), dim=-1) / fat.extras["vol"][:, None, :]
    assert float(inc.var()) == pytest.approx(1.0, abs=0.08)            # unit variance kept
    assert float(((inc - inc.mean()) ** 4).mean() / inc.var() ** 2) > 6.0


def test_ar1_paths_match_the_recursion_written_out():
    from synthwb.models.heads.term import ar1_paths

    g = torch.Generator().manual_seed(5)
    e = torch.randn(3, 7, 30, generator=g, dtype=torch.float64)
    phi = torch.tensor([0.2, 0.9, 0.999], dtype=torch.float64)
    want = torch.empty_like(e)
    for b in range(3):
        for n in range(7):
            u = float(e[b, n, 0])
            want[b, n, 0] = u
            for t in range(1, 30):
                u = float(phi[b]) * u + math.sqrt(1 - float(phi[b]) ** 2) * float(e[b, n, t])
                want[b, n, t] = u
    torch.testing.assert_close(ar1_paths(phi, e), want, rtol=0, atol=1e-12)


def test_term_head_vol_path_keeps_each_steps_variance_and_decorrelates_vol_along_the_horizon():
    """With ``vol_path`` the per-path vol multiplier is an AR(1) over the steps: each step keeps
    E[m^2] = 1 (the anchor's variance), the multiplier's log at lag L has correlation phi^L, and its
    time scale gets a gradient from the first step. Without it the multiplier is one per path."""
    H_ = 48
    x, lc = inputs(lc=(100.0, 50.0, 200.0))
    steady = model_for("term", horizon=H_, vol_path=False)
    wander = model_for("term", horizon=H_, vol_path=True)
    for model in (steady, wander):
        with torch.no_grad():
            model.head.net[-1].bias[5] = 2.0                                # dispersion k = sigmoid(2 - 2.2) ~ 0.45
    with torch.no_grad():
        wander.head.net[-1].bias[6] = 4.0 * math.atanh(math.log(6 / H_) / 4)   # tau_v = 6 steps
    outs = {}
    for name, model in (("steady", steady), ("wander", wander)):
        with torch.no_grad():
            out = model(x, lc, n_paths=20000, generator=torch.Generator().manual_seed(2))
        inc = torch.diff(torch.log(out.paths.double()), dim=-1)
        outs[name] = (inc - out.extras["drift"][:, None, :]) / out.extras["vol"][:, None, :]
    for name, z in outs.items():
        assert float(z.var(dim=1).mean()) == pytest.approx(1.0, abs=0.03), name      # each step's variance kept
    with torch.no_grad():
        tau = float(wander.head(wander.backbone(x), 2).extras["vol_time_scale"][0])
    assert tau == pytest.approx(6.0, rel=1e-4)

    def abs_corr(z, lag):  # correlation of |increments| lag steps apart: vol clustering within a path
        a, b = z[..., :-lag].abs(), z[..., lag:].abs()
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        return float((a * b).mean() / (a.std() * b.std()))
    assert abs_corr(outs["steady"], 40) == pytest.approx(abs_corr(outs["steady"], 1), abs=0.01)  # one level
    assert abs_corr(outs["wander"], 1) > 0.05 and abs_corr(outs["wander"], 40) < 0.01        # it wanders
    out = wander(x, lc, n_paths=64, generator=torch.Generator().manual_seed(1))
    out.paths[:, :, -1].std(dim=1).sum().backward()
    assert wander.head.net[-1].bias.grad[6] != 0


@pytest.mark.parametrize("head", sorted(HEAD_PARAMS))
def test_heads_simulate_in_float32_under_autocast(head):
    """Under autocast (bf16 here on CPU; the same code runs fp16/bf16 on CUDA) the backbone's
    output is half precision, but every head draws its noise and builds its time fractions in
    float32: the paths are float32, finite and positive, and match the fp32 model's paths to
    the precision bf16 matmuls allow."""
    model = model_for(head, horizon=288)  # fractions k/288 are not representable in bf16
    x, lc = inputs()
    with torch.no_grad():
        want = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1)).paths
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = model.backbone(x)
            logret = model.head(h, N, torch.Generator().manual_seed(1)).logret
            out = model(x, lc, n_paths=N, generator=torch.Generator().manual_seed(1))
    assert h.dtype == torch.bfloat16  # autocast is really on
    assert logret.dtype == torch.float32
    p = out.paths
    assert p.dtype == torch.float32 and torch.isfinite(p).all() and (p > 0).all()
    # the same noise (fp32 draws from the same generator): only the network's bf16 rounding differs
    rel = ((p[..., -1] - want[..., -1]).abs() / want[..., -1]).max()
    assert float(rel) < 0.05


def test_noise_is_float32_for_half_inputs():
    from synthwb.models.simulate import normal, uniform

    for dt in (torch.bfloat16, torch.float16):
        like = torch.zeros(2, dtype=dt)
        assert normal((4, 5), like, None).dtype == torch.float32
        assert uniform((4, 5), like, None).dtype == torch.float32
    assert normal((3,), torch.zeros(1, dtype=torch.float64), None).dtype == torch.float64


def test_bridge_ends_exactly_at_its_macro_return_under_autocast():
    model = model_for("bridge", horizon=288)
    x, _ = inputs()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.head(model.backbone(x), N, torch.Generator().manual_seed(2))
    assert out.logret.dtype == torch.float32
    assert torch.equal(out.logret[..., -1], out.extras["macro"].to(torch.float32))
