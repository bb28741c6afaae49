"""The options every research command shares for where it runs: ``--backend local|ray``,
``--ray-address ADDR`` and the per-trial resources (:mod:`synthwb.research.backend`)."""
from __future__ import annotations


def add_backend_args(p) -> None:
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local: one trial after another in this process; ray: Ray Tune trials / Ray tasks")
    p.add_argument("--ray-address", dest="ray_address", default=None,
                   help="Ray cluster to join: auto (a `ray start` on this machine) or ray://HOST:10001; "
                        "default: start a local Ray sized to this machine")
    p.add_argument("--cpus-per-trial", dest="cpus_per_trial", type=float, default=1.0,
                   help="CPUs each Ray trial or task reserves (default 1)")
    p.add_argument("--gpus-per-trial", dest="gpus_per_trial", type=float, default=0.0,
                   help="GPUs each Ray trial or task reserves (default 0; fractions share a GPU)")


def ray_options(args):
    """The RayOptions the arguments ask for (None with the local backend)."""
    from synthwb.core.errors import SpecError
    from synthwb.research.backend import RayOptions

    if args.backend != "ray":
        if args.ray_address:
            raise SpecError("--ray-address needs --backend ray")
        return None
    return RayOptions(address=args.ray_address, cpus=args.cpus_per_trial, gpus=args.gpus_per_trial)
