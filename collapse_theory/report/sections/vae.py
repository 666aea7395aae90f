"""Report section: the VAE generational run (Shumailov et al. 2024, Supplementary VAE experiment).

Runs :func:`collapse_theory.runs.vae.run` on scikit-learn's bundled digits
(no download) at a size that fits the report's budget, and shows the latent
densities per generation, the standard deviation of the latent means against
the paper's MNIST values, and decoded samples. Skipped, with the reason, when
PyTorch (the ``[vae]`` extra) is not installed.
"""

from __future__ import annotations

import importlib.util

from .._section import Section

TITLE = "VAE: latent codes of generated digits contract over generations"
SKIP_REASON = "the [vae] extra (PyTorch) is not installed: pip install collapse_theory[vae]"

#: Run settings by ``quick``. Full: about 1.5-2 minutes on two idle CPU cores
#: (1797 digits, 8 epochs per generation); quick: about 25 seconds (400
#: digits, 3 epochs of batch 64, see ``vae.run(quick=True)``).
SETTINGS = {
    True: {"generations": 5, "quick": True},
    False: {"generations": 5, "epochs": 8, "latent_draws": 1000},
}


def _command(settings: dict, seed: int) -> str:
    parts = ["collapse-theory vae", f"--generations {settings['generations']}"]
    if settings.get("quick"):
        parts.append("--quick")
    if "epochs" in settings:
        parts.append(f"--epochs {settings['epochs']}")
    if "latent_draws" in settings:
        parts.append(f"--latent-draws {settings['latent_draws']}")
    parts.append(f"--seed {seed}")
    return " ".join(parts)


def build(*, quick: bool, seed: int) -> Section:
    """Build the VAE section (skipped when PyTorch is missing)."""
    settings = SETTINGS[bool(quick)]
    command = _command(settings, seed)
    if importlib.util.find_spec("torch") is None:
        return Section(title=TITLE, command=command, skipped=SKIP_REASON)

    from ...runs import vae

    run = vae.run(rng=seed, threads=2, show_progress=False, **settings)
    summary = vae.summary_frame(run)
    std = [float(v) for v in summary["latent_std"]]
    cfg = run.config
    caption = (
        "Paper: a VAE retrained generation after generation on its predecessor's samples forgets the tails "
        "of the original distribution; on MNIST, 100 latent draws decoded by each generation and encoded by "
        "the generation-0 encoder had latent means whose standard deviation fell "
        f"{', '.join(f'{v:.3f}' for v in vae.PAPER_LATENT_STD)} over five generations. "
        f"Measured here on scikit-learn's digits ({cfg['n_train']} images upsampled to 28x28, "
        f"{cfg['epochs']} epochs per generation, {cfg['latent_draws']} latent draws, seed {seed}, "
        f"device {run.generations[0].info['device']}): the standard deviation went "
        f"{', '.join(f'{v:.3f}' for v in std)}; W2 squared between the latent means and generation 0's "
        f"reached {summary['w2_squared_latent_to_initial'].iloc[-1]:.3g}. The digits set is small and the "
        "networks are trained briefly, so the absolute values differ from the paper's; the direction is the claim."
    )
    figures = vae.figures(run)
    return Section(
        title=TITLE,
        caption=caption,
        command=command,
        figures=figures,
        tables={"summary": summary},
        data={
            "latent_std": std,
            "paper_latent_std_mnist": list(vae.PAPER_LATENT_STD),
            "w2_squared_latent_to_initial": [float(v) for v in summary["w2_squared_latent_to_initial"]],
            "config": cfg,
            "seed": seed,
            "wall_time_per_generation_s": [float(v) for v in summary["wall_time_s"]],
        },
    )
