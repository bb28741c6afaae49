"""The validator rule sets as data (synthwb/scoring/versions.py) and `synthwb validators`."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from synthwb.core.errors import SpecError
from synthwb.scoring.synth import TASKS, get_task
from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_validator, keeper_index, validator_names


def test_versions_name_their_source_and_newest_is_default():
    assert validator_names() == ["2026-09", "2026-05"]
    assert DEFAULT_VALIDATOR == "2026-09"
    assert get_validator(None).name == get_validator("").name == "2026-09"
    old, new = get_validator("2026-05"), get_validator("2026-09")
    assert (old.repository, old.commit, old.date) == ("mode-network/synth-subnet", "ec8a625", "2026-05-29")
    assert (new.repository, new.commit, new.date) == ("synthdataco/synth-subnet", "2cfb24b", "2026-09-22")
    with pytest.raises(SpecError, match="known: 2026-09, 2026-05"):
        get_validator("2025-01")


def test_task_presets_per_version():
    # 24h: 288 + 48 + 8 + 1 terms in both; 1h: 121 price terms, + 1 + 4 + 12 vol blocks from 2026-09
    assert get_task("24h", "2026-05").n_terms() == get_task("24h", "2026-09").n_terms() == 345
    assert get_task("1h", "2026-05").n_terms() == 121
    t = get_task("1h", "2026-09")
    assert t.n_terms() == 138 and t.n_vol_terms() == 17
    assert [(b.name, b.seconds) for b in t.vol_blocks] == [("vol_60min", 3600), ("vol_15min", 900), ("vol_5min", 300)]
    assert [b.weight for b in t.vol_blocks] == pytest.approx([5.25 / 3, 5.25 / 12, 5.25 / 36], rel=1e-15)
    assert TASKS["1h"] is get_task("1h")  # the module presets are the default version's
    assert not get_task("24h").vol_blocks
    # the dict form keeps the blocks (custom tasks may carry them)
    assert get_task(t.to_dict()) == t


def test_competitions_and_shares():
    new = get_validator("2026-09")
    comps = new.competitions
    assert set(comps) == {"crypto-1h", "crypto-24h", "comequ-24h"}
    assert comps["crypto-1h"].assets == ("BTC", "ETH", "SOL", "XRP", "HYPE")
    assert (comps["crypto-1h"].window_days, comps["crypto-1h"].beta) == (5, -0.3)
    assert (comps["crypto-24h"].window_days, comps["crypto-24h"].beta) == (10, -0.15)
    assert set(comps["comequ-24h"].assets) == {"XAU", "NVDAX", "GOOGLX", "TSLAX", "AAPLX", "WTIOIL", "SPCX", "SP500"}
    assert sum(c.share for c in comps.values()) == pytest.approx(1.0)
    assert new.vhft is not None and new.vhft.share == 0.25 and not new.vhft.scored
    assert new.owner_share == 0.0
    old = get_validator("2026-05")
    assert sum(c.share for c in old.competitions.values()) == pytest.approx(1.0)
    assert old.owner_share == 0.5
    assert new.asset_weight("SP500") == 3.437935601155441 and new.asset_weight("SPCX") == 0.4329342627683478
    assert "SPYX" not in new.asset_weights and old.asset_weight("SPYX") == 3.437935601155441
    assert new.asset_weight("DOGE") == 1.0
    assert (old.start_extra_s["1h"], new.start_extra_s["1h"], new.start_extra_s["24h"]) == (60, 0, 60)


def test_keeper_rules():
    ids = [101, 102, 103, 104]
    assert keeper_index(ids, "min-id") == 0
    digests = [hashlib.md5(f"{i}salt".encode()).hexdigest() for i in ids]
    assert keeper_index(ids, "md5", "salt") == digests.index(min(digests))
    digests = [hashlib.md5(str(i).encode()).hexdigest() for i in ids]
    assert keeper_index(ids, "md5") == digests.index(min(digests))
    with pytest.raises(SpecError):
        keeper_index([], "md5")


def test_validators_cli():
    out = subprocess.run([sys.executable, "-m", "synthwb", "validators", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["version"] for r in rows] == ["2026-09", "2026-05"] and rows[0]["default"] == "yes"
    out = subprocess.run([sys.executable, "-m", "synthwb", "validators", "2026-05"], capture_output=True, text=True)
    assert out.returncode == 0 and "ec8a625" in out.stdout and "p90-cap" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "synthwb", "validators", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown validator version")


def test_a_run_saved_before_versions_reads_as_2026_05(tmp_path):
    from synthwb.store import runs
    from synthwb.train.config import TrainConfig

    old = runs.create_run("old", tmp_path, config={"synth_task": "1h", "epochs": 1})
    assert runs.read_info(old, tmp_path)["config"]["validator"] == "2026-05"
    new = runs.create_run("new", tmp_path, config=TrainConfig(synth_task="1h").model_dump())
    assert runs.read_info(new, tmp_path)["config"]["validator"] == "2026-09"
