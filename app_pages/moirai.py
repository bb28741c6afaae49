"""Moirai: Salesforce's foundation model as one more kind of model.

Pick a checkpoint (catalogue or local folder; its licence and limits are shown), a feature set,
the target, covariates, context / horizon / patch / samples with the live token budget, preview
a zero-shot fan chart at an origin, then fine-tune it in a background job (same live curves,
stop and resume as path training) or save it as a zero-shot run for Backtest and Compare.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from synthwb.charts.forecast import fan_chart
from synthwb.charts.train import curves_figure
from synthwb.core.errors import SynthwbError
from synthwb.features.featureset import list_featuresets, load_featureset
from synthwb.forecast.kinds import moirai_forecaster
from synthwb.moirai.checkpoints import CATALOGUE, load_checkpoint
from synthwb.moirai.finetune import MoiraiFinetuneConfig, moirai_train, prepare
from synthwb.moirai.forecast import OHLCV_COVARIATES, MoiraiSpec, token_budget
from synthwb.moirai.versions import capabilities
from synthwb.store import runs
from ui import jobs as bg
from ui import state
from ui.widgets import CONTEXT, HELP_CONTEXT, HORIZON

S = st.session_state
STORE = str(state.store_root())
ROOT = str(state.lake_root())
JOB_KEY = "moirai_job"
STATUS_COLOUR = {"works": "green", "limited": "orange", "broken": "red", "missing": "gray"}

st.title("Moirai")
st.caption("Salesforce's time-series foundation model (uni2ts): zero-shot or fine-tuned, scored by Backtest "
           "and Compare like every model.")


@st.cache_data(show_spinner=False)
def _caps() -> list[dict]:
    return capabilities()


with st.expander("What works with this install (uni2ts / gluonts / torch)", icon=":material/fact_check:"):
    for r in _caps():
        st.markdown(f":{STATUS_COLOUR.get(r['status'], 'gray')}-badge[{r['status']}] **{r['feature']}**: "
                    f"{r['reason']}")

fsets = list_featuresets(STORE)
if not fsets:
    st.info("No saved feature sets yet: build one on the Feature Lab page first.", icon=":material/science:")
    st.stop()

# ------------------------------------------------------------------------------ model
st.subheader("Model")
c1, c2 = st.columns([1, 2])
source = c1.radio("Source", ["Catalogue (hub)", "Local folder"], key="mo_source", horizontal=True)
if source == "Local folder":
    ckpt = c2.text_input("Folder with config.json + model.safetensors", key="mo_dir",
                         placeholder="/path/to/moirai-1.1-R-small").strip()
else:
    ckpt = c2.selectbox("Checkpoint", list(CATALOGUE), key="mo_hub",
                        format_func=lambda k: f"{k}  ·  {CATALOGUE[k].params}")
known = CATALOGUE.get(ckpt)
if known:
    st.caption(f"Licence **{known.licence}** (non-commercial) · family {known.family} · d_model {known.d_model}, "
               f"{known.num_layers} layers · patch sizes {list(known.patch_sizes)} · max_seq_len {known.max_seq_len} · "
               f"[model card]({known.url})")
    for lim in known.limits:
        st.caption(f":material/warning: {lim}")
if not ckpt:
    st.info("Enter the folder of a downloaded checkpoint (see the README: huggingface-cli download).")
    st.stop()


def _offline_advice(ref: str) -> str:
    """What to do when a catalogue checkpoint is not on this machine (no raw hub error)."""
    import os

    cache = os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return (f"**{ref}** is not on this machine (looked in the Hugging Face cache, `{cache}`). "
            "With internet, press **Download from the hub**. Without internet: on a machine that has it run "
            f"`huggingface-cli download {ref} --local-dir DIR`, copy DIR here and choose **Local folder** above, "
            "or set `HF_HOME` to a Hugging Face cache that holds it before starting the app.")


def _download(ref: str) -> None:
    """One attempt to fetch a catalogue checkpoint, with feedback while the hub client retries;
    a failure is kept for this session (the page does not try again on every visit)."""
    with st.status(f"Downloading {ref} from the Hugging Face hub...", expanded=True) as box:
        st.write("Without internet the hub client retries for up to about 30 s before giving up.")
        try:
            load_checkpoint(ref, local_files_only=False)
        except SynthwbError:
            S.setdefault("mo_hub_failed", {})[ref] = True
            box.update(label=f"Could not download {ref}: no connection to the Hugging Face hub", state="error")
            return
        S.get("mo_hub_failed", {}).pop(ref, None)
        box.update(label=f"Downloaded {ref}", state="complete")


# a catalogue checkpoint is read from the local cache only: the page never blocks on the network
# by itself; "Download from the hub" is the one place that goes online, once per press
try:
    loaded = load_checkpoint(ckpt, local_files_only=source != "Local folder")
except SynthwbError as exc:
    if source == "Local folder":
        state.show_error(exc)
        st.stop()
    if st.button("Download from the hub", key="mo_download", icon=":material/download:"):
        _download(ckpt)
    try:
        loaded = load_checkpoint(ckpt, local_files_only=True)  # there now, if the download worked
    except SynthwbError:
        if S.get("mo_hub_failed", {}).get(ckpt):
            st.error(f"The last download of **{ckpt}** failed: this machine cannot reach the Hugging Face hub "
                     "(no internet?).", icon=":material/cloud_off:")
        st.info(_offline_advice(ckpt), icon=":material/folder_open:")
        st.stop()
info = loaded.info
patch_sizes = info["patch_sizes"]
if not known:
    st.caption(f"Licence: {info['licence']} · family {info['family']} · d_model {info['d_model']}, "
               f"{info['num_layers']} layers · {info['n_params']:,} parameters · patch sizes {patch_sizes} · "
               f"max_seq_len {info['max_seq_len']}")

# ------------------------------------------------------------------------------ spec
st.subheader("Forecast")
names = [f["name"] for f in fsets]
fs_name = st.selectbox("Feature set", names, key="mo_fs")
fs = load_featureset(fs_name, STORE)
a, b, c, d, e = st.columns(5)
context = a.number_input(CONTEXT, 8, 16384, 512, key="mo_context", help=HELP_CONTEXT)
horizon = b.number_input(HORIZON, 1, 8192, 288, key="mo_horizon",
                         help="points Moirai forecasts after t0; its path step is the feature set's bar")
patch = c.selectbox("Patch size", ["auto", *patch_sizes], index=1 + patch_sizes.index(32) if 32 in patch_sizes else 0,
                    key="mo_patch")
samples = d.number_input("Samples", 1, 20000, 1000, key="mo_samples")
target = e.selectbox("Target", ["close", "logret"], key="mo_target")
options = [*OHLCV_COVARIATES, *[col for col in fs.feature_cols if col not in OHLCV_COVARIATES]]
options = [o for o in options if not (target == "close" and o == "close")]
covs = st.multiselect("Past covariates (OHLCV and the feature set's columns)", options, key="mo_covs")
try:
    spec = MoiraiSpec.parse({"checkpoint": ckpt, "context": int(context), "horizon": int(horizon),
                             "patch_size": patch, "samples": int(samples), "target": target, "covariates": covs})
except SynthwbError as exc:
    state.show_error(exc)
    st.stop()
budget = token_budget(spec, patch_sizes, info["max_seq_len"])
m1, m2, m3 = st.columns(3)
m1.metric("Tokens per forecast", budget["tokens"], help="variates x ceil((context + horizon) / patch)")
m2.metric("Variates", budget["variates"])
m3.metric("max_seq_len", budget["max_seq_len"])
if budget["warning"]:
    st.warning(budget["warning"], icon=":material/warning:")
if info["family"] == "moirai-2":
    st.caption(":material/stacked_line_chart: Moirai 2 predicts 9 quantiles per step, not paths: synthwb joins them "
               "into joint price paths (quantiles-to-paths layer: fitted tails, random-walk Gaussian copula, a per-path "
               "volatility factor). Its runs score on any task step, e.g. the 1-minute 1h task from 5-minute bars. "
               "The patch size is the model's own (16).")

# ------------------------------------------------------------------------------ preview
st.subheader("Zero-shot preview")
bars = state.bars(fs.sel)
p1, p2, p3 = st.columns([2, 1, 1])
back = p1.slider("Origin: bars before the end of the data", 0, max(0, bars.height - 2), min(int(horizon),
                 max(0, bars.height - 2)), key="mo_back")
origin = bars["ts"][bars.height - 1 - int(back)]
p1.caption(f"origin {origin} · {fs.sel.symbol} {fs.freq}")
n_prev = p2.number_input("Preview paths", 10, 5000, min(int(samples), 500), key="mo_prev_paths")
if p3.button("Preview", key="mo_preview", icon=":material/show_chart:", type="primary"):
    try:
        with st.spinner("Sampling Moirai..."):
            f = moirai_forecaster(spec, fs, module=loaded.module, checkpoint_info=info, root=ROOT)
            paths = f.forecast(bars, [origin], int(horizon), f.bar_seconds, n_paths=int(n_prev))[0]
        i0 = bars.height - 1 - int(back)
        real = bars["close"].to_numpy()[i0 + 1: i0 + 1 + int(horizon)]
        S.mo_preview_fig = fan_chart(paths, realised=real if len(real) else None, n_sample_paths=5,
                                     title=f"{ckpt} · {fs.sel.symbol} from {origin} ({int(horizon)} x {fs.freq})")
        S.mo_preview_txt = (f"t0 {paths[0, 0]:.6g} · median at the horizon {np.median(paths[:, -1]):.6g} · "
                            f"90% band {np.quantile(paths[:, -1], 0.05):.6g} – {np.quantile(paths[:, -1], 0.95):.6g}")
    except SynthwbError as exc:
        state.show_error(exc)
if S.get("mo_preview_fig") is not None:
    st.plotly_chart(S.mo_preview_fig, key="mo_fan")
    st.caption(S.get("mo_preview_txt", ""))

# ------------------------------------------------------------------------------ fine-tune
st.subheader("Fine-tune or save")
can_ft = bool(info.get("finetune")) and spec.patch_size != "auto"
if not info.get("finetune"):
    st.info(f"{info['family']} cannot be fine-tuned here (uni2ts 2.0.0 has no fine-tune class for it).")
elif spec.patch_size == "auto":
    st.info("Fine-tuning needs a fixed patch size; pick one above (auto is fine for zero-shot runs).")
with st.form("mo_ft"):
    f1, f2, f3, f4 = st.columns(4)
    pattern = f1.selectbox("Pattern", ["full", "freeze_ffn", "head"], key="mo_pattern")
    epochs = f2.number_input("Epochs", 1, 10_000, 1, key="mo_epochs")
    max_steps = f3.number_input("Max steps (0: all)", 0, 1_000_000, 200, key="mo_max_steps")
    batch = f4.number_input("Batch size", 1, 4096, 16, key="mo_batch")
    g1, g2, g3, g4 = st.columns(4)
    lr = g1.number_input("Learning rate", 1e-7, 1.0, 1e-4, format="%.1e", key="mo_lr")
    wd = g2.number_input("Weight decay", 0.0, 1.0, 0.01, key="mo_wd")
    patience = g3.number_input("Patience (validations)", 0, 1000, 3, key="mo_patience")
    val_every = g4.number_input("Validate every N steps (0: twice an epoch)", 0, 100_000, 0, key="mo_val_every")
    st.caption("AdamW · 10% linear warm-up, then cosine with 3 restarts · loss: NLL of the model's mixture · "
               "early stopping on the validation NLL")
    run_name = st.text_input("Run name", f"moirai-{fs_name}", key="mo_name")
    s1, s2 = st.columns(2)
    start = s1.form_submit_button("Start fine-tune", type="primary", icon=":material/play_arrow:", key="mo_start",
                                  disabled=not can_ft or bg.busy(JOB_KEY))
    save_zs = s2.form_submit_button("Save zero-shot run", icon=":material/save:", key="mo_save_zs")
cfg = {"finetune": pattern, "epochs": int(epochs), "max_steps": int(max_steps), "batch_size": int(batch),
       "lr": float(lr), "weight_decay": float(wd), "patience": int(patience), "val_every": int(val_every)}
if start:
    try:
        prepare(fs, spec, MoiraiFinetuneConfig.parse(cfg), STORE)
        bg.submit(JOB_KEY, "moirai", run_name.strip() or f"moirai-{fs_name}",
                  name=run_name.strip() or f"moirai-{fs_name}", featureset=fs_name,
                  spec=spec.model_dump(mode="json"), config=cfg)
        st.rerun()
    except SynthwbError as exc:
        state.show_error(exc)
if save_zs:
    try:
        res = moirai_train(run_name.strip() or f"moirai-{fs_name}", fs, spec, {"finetune": "none"}, store=STORE,
                           root=ROOT)
        st.success(f"Saved zero-shot run `{res.run_id}`: score it on the Backtest or Compare page.",
                   icon=":material/check_circle:")
    except SynthwbError as exc:
        state.show_error(exc)

job = bg.job(JOB_KEY)
if job is not None:
    st.markdown(f"#### {job.name} · `{job.status}`")
    hist = job.metrics
    if any(r.get("kind") in ("train", "val") for r in hist):
        st.plotly_chart(curves_figure(hist, title="Moirai fine-tune"), key="mo_curves")
    result = bg.outcome(JOB_KEY, stopped="Stopped: the run is saved as interrupted (last weights kept).")
    if result is not None:
        best = result.best.get("val_loss")
        st.success(f"run `{result.run_id}` {result.status} at step {result.step}"
                   + (f" · best val NLL {best:.4f}" if best is not None else "") + f" · {result.stop_reason or ''}",
                   icon=":material/check_circle:")

moirai_runs = [r for r in runs.list_runs(STORE) if (r.get("model") or "").startswith("moirai/")]
if moirai_runs:
    st.markdown("##### Saved Moirai runs")
    st.dataframe([{**{k: r.get(k) for k in ("run_id", "status", "model", "featureset", "symbol", "freq", "step",
                                            "created")}, "status": r["label"] if r.get("usable") else r["status"]}
                  for r in moirai_runs], hide_index=True)
