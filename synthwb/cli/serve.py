"""`synthwb serve`: a local forecast service for a miner's neuron (issue 25).

    synthwb serve --run RUN [--competition KEY] [--validator V] [--host 127.0.0.1] [--port 8765]
                  [--token T] [--seed S] [--device D]

POST /forecast with the validator's request fields answers a response the version accepts
(:mod:`synthwb.live.serve`). Bound to anything but loopback it needs ``--token`` (or
``$SYNTHWB_SERVE_TOKEN``). ``--run baseline:gbm`` serves a baseline. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    from synthwb.cli import add_validator_arg

    p = sub.add_parser("serve", parents=[common], help="an HTTP forecast service answering the validator's requests")
    p.add_argument("--run", required=True, help="run id (or baseline:NAME)")
    p.add_argument("--competition", default=None, help="answer only this competition's task and assets")
    add_validator_arg(p, "answers")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", default=None, help="required bearer token (default: $SYNTHWB_SERVE_TOKEN)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_serve)


def _serve(args):
    import os
    import sys

    from synthwb.cli import Result
    from synthwb.live.serve import ForecastService, make_server

    token = args.token or os.environ.get("SYNTHWB_SERVE_TOKEN") or None
    service = ForecastService(args.run, competition=args.competition, validator=args.validator, root=args.root,
                              store=args.store, device=args.device, seed=args.seed)
    server = make_server(service, args.host, args.port, token)
    host, port = server.server_address[:2]
    desc = service.describe()
    sys.stderr.write(f"serving {args.run} on http://{host}:{port}/forecast (validator {desc['validator']}, tasks "
                     f"{', '.join(desc['tasks'])}{', token required' if token else ''}); Ctrl-C stops\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return Result({"run": args.run, "host": host, "port": port, "stopped": True}, "stopped")
