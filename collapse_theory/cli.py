"""The ``collapse-theory`` command line.

``get_parser()`` builds the parser and ``main(argv=None)`` runs it (tested by
calling ``main``). Each sub-command is a ``_add_NAME(subparsers)`` function
that registers its options and sets ``func`` to the function that runs it;
:data:`_COMMANDS` lists them. Heavy imports happen inside the run functions so
that ``collapse-theory --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["get_parser", "main"]


def _add_reproduce(sub):
    p = sub.add_parser("reproduce", help="run every study and run; write one self-contained HTML report")
    p.add_argument("--out", default="report", help="output directory (default: report/)")
    p.add_argument("--quick", action="store_true", help="small settings (about three minutes)")
    p.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    from .report import reproduce

    result = reproduce(args.out, quick=args.quick, only=args.only, seed=args.seed)
    if result.failed:
        print(f"failed sections: {', '.join(result.failed)}", file=sys.stderr)
        return 1
    return 0


def _add_verify(sub):
    p = sub.add_parser("verify", help="check every theory function against simulation; p-values, QQ plots")
    p.add_argument("--level", choices=("quick", "full"), default="quick", help="grid size (default: quick, seconds)")
    p.add_argument("--out", default="verify", help="output directory (default: verify/)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--alpha", type=float, default=1e-3, help="family-wise significance level (default 1e-3)")
    p.add_argument("--correction", choices=("holm", "bonferroni"), default="holm", help="multiple-testing correction (default holm)")
    p.add_argument("--check", nargs="+", metavar="NAME", help="run only these checks")
    p.set_defaults(func=_run_verify)


def _run_verify(args) -> int:
    from . import verify

    res = verify.run(args.level, out=args.out, rng=args.seed, alpha=args.alpha, correction=args.correction, checks=args.check)
    with_p = res.summary()
    print(with_p.drop(columns=["note"]).to_string(index=False))
    for name in res.skipped:
        print(f"skipped {name}: {res.status[name]['reason']}")
    for name in res.errors:
        print(f"ERROR {name}: {res.status[name]['reason']}", file=sys.stderr)
    verdict = "PASSED" if res.passed else f"FAILED ({', '.join(res.failed)})"
    print(
        f"verify {res.level}: {len(res.outcomes)} tests, {res.correction} correction at alpha={res.alpha:g}: "
        f"{verdict}; results in {args.out}/verify.json"
    )
    return 0 if res.passed else 1


def _add_vae(sub):
    p = sub.add_parser("vae", help="the paper's VAE generational run (extra [vae]: PyTorch); figures + summary")
    p.add_argument("--generations", type=int, default=5, help="number of generations (default 5)")
    p.add_argument("--out", default="runs/vae", help="output directory: run/ (the record), figures and summary (default runs/vae)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT/run from its last complete generation")
    p.add_argument("--mnist", metavar="DIR", help="directory with the MNIST IDX files (default: scikit-learn's digits)")
    p.add_argument("--real", type=float, default=0.0, help="share of real images in each descendant batch (fresh workflow; default 0 = replace)")
    p.add_argument("--epochs", type=int, help="epochs per generation (default 30 with --mnist, else 20; 4 with --quick)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, default=1e-5, help="Adam weight decay (default 1e-5)")
    p.add_argument("--latent-dim", type=int, default=20, help="latent dimension (default 20)")
    p.add_argument("--n-train", type=int, help="use only the first N training images")
    p.add_argument("--latent-draws", type=int, help="fixed latent draws decoded by each generation (default 1000)")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--quick", action="store_true", help="small settings (under two minutes on two CPU cores)")
    p.set_defaults(func=_run_vae)


def _run_vae(args) -> int:
    from pathlib import Path

    try:
        from .runs import vae
    except ImportError as exc:
        print(f"collapse-theory vae: {exc}", file=sys.stderr)
        return 2
    from .process import Mixing

    out = Path(args.out)
    run = vae.run(
        args.generations, rng=args.seed, out=out / "run", resume=args.resume, mnist=args.mnist,
        mixing=Mixing.fresh(real=args.real) if args.real else Mixing.replace(), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, latent_dim=args.latent_dim,
        n_train=args.n_train, latent_draws=args.latent_draws, device=args.device, threads=args.threads,
        quick=args.quick,
    )
    written = vae.write_outputs(run, out)
    print(written["summary"].to_string(index=False))
    print(f"run in {out / 'run'}; figures and summary in {out}")
    return 0


def _add_sweep(sub):
    p = sub.add_parser("sweep", help="run a study over a parameter grid (TOML), locally or on a Dask cluster; write Zarr")
    p.add_argument("grid", metavar="GRID.toml", help="the grid: study, seed, replicates, [fixed], [axes]")
    p.add_argument("--out", default=None, help="Zarr store (default: GRID's name with .zarr, here); resumed if it exists")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="existing Dask scheduler (tcp://host:port or a scheduler file)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: the machine's cores; 1: in this process)")
    p.set_defaults(func=_run_sweep)


def _run_sweep(args) -> int:
    from pathlib import Path

    from . import sweep

    grid = sweep.load_grid(args.grid)  # validated before anything starts
    out = args.out or f"{Path(args.grid).stem}.zarr"
    ds = sweep.run(grid, out, scheduler=args.scheduler, workers=args.workers)
    failed = int(ds.attrs.get("failed_cells", 0))
    print(f"sweep {grid.study}: {grid.size} cells, {failed} failed -> {out}")
    if failed:
        for key, err in zip(*sweep.failed_cells(ds)):
            print(f"  {key}: {err}", file=sys.stderr)
        return 1
    return 0


#: Sub-command registration functions, in help order.
_COMMANDS = [_add_reproduce, _add_verify, _add_vae, _add_sweep]


def get_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="collapse-theory",
        description="Theory and exact simulation of model collapse (Shumailov et al., Nature 2024).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"collapse-theory {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
