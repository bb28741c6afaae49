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
OLD, NEW = "2026-05", "2026-09"  # validator versions: the character rule, the float32 rule


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
    assert validate_response(r, "1h", START, validator=OLD) == "Number of time points is incorrect: expected 61, got 60"
    r = good()
    r[7] = tuple(r[7])
    assert validate_response(r, "1h", START, validator=OLD) == "Path format is incorrect: expected list, got <class 'tuple'>"
    r = good()
    r[3][10] = "100.5"
    assert validate_response(r, "1h", START, validator=OLD) == "Price format is incorrect: expected int or float, got <class 'str'>"
    r = good()
    r[3][10] = 67123.4567  # 9 digits
    assert validate_response(r, "1h", START, validator=OLD) == "Price format is incorrect: too many digits 67123.4567"
    r[3][10] = 67123.457  # 8 digits
    assert validate_response(r, "1h", START, validator=OLD) == CORRECT
    r[3][10] = 0.12345678  # the leading zero counts: "012345678" is 9 digits
    assert validate_response(r, "1h", START, validator=OLD) == "Price format is incorrect: too many digits 0.12345678"


def test_scoring_refusals_zero_nan_negative():
    r = good()
    r[2][0] = 0.0
    assert validate_response(r, "1h", START, validator=OLD) == "Zero price encountered in simulation runs"
    r[2][0] = math.nan
    assert validate_response(r, "1h", START, validator=OLD).startswith("Price is not finite")
    r[2][0] = -5.0
    assert validate_response(r, "1h", START, validator=OLD) == "Negative price -5.0"


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
    assert check_paths(bad, "1h", validator=OLD).startswith("Price is not finite")
    assert check_paths(bad, "1h") == "Price format is incorrect: non-finite value nan"  # 2026-09
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
                               "--json", "--seed", "3", "--validator", OLD], capsys)
    assert rc == 0, err
    facts = json.loads(stdout)
    resp = json.loads(out.read_text())
    # 2026-05: request 12:00:30 -> start 12:02:00; last 1-minute close 12:00 -> lead 180 s, simulated
    assert resp[0] == START and resp[1] == 60
    assert validate_response(resp, "1h", START, validator=OLD) == CORRECT
    assert facts["validator"]["name"] == OLD and facts["validator"]["commit"] == "ec8a625"
    assert facts["start_time"] == "2024-01-10T12:02:00+00:00" and facts["last_close_time"] == "2024-01-10T12:00:00+00:00"
    assert facts["lead_s"] == 180 and facts["lead_simulated_s"] == 180
    arr = np.array(resp[2:])
    assert arr.shape == (1000, 61) and (arr > 0).all()
    # t0 is the model's estimate 3 minutes after the last close: spread, not the last close itself
    assert arr[:, 0].std() > 0
    assert abs(np.median(arr[:, 0]) / facts["last_close"] - 1) < 0.01
    # 2026-09 (the default): the 1h start is the next minute, 12:01, so the lead is 120 s
    out9 = tmp_path / "resp9.json"
    rc, stdout, err = run_cli(["forecast", "--run", "fc-run", "--at", "2024-01-10T12:00:30", "--task", "1h",
                               "--out", str(out9), "--root", str(demo_lake), "--store", str(one_minute_run),
                               "--json", "--seed", "3"], capsys)
    assert rc == 0, err
    facts9, resp9 = json.loads(stdout), json.loads(out9.read_text())
    assert resp9[0] == START - 60 and facts9["start_time"] == "2024-01-10T12:01:00+00:00"
    assert facts9["lead_s"] == 120 and facts9["validator"]["name"] == NEW
    assert validate_response(resp9, "1h", START - 60, validator=NEW) == CORRECT
    assert all(float(f"{v:.7e}") == v for row in resp9[2:] for v in row)
    # the text form
    rc, stdout, err = run_cli(["forecast", "--run", "fc-run", "--at", "2024-01-10T12:00:30", "--task", "1h",
                               "--out", str(tmp_path / "b.json"), "--root", str(demo_lake),
                               "--store", str(one_minute_run), "--n-paths", "16"], capsys)
    assert rc == 0, err
    assert "start 2024-01-10T12:01:00+00:00" in stdout and "validator asks for 1000" in stdout
    assert "validator 2026-09 (synthdataco/synth-subnet@2cfb24b) check: CORRECT" in stdout


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
    v = OLD
    paths = 100 * np.exp(np.cumsum(0.001 * rng.standard_normal((5, 1000, 61)), axis=2))
    paths[1, 10, 5] = np.nan
    paths[2, 3, 0] = 0.0
    paths[3, 7, 9] = -2.5
    got = batch_reasons(paths, task, v)
    want = [validate_response(to_response(p, 0, task, v), task, 0, validator=v) for p in paths]
    assert got == [("" if w == CORRECT else w) for w in want]
    assert got[0] == got[4] == "" and got[3] == "Negative price -2.5"
    assert batch_reasons(paths[:, :999], task) == ["Number of paths is incorrect: expected 1000, got 999"] * 5
    assert batch_reasons(paths[:, :, :60], task) == ["Number of time points is incorrect: expected 61, got 60"] * 5


# ------------------------------------------------------------------------- rules by version


@pytest.mark.parametrize("point, old_ok, new_reason", [
    (100.5, True, None),
    (67123.457, True, None),
    (0.12345678, False, None),              # 8 significant digits: the leading zero counts only for chars8
    (123456789.0, False, "too many digits 123456789.0"),
    (67123.4567, False, "too many digits 67123.4567"),
    (True, False, "expected int or float, got <class 'bool'>"),
    ("1.0", False, "expected int or float, got <class 'str'>"),
    (1e39, True, "exceeds float32 range 1e+39"),     # "1e+39" is five characters
    (1e-46, True, "underflows float32 1e-46"),
    (float("nan"), True, "non-finite value nan"),
    (-5.0, True, None),                     # negative prices: a format pass under both
    (10**400, False, "too many digits " + str(10**400)),
    (12345678, True, None),
    (3.4028235e38, False, None),            # float32's largest value at 8 digits ("34028235e+38": 12 chars)
])
def test_point_rules_by_version(point, old_ok, new_reason):
    from synthwb.evaluate.validator import point_reason

    assert (point_reason(point, OLD) is None) == old_ok
    got = point_reason(point, NEW)
    assert got == (None if new_reason is None else f"Price format is incorrect: {new_reason}")


def test_whole_responses_by_version():
    r = good()
    r[3][10] = 0.12345678
    assert validate_response(r, "1h", START, validator=NEW) == CORRECT
    assert validate_response(r, "1h", START).startswith("Price format") is False  # the default is the newest
    assert validate_response(r, "1h", START, validator=OLD) == "Price format is incorrect: too many digits 0.12345678"
    r[3][10] = -5.0  # negative prices: accepted by 2026-09, refused when scoring under 2026-05
    assert validate_response(r, "1h", START, validator=NEW) == CORRECT
    assert validate_response(r, "1h", START, validator=OLD) == "Negative price -5.0"
    r[3][10] = 0.0  # a zero price scores -1 under both
    assert validate_response(r, "1h", START, validator=NEW) == "Zero price encountered in simulation runs"
    # 2026-09 checks every path's shape before any point; 2026-05 path by path
    r = good()
    r[2][0] = True
    r[5] = r[5][:-1]
    assert validate_response(r, "1h", START, validator=NEW).startswith("Number of time points is incorrect")
    assert validate_response(r, "1h", START, validator=OLD).startswith("Price format is incorrect: expected int")
    with pytest.raises(Exception, match="unknown validator version"):
        validate_response(good(), "1h", START, validator="2020-01")


def test_to_response_rounds_to_what_the_version_accepts():
    from synthwb.evaluate.validator import round_sig8

    paths = np.array([[0.123456789, 67123.456789, 1.00000001234, 5e-7 + 1.234e-15]] * 2)
    task = {"name": "t", "step_seconds": 60, "n_points": 4, "intervals": [{"name": "1min", "seconds": 60}]}
    new = to_response(paths, START, task, NEW)
    old = to_response(paths, START, task, OLD)
    assert new[2] == [0.12345679, 67123.457, 1.0, round_sig8(5e-7 + 1.234e-15)]
    assert old[2][0] == 0.1234568 and old[2][1] == 67123.457  # the character rule keeps 7 digits below 1
    assert validate_response(new, task, START, 2, validator=NEW) == CORRECT
    assert validate_response(old, task, START, 2, validator=OLD) == CORRECT
    assert validate_response(new, task, START, 2, validator=OLD) != CORRECT  # 0.12345679 is 9 characters
    # a value past the float32 range is left for the check to refuse, with its reason
    big = to_response(np.array([[1e39, 1.0, 1.0, 1.0]] * 2), START, task, NEW)
    assert validate_response(big, task, START, 2, validator=NEW) == "Price format is incorrect: exceeds float32 range 1e+39"


def test_batch_verdicts_under_2026_09_match_the_exported_responses():
    from synthwb.evaluate.validator import batch_reasons

    rng = np.random.default_rng(1)
    paths = 100 * np.exp(np.cumsum(0.001 * rng.standard_normal((6, 1000, 61)), axis=2))
    paths[1, 10, 5] = np.nan
    paths[2, 3, 0] = 0.0
    paths[3, 7, 9] = -2.5
    paths[4, 0, 1] = 1e39
    paths[5, 2, 2] = 1e-47
    got = batch_reasons(paths, "1h", NEW)
    want = [validate_response(to_response(p, 0, "1h", NEW), "1h", 0, validator=NEW) for p in paths]
    assert got == [("" if w == CORRECT else w) for w in want]
    assert got[0] == got[3] == ""  # a negative price passes
    assert got[1] == "Price format is incorrect: non-finite value nan"
    assert got[2] == "Zero price encountered in simulation runs"
    assert got[4].endswith("exceeds float32 range 1e+39") and "underflows float32" in got[5]
