"""Report section builders, one module per topic.

Each module defines ``build(*, quick: bool, seed: int) -> Section``, registered
in :data:`collapse_theory.report.SECTIONS`; sections compose and caption the
results of :mod:`collapse_theory.studies`, :mod:`collapse_theory.runs` and
:mod:`collapse_theory.verify` (no study and no formula here).

Module map
----------
``discrete.py``     the discrete chain against its exact theory
``gaussian.py``     recursive Gaussian fitting (Theorem 3.1) against its finite-M theory
``wasserstein.py``  accuracy of the W2^2 estimators as variances collapse
``gmm.py``          the paper's Gaussian-mixture run
``vae.py``          the paper's VAE run
``lm.py``           language models trained on their own text
``sampling.py``     sampling and curation on the discrete chain
``mitigation.py``   how much original data keeps a model from collapsing, every workflow
``regression.py``   the regression chain against its exact theory
``verify.py``       every theory function against simulation
"""
