"""`synthwb serve` (synthwb.live.serve) on loopback: valid responses under both validator versions
(checked with the version's own response rules), one clear 4xx JSON message per malformed
request, the token rule off loopback, and a burst of 50 concurrent requests all answered."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.validator import CORRECT, validate_response
from synthwb.live.serve import ForecastService, make_server

START = "2024-01-15T12:01:00+00:00"


@pytest.fixture(scope="module")
def garch_run(demo_lake, tmp_path_factory):
    """A real saved run: GARCH(1,1) fitted on the demo lake's 1-minute BTC bars (both tasks' grids)."""
    from synthwb.cli import main

    store = tmp_path_factory.mktemp("serve_store")
    assert main(["fit", "--root", str(demo_lake), "--store", str(store), "--name", "btc-garch", "--model", "garch",
                 "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--window-days", "3"]) == 0
    return store


def _serve(service, token=None):
    srv = make_server(service, "127.0.0.1", 0, token)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def _req(**kw):
    return {"asset": "BTC", "start_time": START, "time_increment": 60, "time_length": 3600,
            "num_simulations": 1000, **kw}


@pytest.mark.parametrize("validator", ["2026-09", "2026-05"])
def test_answers_are_valid_responses_of_the_version(demo_lake, garch_run, validator):
    srv, url = _serve(ForecastService("btc-garch", validator=validator, root=demo_lake, store=garch_run))
    try:
        with httpx.Client(timeout=120) as c:
            health = c.get(url + "/health").json()
            assert health["validator"] == validator and set(health["tasks"]) == {"24h", "1h"}
            for task, inc, length in (("1h", 60, 3600), ("24h", 300, 86400)):
                r = c.post(url + "/forecast", json=_req(time_increment=inc, time_length=length))
                assert r.status_code == 200, r.text
                body = r.json()
                out = body["simulation_output"]
                assert validate_response(out, task, START, 1000, validator) == CORRECT
                assert body["verdict"] == CORRECT and body["validator"] == validator
                assert out[0] == 1705320060 and out[1] == inc and len(out) == 1002
                # forecast from the bars closed when the validator asked: none after start - extra - 60 s
                facts = body["facts"]
                assert facts["last_bar_open"] < START and facts["lake_lag_s"] >= 0
            # a Unix timestamp start and a smaller path count are fine too
            r = c.post(url + "/forecast", json=_req(start_time=1705320060, num_simulations=100))
            assert r.status_code == 200 and len(r.json()["simulation_output"]) == 102
    finally:
        srv.shutdown()
        srv.server_close()


def test_malformed_requests_get_one_clear_4xx(demo_lake):
    srv, url = _serve(ForecastService("baseline:gbm", competition="crypto-1h", root=demo_lake))
    cases = [
        (b"{not json", 400, "not JSON"),
        (json.dumps([1, 2]).encode(), 400, "JSON object"),
        (json.dumps({"asset": "BTC"}).encode(), 400, "missing field(s): start_time"),
        (json.dumps(_req(time_increment=True)).encode(), 400, "time_increment must be a positive whole number"),
        (json.dumps(_req(time_increment=300)).encode(), 400, "no task of competition crypto-1h"),
        (json.dumps(_req(num_simulations=10**6)).encode(), 400, "over this service's limit"),
        (json.dumps(_req(start_time="yesterday")).encode(), 400, "start_time must be ISO 8601"),
        (json.dumps(_req(start_time="2024-01-15T12:01:30Z")).encode(), 400, "not on a whole minute"),
        (json.dumps(_req(asset="XAU")).encode(), 400, "does not count for Crypto 1h"),
        (json.dumps(_req(asset="XRP")).encode(), 404, "holds no crypto series of XRP"),
        (json.dumps(_req(start_time="2020-01-01T00:00:00Z")).encode(), 404, "too few 1min bars"),
    ]
    try:
        with httpx.Client(timeout=60) as c:
            for body, status, words in cases:
                r = c.post(url + "/forecast", content=body, headers={"Content-Type": "application/json"})
                assert r.status_code == status, (body, r.text)
                err = r.json()
                assert list(err) == ["error"] and words in err["error"], (body, err)
            r = c.post(url + "/nowhere", json=_req())
            assert r.status_code == 404 and "POST /forecast" in r.json()["error"]
            r = c.post(url + "/forecast", content=b"x" * (65 * 1024))
            assert r.status_code == 413
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_token_off_loopback_and_when_set(demo_lake):
    svc = ForecastService("baseline:gbm", root=demo_lake)
    with pytest.raises(SpecError, match="give a token"):
        make_server(svc, "0.0.0.0", 0, None)
    srv, url = _serve(svc, token="s3cret-token")
    try:
        with httpx.Client(timeout=60) as c:
            r = c.post(url + "/forecast", json=_req(num_simulations=10))
            assert r.status_code == 401 and "token" in r.json()["error"]
            r = c.post(url + "/forecast", json=_req(num_simulations=10), headers={"Authorization": "Bearer nope-nope"})
            assert r.status_code == 401
            r = c.post(url + "/forecast", json=_req(num_simulations=10),
                       headers={"Authorization": "Bearer s3cret-token"})
            assert r.status_code == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_cli_serve_refuses_a_public_bind_without_a_token(demo_lake, capsys, monkeypatch):
    from synthwb.cli import main

    monkeypatch.delenv("SYNTHWB_SERVE_TOKEN", raising=False)
    rc = main(["serve", "--root", str(demo_lake), "--run", "baseline:gbm", "--host", "0.0.0.0", "--port", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: serving on 0.0.0.0") and len(err.strip().splitlines()) == 1


def test_a_burst_of_50_concurrent_requests_is_all_answered(demo_lake, garch_run):
    srv, url = _serve(ForecastService("btc-garch", root=demo_lake, store=garch_run))
    starts = [f"2024-01-15T{10 + i // 60:02d}:{i % 60:02d}:00+00:00" for i in range(50)]

    def ask(start):
        with httpx.Client(timeout=300) as c:
            r = c.post(url + "/forecast", json=_req(start_time=start))
            return start, r.status_code, r.json()

    try:
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(ask, starts))
    finally:
        srv.shutdown()
        srv.server_close()
    assert [s for _, s, _ in results] == [200] * 50
    for start, _, body in results:
        assert validate_response(body["simulation_output"], "1h", start, 1000, "2026-09") == CORRECT
