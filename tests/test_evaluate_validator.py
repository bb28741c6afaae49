"""The validator's response rules (each refusal, with its reason), the 8-digit export and
its round trip, and `synthwb forecast` on a real trained run."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from synthwb.evaluate.validator import (
    CORRECT,
    check_paths,
    read_response,
    round_8_significant,
    round_price,
    to_response,
    validate_response,
    write_response,
)

START = int(datetime(2024, 1, 10, 12, 2, tzinfo=UTC).timestamp())  # 1704888120


def good(n_paths=1000, n_points=61, inc=60, start=START):
    return [start, inc] + [[100.5] * n_points for _ in range(n_paths)]


def test_a_correct_response_passes():
    assert START == 1704888120
    assert validate_response(good(), "1h", START) == CORRECT
    assert validate_response(good(n_points=289, inc=300), "24h", "2024-01-10T12:02:00") == CORRECT


@pytest.mark.parametrize("response, reason", [
    (None, "Response is empty"),
    ([], "Response is empty"),
    ({"a": 1}, "Response format is incorrect: expected tuple or list, got <class 'dict'>"),
    ([float(START), 60], "Start time format is incorrect: expected int, got <class 'float'>"),
    ([START, "60"], "Time increment format is incorrect: expected int, got <class 'str'>"),
    ([START + 60, 60], f"Start time timestamp is incorrect: expected {START}, got {START + 60}"),
    ([START, 300], "Time increment is incorrect: expected 60, got 300"),
])
def test_header_refusals(response, reason):
    assert validate_response(response, "1h", START) == reason


def test_path_count_points_and_digits_refusals():
    assert validate_response(good(n_paths=999), "1h", START) == "Number of paths is incorrect: expected 1000, got 999"
    assert validate_response(good(n_paths=1001), "1h", START) == "Number of paths is incorrect: expected 1000, got 1001"
    r = good()
    r[5] = r[5][:-1]
    assert validate_response(r, "1h", START) == "Number of time points is incorrect: expected 61, got 60"
    r = good()
    r[7] = tuple(r[7])
    assert validate_response(r, "1h", START) == "Path format is incorrect: expected list, got <class 'tuple'>"
    r = good()
    r[3][10] = "100.5"
    assert validate_response(r, "1h", START) == "Price format is incorrect: expected int or float, got <class 'str'>"
    r = good()
    r[3][10] = 67123.4567  # 9 digits
    assert validate_response(r, "1h", START) == "Price format is incorrect: too many digits 67123.4567"
    r[3][10] = 67123.457  # 8 digits
    assert validate_response(r, "1h", START) == CORRECT
    r[3][10] = 0.12345678  # the leading zero counts: "012345678" is 9 digits
    assert validate_response(r, "1h", START) == "Price format is incorrect: too many digits 0.12345678"


def test_scoring_refusals_zero_nan_negative():
    r = good()
    r[2][0] = 0.0
    assert validate_response(r, "1h", START) == "Zero price encountered in simulation runs"
    r[2][0] = math.nan
    assert validate_response(r, "1h", START).startswith("Price is not finite")
    r[2][0] = -5.0
    assert validate_response(r, "1h", START) == "Negative price -5.0"


def test_path_count_follows_the_request():
    assert validate_response(good(n_paths=8), "1h", START, n_paths=8) == CORRECT


def test_rounding_to_eight_significant_digits():
    # by hand: 8 significant digits
    assert round_8_significant(67123.456789) == 67123.457
    assert round_8_significant(1.23456789012) == 1.2345679
    assert round_8_significant(123456789.4) == 123456790.0
    assert round_8_significant(0.0) == 0.0
    # below 1 the validator counts the leading zero: 7 significant digits remain
    assert round_8_significant(0.123456789) == 0.12345679
    assert round_price(0.123456789) == 0.1234568
    assert round_price(67123.456789) == 67123.457
    for x in (67123.456789, 3021.123456, 0.987654321, 1.0000000001, 99999999.9, 0.00012345678):
        assert len(str(round_price(x)).replace(".", "")) <= 8, x


def test_export_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    paths = 67000 * np.exp(np.cumsum(rng.normal(0, 1e-3, size=(1000, 61)), axis=1))
    resp = to_response(paths, "2024-01-10T12:02:00", "1h")
    assert resp[0] == START and resp[1] == 60 and len(resp) == 1002
    out = write_response(resp, tmp_path / "r.json")
    back = read_response(out)
    assert back == resp  # exact: JSON keeps the shortest repr of each float
    assert validate_response(back, "1h", START) == CORRECT
    arr = np.array(back[2:])
    np.testing.assert_allclose(arr, paths, rtol=5.1e-8, atol=0)  # 8 significant digits
    assert check_paths(paths, "1h") == CORRECT
    assert check_paths(paths[:10], "1h").startswith("Number of paths is incorrect")
    bad = paths.copy()
    bad[0, 3] = np.nan
    assert check_paths(bad, "1h").startswith("Price is not finite")
    # a response with NaN is not written (JSON has no NaN) and leaves no file
    with pytest.raises(ValueError):
        write_response(to_response(bad, START, "1h"), tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def one_minute_run(demo_lake, tmp_path_factory):
    """A real tiny run on 1-minute BTC bars whose horizon (63 steps) covers the 1h task's lead."""
    from train_support import make_featureset, tiny_config

    from synthwb.train import train

    store = tmp_path_factory.mktemp("store")
    make_featureset(demo_lake, store, name="tiny1m", freq="1min")
    train("fc-run", "tiny1m", "dlinear-gbm", tiny_config(max_steps=2, synth_task="1h"), store=store, root=demo_lake,
          context=32, horizon=63)
    return store


def run_cli(args, capsys):
    from synthwb.cli import main

    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_forecast_command_writes_a_correct_response(one_minute_run, demo_lake, tmp_path, capsys):
    out = tmp_path / "resp.json"
    rc, stdout, err = run_cli(["forecast", "--run", "fc-run", "--at", "2024-01-10T12:00:30", "--task", "1h",
                               "--out", str(out), "--root", str(demo_lake), "--store", str(one_minute_run),
                               "--json", "--seed", "3"], capsys)
    assert rc == 0, err
    facts = json.loads(stdout)
    resp = json.loads(out.read_text())
    # request 12:00:30 -> start 12:02:00; last 1-minute close 12:00 -> lead 180 s, simulated
    assert resp[0] == START and resp[1] == 60
    assert validate_response(resp, "1h", START) == CORRECT
    assert facts["start_time"] == "2024-01-10T12:02:00+00:00" and facts["last_close_time"] == "2024-01-10T12:00:00+00:00"
    assert facts["lead_s"] == 180 and facts["lead_simulated_s"] == 180
    arr = np.array(resp[2:])
    assert arr.shape == (1000, 61) and (arr > 0).all()
    # t0 is the model's estimate 3 minutes after the last close: spread, not the last close itself
    assert arr[:, 0].std() > 0
    assert abs(np.median(arr[:, 0]) / facts["last_close"] - 1) < 0.01
    # the text form
    rc, stdout, err = run_cli(["forecast", "--run", "fc-run", "--at", "2024-01-10T12:00:30", "--task", "1h",
                               "--out", str(tmp_path / "b.json"), "--root", str(demo_lake),
                               "--store", str(one_minute_run), "--n-paths", "16"], capsys)
    assert rc == 0, err
    assert "start 2024-01-10T12:02:00+00:00" in stdout and "validator asks for 1000" in stdout


def test_forecast_command_bad_input(one_minute_run, demo_lake, tmp_path, capsys):
    base = ["--root", str(demo_lake), "--store", str(one_minute_run)]
    out = tmp_path / "x.json"
    # the run's 63 one-minute steps cannot cover 24 hours
    rc, _, err = run_cli(["forecast", "--run", "fc-run", "--task", "24h", "--out", str(out), *base], capsys)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and "longer horizon" in err
    assert not out.exists()
    rc, _, err = run_cli(["forecast", "--run", "nope", "--task", "1h", "--out", str(out), *base], capsys)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    rc, _, err = run_cli(["forecast", "--run", "fc-run", "--task", "1h", "--out", str(tmp_path / "x.txt"), *base],
                         capsys)
    assert rc == 2 and ".json" in err
    rc, _, err = run_cli(["forecast", "--run", "fc-run", "--task", "1h", "--at", "yesterday", "--out", str(out),
                          *base], capsys)
    assert rc == 2 and "cannot read 'yesterday'" in err
    rc, _, err = run_cli(["forecast", "--run", "fc-run", "--task", "1h", "--at", "2019-01-01", "--out", str(out),
                          *base], capsys)
    assert rc == 2 and err.startswith("error: ") and not out.exists()


def test_batch_verdicts_match_the_validator_on_exported_responses():
    from synthwb.evaluate.validator import batch_reasons

    rng = np.random.default_rng(0)
    task = "1h"
    paths = 100 * np.exp(np.cumsum(0.001 * rng.standard_normal((5, 1000, 61)), axis=2))
    paths[1, 10, 5] = np.nan
    paths[2, 3, 0] = 0.0
    paths[3, 7, 9] = -2.5
    got = batch_reasons(paths, task)
    want = [validate_response(to_response(p, 0, task), task, 0) for p in paths]
    assert got == [("" if w == CORRECT else w) for w in want]
    assert got[0] == got[4] == "" and got[3] == "Negative price -2.5"
    assert batch_reasons(paths[:, :999], task) == ["Number of paths is incorrect: expected 1000, got 999"] * 5
    assert batch_reasons(paths[:, :, :60], task) == ["Number of time points is incorrect: expected 61, got 60"] * 5
