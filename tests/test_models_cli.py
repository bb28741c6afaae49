"""`python -m synthwb models ...` end to end in a subprocess: registries, presets, validate (good and broken)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "synthwb", "models", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_blocks_heads_presets_json():
    r = cli("blocks", "--json")
    assert r.returncode == 0, r.stderr
    blocks = {b["name"]: b for b in json.loads(r.stdout)}
    assert {"dlinear", "timesnet", "timemixer", "transformer", "lstm", "gru", "tcn", "fourier", "revin", "patchtst",
            "itransformer", "layernorm"} <= set(blocks)
    assert blocks["tcn"]["causal"] is True and blocks["patchtst"]["keeps_time"] is False
    assert {p["name"] for p in blocks["timesnet"]["params"]} == {"top_k", "num_kernels", "d_ff"}
    r = cli("heads", "--json")
    assert {"gbm", "horizon", "bridge", "mixture", "student_t"} <= {h["name"] for h in json.loads(r.stdout)}
    r = cli("presets")
    assert r.returncode == 0 and "hybrid-horizon" in r.stdout and "dlinear -> timesnet -> timemixer -> dlinear" in r.stdout


def test_validate_good_and_broken_spec(tmp_path):
    good = tmp_path / "good.json"
    r = cli("preset", "dlinear-gbm", "--n-features", "3", "--context", "32", "--horizon", "8", "--out", str(good))
    assert r.returncode == 0, r.stderr
    r = cli("validate", str(good), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["valid"] is True and data["total_params"] > 0
    assert [row["layer"] for row in data["layers"]] == ["input", "dlinear", "head:gbm", "anchor (ewma vol + season)"]
    r = cli("validate", str(good))
    assert r.returncode == 0 and "valid; 1 blocks, head gbm" in r.stdout

    spec = json.loads(good.read_text())
    spec["blocks"].append({"name": "timemixer", "params": {"layers": 4}})   # needs 2 * 2**4 = 32 steps: fits exactly
    spec["blocks"].append({"name": "patchtst", "params": {"patch_len": 16, "stride": 16, "pad_end": False}})
    spec["blocks"].append({"name": "timesnet", "params": {}})                # gets 2 patches, needs 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    r = cli("validate", str(bad), "--json")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert lines == ["error: block 3 (timesnet) receives input of shape (B, 2, 16) but needs at least 4 time steps "
                     "(min_len); lengthen the context or move it before blocks that shorten time"]


@pytest.mark.parametrize("content,needle", [
    ("{not json", "cannot read spec file"),
    ('{"blocks": [], "head": {"name": "gbm"}}', "n_features: Field required"),
    ('{"blocks": [{"name": "lstmx"}], "head": {"name": "gbm"}, "n_features": 2}', "unknown block 'lstmx'"),
])
def test_validate_reports_bad_files_in_one_line(tmp_path, content, needle):
    f = tmp_path / "s.json"
    f.write_text(content)
    r = cli("validate", str(f))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr


def test_validate_missing_file(tmp_path):
    r = cli("validate", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_specs_lists_saved(tmp_path):
    from synthwb.models import get_preset, save_spec

    save_spec("a-spec", get_preset("dlinear-gbm", 2, 16, 4), store=tmp_path)
    r = cli("specs", "--store", str(tmp_path), "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == ["a-spec"]
