"""Sweeps: grid validation, per-cell seeds, Zarr store, resume, Dask execution.

Real processes throughout: a LocalCluster of two worker processes, and a
scheduler and two workers started as separate ``dask`` processes on loopback,
one of which is killed mid-cell. Every process started here is terminated in
a ``finally``. The cells run :func:`toy_study` (a study defined here, so that
the tests can make cells slow, fail, or leave a mark when they start) and,
where it exists, a real study of :mod:`collapse_theory.studies`.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_theory import sweep
from collapse_theory._rng import default_rng
from collapse_theory._stats import mean_ci, z_test
from collapse_theory.cli import main
from collapse_theory.studies._base import StudyResult, make_row

xr = pytest.importorskip("xarray")
pytest.importorskip("distributed")
pytest.importorskip("zarr")

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
STUDY = "toy"


def declare_studies(names: dict) -> Path:
    """Install a throwaway distribution that declares studies in the entry-point group, as a plug-in would.

    Grids name studies only from the registry; an installed package adds to
    it on purpose through ``[project.entry-points."collapse_theory.studies"]``.
    Here the distribution is a bare ``dist-info`` folder on ``sys.path`` (and
    on the PYTHONPATH of the processes the tests start).
    """
    root = os.environ.get("CT_TEST_STUDIES")
    if root and (Path(root) / "toy_studies-0.0.dist-info").is_dir():
        root = Path(root)
    else:
        root = Path(tempfile.mkdtemp(prefix="ct-studies-"))
        info = root / "toy_studies-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-studies\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text(
            "[collapse_theory.studies]\n" + "".join(f"{k} = {v}\n" for k, v in names.items())
        )
        os.environ["CT_TEST_STUDIES"] = str(root)
        atexit.register(shutil.rmtree, root, True)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


STUDIES_DIR = declare_studies({STUDY: f"{Path(__file__).stem}:toy_study"})


def toy_study(
    M: int,
    gamma: float = 0.0,
    generations: int = 3,
    replicates: int = 40,
    delay: float = 0.0,
    marker: str = "",
    fail: bool = False,
    *,
    rng=None,
) -> StudyResult:
    """A small study: running means of N(gamma, 1/M) draws, with theory gamma.

    ``marker``: a directory where each call leaves a file named after its
    process and cell (so the tests see which cells ran, where, and when);
    ``delay``: seconds to sleep (so a cell can be caught mid-run); ``fail``:
    raise, as a broken cell would.
    """
    if marker:
        Path(marker).mkdir(parents=True, exist_ok=True)
        (Path(marker) / f"{os.getpid()}_{M}_{gamma}_{uuid.uuid4().hex[:8]}").write_text("")
    if fail:
        raise RuntimeError(f"cell M={M} gamma={gamma} fails on purpose")
    time.sleep(delay)
    g = default_rng(rng)
    x = gamma + g.normal(size=(replicates, generations + 1)) / np.sqrt(M)
    m, lo, hi, _ = mean_ci(x[:, -1])
    rows = [
        make_row("mean_last", m, lo, hi, gamma, z_test(x[:, -1], gamma)),
        make_row("var_last", x[:, -1].var(ddof=1), theory=1.0 / M),
    ]
    curves = {"generation": np.arange(generations + 1), "mean": x.mean(axis=0), "first_draw": float(x[0, 0])}
    return StudyResult("toy", rows, curves=curves, params={"M": M, "gamma": gamma})


def toy_grid(**extra):
    grid = {
        "study": STUDY,
        "seed": 7,
        "replicates": 30,
        "fixed": {"generations": 3},
        "axes": {"M": [5, 50], "gamma": [0.0, 0.5, 1.0]},
    }
    for key, value in extra.items():
        if key in ("fixed", "axes"):
            grid[key] = {**grid[key], **value}
        else:
            grid[key] = value
    return grid


def write_toml(path: Path, grid: dict) -> Path:
    def fmt(v):
        return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")

    lines = [f"{k} = {fmt(v)}" for k, v in grid.items() if k not in ("fixed", "axes")]
    for table in ("fixed", "axes"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {fmt(v)}" for k, v in grid.get(table, {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(STUDIES_DIR), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COLLAPSE_THEORY_PROGRESS"] = "0"
    return env


#: Attributes that record when and how a store was written, not what it holds.
_WHEN = ("created", "command", "sha256")


def assert_same_sweep(a, b):
    """Same values, coordinates and provenance (apart from time and command line)."""
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert {k: v for k, v in a.attrs.items() if k not in _WHEN} == {k: v for k, v in b.attrs.items() if k not in _WHEN}


@pytest.fixture(scope="module")
def reference():
    """The toy grid run in this process, without a store: what every other route must reproduce."""
    return sweep.run(toy_grid(), None, workers=1, show_progress=False)


def stop(procs):
    """Terminate the processes started here, killing any that does not exit within 3 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


# ------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "error", "key"),
    [
        ({"study": "no_such_study"}, ValueError, "'study'"),
        ({"study": "collapse_theory.nothing:here"}, ValueError, "'study'"),
        ({"axes": {"K": [2, 3]}}, ValueError, "'axes.K'"),
        ({"fixed": {"sample_size": 3}}, ValueError, "'fixed.sample_size'"),
        ({"axes": {"M": []}}, ValueError, "'axes.M'"),
        ({"axes": {"M": ["ten", "twenty"]}}, TypeError, "'axes.M'"),
        ({"axes": {"M": [5, 5]}}, ValueError, "'axes.M'"),
        ({"axes": {"gamma": ["a", 0.5]}}, TypeError, "'axes.gamma'"),
        ({"fixed": {"generations": 2.5}}, TypeError, "'fixed.generations'"),
        ({"fixed": {"rng": 3}}, ValueError, "'fixed.rng'"),
        ({"fixed": {"M": 5}}, ValueError, "'axes.M'"),
        ({"replicates": "many"}, TypeError, "'replicates'"),
        ({"replicates": 0}, ValueError, "'replicates'"),
        ({"seed": -1}, ValueError, "'seed'"),
        ({"colour": "blue"}, ValueError, "'colour'"),
        ({"axes": {"M": 5}}, TypeError, "'axes.M'"),
    ],
)
def test_bad_grid_is_rejected_before_any_work(tmp_path, change, error, key):
    grid = toy_grid(**change)
    marker = tmp_path / "ran"
    grid["fixed"]["marker"] = str(marker)
    out = tmp_path / "s.zarr"
    with pytest.raises(error, match=key.replace(".", r"\.")):
        sweep.run(grid, out, workers=1, show_progress=False)
    assert not marker.exists() and not out.exists()


def test_missing_required_parameter_and_empty_axes_are_named():
    grid = toy_grid()
    grid["axes"] = {"gamma": [0.0]}
    with pytest.raises(ValueError, match=r"'fixed\.M'.*required"):
        sweep.load_grid(grid)
    grid["axes"] = {}
    with pytest.raises(ValueError, match="'axes'"):
        sweep.load_grid(grid)


def _literal_grids(path: Path):
    """Every dict literal with a ``"study"`` key assigned at the top of a module (read, not imported)."""
    import ast

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            if "study" in keys:
                try:
                    yield node.targets[0].id, ast.literal_eval(node.value)
                except ValueError:  # built by code (e.g. list(range(...))): not a literal to check here
                    continue


def test_benchmark_grids_name_parameters_their_studies_take():
    # the sweep benchmark's grid once named the fresh share 'real' after heterozygosity had moved to mixing=,
    # and only `make bench` (not part of `make test`) found out
    grids = dict(_literal_grids(Path(__file__).parents[1] / "benchmarks" / "test_sweep_bench.py"))
    assert "HEAVY" in grids
    for name, grid in grids.items():
        assert list(sweep.load_grid(grid).cells()), name


def test_cli_rejects_bad_toml_naming_the_key(tmp_path, capsys):
    path = write_toml(tmp_path / "bad.toml", toy_grid(axes={"K": [1]}))
    assert main(["sweep", str(path), "--out", str(tmp_path / "x.zarr"), "--workers", "1"]) == 2
    assert "axes.K" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


@given(
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    seed=st.integers(0, 2**32),
)
def test_grid_cells_enumerate_the_product_once_with_distinct_seeds(sizes, seed):
    names = ["M", "generations", "replicates"][: len(sizes)]
    axes = {n: [int(10 + 7 * i) for i in range(k)] for n, k in zip(names, sizes)}
    grid = sweep.load_grid({"study": STUDY, "seed": seed, "axes": axes})
    cells = list(grid.cells())
    assert [idx for idx, _ in cells] == list(np.ndindex(*sizes)) and grid.size == len(cells)
    for idx, params in cells:
        assert all(params[n] == axes[n][i] for n, i in zip(names, idx))
    states = {tuple(sweep.cell_seed(seed, idx).generate_state(4)) for idx, _ in cells}
    assert len(states) == len(cells)
    assert sweep.load_grid(grid.to_dict()) == grid


# ---------------------------------------------------------- seeds and store


def test_cell_result_depends_only_on_seed_and_position(reference):
    """Each cell equals the study called directly with SeedSequence(seed, spawn_key=index)."""
    grid = sweep.load_grid(toy_grid())
    assert reference.sizes["M"] == 2 and reference.sizes["gamma"] == 3 and reference.sizes["generation"] == 4
    firsts = set()
    for index, params in grid.cells():
        direct = toy_study(**params, rng=sweep.cell_seed(7, index))
        cell = reference.isel(M=index[0], gamma=index[1])
        np.testing.assert_array_equal(cell["simulated"].values, direct.table()["simulated"].to_numpy())
        np.testing.assert_array_equal(cell["theory"].values, direct.table()["theory"].to_numpy())
        np.testing.assert_array_equal(cell["mean"].values, direct.curves["mean"])
        firsts.add(float(cell["first_draw"]))
    assert len(firsts) == grid.size  # distinct streams in distinct cells
    assert list(reference["quantity"].values) == ["mean_last", "var_last"]
    assert reference["ok"].values.all()


def test_store_opens_with_xarray_and_carries_provenance(tmp_path, reference):
    out = tmp_path / "s.zarr"
    path = write_toml(tmp_path / "g.toml", toy_grid())
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    ds = xr.open_zarr(out)
    assert_same_sweep(ds.load(), reference)
    assert ds.attrs["grid"] == sweep.load_grid(toy_grid()).to_dict()
    assert ds.attrs["seeds"]["sweep_seed"] == 7 and ds.attrs["study"] == STUDY
    for package in ("numpy", "xarray", "zarr", "dask", "distributed", "collapse_theory"):
        assert ds.attrs["versions"][package]
    # every cell also readable on its own, with its parameters and seed
    cell = xr.open_zarr(out, group="cells/cell_1_2", consolidated=False)
    assert cell.attrs["params"]["M"] == 50 and cell.attrs["params"]["gamma"] == 1.0
    assert cell.attrs["seed"] == {"entropy": 7, "spawn_key": [1, 2]}


def test_store_of_another_grid_is_refused(tmp_path):
    out = tmp_path / "s.zarr"
    sweep.run(toy_grid(axes={"gamma": [0.0]}), out, workers=1, show_progress=False)
    with pytest.raises(ValueError, match="another grid"):
        sweep.run(toy_grid(seed=8, axes={"gamma": [0.0]}), out, workers=1, show_progress=False)


def test_failing_cell_records_its_error_and_others_finish(tmp_path, capsys):
    grid = toy_grid(axes={"fail": [False, True]}, replicates=10)
    grid["axes"] = {"M": [5, 50], "fail": [False, True]}
    out = tmp_path / "f.zarr"
    path = write_toml(tmp_path / "f.toml", grid)
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 1
    assert "fails on purpose" in capsys.readouterr().err
    ds = sweep.open_sweep(out).load()
    assert ds["ok"].sel(fail=False).all() and not ds["ok"].sel(fail=True).any()
    assert all("fails on purpose" in e for e in ds["error"].sel(fail=True).values)
    assert np.isfinite(ds["simulated"].sel(fail=False)).all() and np.isnan(ds["simulated"].sel(fail=True)).all()
    assert ds.attrs["failed_cells"] == 2


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_the_same_store(tmp_path, reference):
    """Kill the CLI half-way (SIGKILL), start it again: finished cells are skipped, the store is identical."""
    marker = tmp_path / "calls"
    grid = toy_grid(fixed={"delay": 0.4, "marker": str(marker)})
    path = write_toml(tmp_path / "g.toml", grid)
    out = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "collapse_theory.cli", "sweep", str(path), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((out / "cells").glob("cell_*"))) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop([proc])
    store = sweep._Store(out, sweep.load_grid(grid))
    finished = len(store.done())
    assert 1 <= finished < 6, finished
    before = len(list(marker.iterdir()))
    ds = sweep.run(grid, out, workers=1, show_progress=False)
    rerun = len(list(marker.iterdir())) - before
    assert rerun == 6 - finished  # finished cells were not run again
    expected = sweep.run(grid, None, workers=1, show_progress=False)
    assert_same_sweep(sweep.open_sweep(out).load(), expected)
    assert_same_sweep(ds, expected)
    # the delay and marker change the grid, not the numbers
    xr.testing.assert_identical(ds[["simulated", "mean"]].drop_attrs(), reference[["simulated", "mean"]].drop_attrs())


# --------------------------------------------------------------- clusters


@pytest.mark.slow  # a Dask cluster
def test_local_cluster_with_two_worker_processes(tmp_path, reference):
    out = tmp_path / "s.zarr"
    marker = tmp_path / "calls"
    grid = toy_grid(fixed={"marker": str(marker), "delay": 0.5})  # long enough for both workers to take cells
    ds = sweep.run(grid, out, workers=2, show_progress=False)
    pids = {p.name.split("_")[0] for p in marker.iterdir()}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two worker processes, not this one
    assert_same_sweep(sweep.open_sweep(out).load(), sweep.run(grid, None, workers=1, show_progress=False))
    xr.testing.assert_identical(ds[["simulated", "mean"]].drop_attrs(), reference[["simulated", "mean"]].drop_attrs())


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two workers started as separate processes on loopback."""
    from distributed import Client

    d = tmp_path_factory.mktemp("cluster")
    sched_file = d / "scheduler.json"
    env = child_env()
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(sched_file)],
                env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [
            subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--local-directory", str(d / f"w{i}")],
                env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for i in range(2)
        ]
        procs += workers
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
        yield {"address": address, "workers": workers}
    finally:
        stop(procs)


@pytest.mark.slow  # a Dask cluster
def test_cli_sweep_through_scheduler_address(tmp_path, dask_cluster, reference):
    out = tmp_path / "s.zarr"
    marker = tmp_path / "calls"
    path = write_toml(tmp_path / "g.toml", toy_grid(fixed={"marker": str(marker)}))
    assert main(["sweep", str(path), "--scheduler", dask_cluster["address"], "--out", str(out)]) == 0
    pids = {int(p.name.split("_")[0]) for p in marker.iterdir()}
    assert pids <= {w.pid for w in dask_cluster["workers"]}
    ds = xr.open_zarr(out).load()
    xr.testing.assert_identical(ds[["simulated", "mean"]].drop_attrs(), reference[["simulated", "mean"]].drop_attrs())


@pytest.mark.slow  # a Dask cluster
def test_real_study_on_external_cluster(tmp_path, dask_cluster):
    """A real study's cells on the two external workers equal direct calls with the cell's seed."""
    from collapse_theory import studies

    name = "heterozygosity"
    grid = {"study": name, "seed": 3, "replicates": 200, "fixed": {"generations": 5, "p0": [0.5, 0.5]}, "axes": {"M": [10, 20]}}
    ds = sweep.run(grid, tmp_path / "r.zarr", scheduler=dask_cluster["address"], show_progress=False)
    assert ds["ok"].values.all(), ds["error"].values
    for index, params in sweep.load_grid(grid).cells():
        direct = getattr(studies, name)(**params, rng=sweep.cell_seed(3, index)).table()
        got = ds["simulated"].isel(M=index[0]).sel(quantity=list(direct["quantity"])).values
        np.testing.assert_array_equal(got, direct["simulated"].to_numpy())


@pytest.mark.slow  # a Dask cluster
def test_worker_killed_mid_cell_is_retried_elsewhere(tmp_path, dask_cluster, reference):
    """SIGKILL the worker running a cell: the cell reruns on the other worker, the store is complete and identical."""
    marker = tmp_path / "calls"
    grid = toy_grid(fixed={"delay": 1.5, "marker": str(marker)})
    out = tmp_path / "s.zarr"
    result = {}

    def target():
        try:
            result["ds"] = sweep.run(grid, out, scheduler=dask_cluster["address"], show_progress=False)
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    workers = {w.pid: w for w in dask_cluster["workers"]}
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        for p in marker.glob("*") if marker.exists() else []:
            pid = int(p.name.split("_")[0])
            if pid in workers:
                victim = workers[pid]
                break
        time.sleep(0.02)
    assert victim is not None, "no cell started"
    victim.send_signal(signal.SIGKILL)  # mid-cell: it sleeps 1.5 s after leaving its mark
    victim.wait(timeout=10)
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    ds = sweep.open_sweep(out).load()
    assert ds["ok"].values.all(), ds["error"].values
    assert len(list(marker.iterdir())) > grid_size(grid)  # the killed cell ran twice
    # delay and marker change the grid's record, not the numbers
    xr.testing.assert_identical(ds.drop_attrs(), reference.drop_attrs())
    assert ds.attrs["grid"] == sweep.load_grid(grid).to_dict() and ds.attrs["failed_cells"] == 0


def grid_size(grid) -> int:
    return sweep.load_grid(grid).size


# ------------------------------------------------------ examples and the map


@pytest.mark.parametrize("name", ["mitigation", "mitigation_discrete", "small"])
def test_example_grids_are_valid(name):
    grid = sweep.load_grid(TESTS.parent / "examples" / f"{name}.toml")
    assert grid.size == int(np.prod(grid.shape)) >= 6


def test_map_boundary_is_where_the_gaussian_moments_stop_being_stationary():
    from collapse_theory import Mixing
    from collapse_theory.theory import gaussian as thg

    for M in (3, 5, 20, 100, 1000):
        b = thg.fresh_stability_threshold(M)
        assert 0.4 / M < b < 0.6 / M  # about 1/(2M)
        assert np.isinf(thg.stationary_moments(M, mixing=Mixing.fresh(b * 0.98))[0])
        assert np.isfinite(thg.stationary_moments(M, mixing=Mixing.fresh(b * 1.02))[0])


def test_map_gaussian_cell_agrees_with_exact_moments():
    """Light-tailed cells: simulated E(mu-mu0)^2 and E sigma^2 at generation G against the exact recursion.

    2000 replicates give a z-test power above 0.99 against a 10% error in
    either moment; 6 p-values, Bonferroni at LEVEL.
    """
    from helpers import assert_consistent

    from collapse_theory.studies import mitigation_cell

    pvalues = []
    for i, spec in enumerate(["fresh:0.2", "accumulate", "accumulate:0.3"]):
        M = (50, 20, 10)[i]
        table = mitigation_cell(M, spec, generations=30, replicates=2000, rng=np.random.SeedSequence(11, spawn_key=(i,))).table()
        tested = table.dropna(subset=["p_value"])
        assert list(tested["quantity"]) == ["E W2^2", "E (mu - mu0)^2", "E sigma^2"]
        pvalues += list(tested["p_value"])
    assert_consistent(pvalues, what="mitigation map, Gaussian cells")


# ------------------------------------------------------- registry (issue 17, item 2)


def test_study_strings_never_import_code(tmp_path, monkeypatch, capsys):
    """'module:function' is not a study name: nothing is imported, called or written; the error lists the studies."""
    mod = tmp_path / "ct_planted_module.py"
    mark = tmp_path / "imported"
    mod.write_text(f"open({str(mark)!r}, 'w').close()\ndef study(**kw):\n    open({str(mark)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for name, fixed in (
        ("ct_planted_module:study", {}),
        ("logging:basicConfig", {"filename": str(victim), "filemode": "w"}),
        ("this:nothing", {}),
    ):
        with pytest.raises(ValueError, match=r"'study'.*available: .*heterozygosity") as info:
            sweep.run({"study": name, "fixed": fixed, "axes": {"x": [1]}}, tmp_path / "s.zarr", workers=1, show_progress=False)
        assert "never import" in str(info.value)
    assert not mark.exists() and "ct_planted_module" not in sys.modules
    assert victim.read_text() == "keep me"
    assert "Zen of Python" not in capsys.readouterr().out
    assert not (tmp_path / "s.zarr").exists()


def test_registry_lists_builtin_declared_and_registered_studies():
    from collapse_theory import studies

    names = sweep.available_studies()
    assert {n for n in studies.__all__ if n != "StudyResult"} <= set(names)
    assert STUDY in names  # declared by the throwaway distribution's entry point
    assert sweep.resolve_study(STUDY) is toy_study
    sweep.register_study("toy_registered", toy_study)
    assert sweep.resolve_study("toy_registered") is toy_study
    with pytest.raises(ValueError, match="built-in"):
        sweep.register_study("heterozygosity", toy_study)
    with pytest.raises(ValueError, match="plain name"):
        sweep.register_study("os:system", toy_study)


def test_mixing_axis_takes_spec_strings():
    from collapse_theory import studies
    from collapse_theory.process import Mixing

    grid = {"study": "heterozygosity", "seed": 2, "replicates": 50, "fixed": {"K": 2, "M": 10, "generations": 3},
            "axes": {"mixing": ["replace", "fresh:0.2"]}}
    ds = sweep.run(grid, None, workers=1, show_progress=False)
    assert ds["ok"].values.all(), ds["error"].values
    for index, params in sweep.load_grid(grid).cells():
        params = {**params, "mixing": Mixing.from_spec(params["mixing"])}
        direct = studies.heterozygosity(**params, rng=sweep.cell_seed(2, index)).table()
        np.testing.assert_array_equal(ds["theory"].isel(mixing=index[0]).sel(quantity=list(direct["quantity"])).values,
                                      direct["theory"].to_numpy())
    assert not np.array_equal(ds["theory"].isel(mixing=0).values, ds["theory"].isel(mixing=1).values)
    grid["axes"]["mixing"] = ["replace", "fresh:2"]
    with pytest.raises(ValueError, match=r"'axes\.mixing'"):
        sweep.load_grid(grid)


# ------------------------------------------------------ checksums (issue 17, item 3)


def _damage(array_dir: Path, how: str):
    """Damage the first chunk of a Zarr array: alter a value (valid encoding), delete or truncate it."""
    chunk = next(p for p in (array_dir / "c").rglob("*") if p.is_file())
    if how == "delete":
        chunk.unlink()
    elif how == "truncate":
        data = chunk.read_bytes()
        chunk.write_bytes(data[: len(data) // 2])
    else:
        import zarr

        arr = zarr.open_array(str(array_dir), mode="r+")
        values = arr[...]
        values.flat[0] = 2.9e-214
        arr[...] = values


@pytest.mark.parametrize("how", ["alter", pytest.param("delete", marks=pytest.mark.slow), pytest.param("truncate", marks=pytest.mark.slow)])
def test_damaged_finished_cell_is_recomputed_not_published(tmp_path, reference, how):
    marker = tmp_path / "calls"
    grid = toy_grid(fixed={"marker": str(marker)})
    out = tmp_path / "s.zarr"
    sweep.run(grid, out, workers=1, show_progress=False)
    assert len(list(marker.iterdir())) == 6
    _damage(out / "cells" / "cell_0_1" / "simulated", how)
    store = sweep._Store(out, sweep.load_grid(grid))
    assert "cell_0_1" not in store.done() and len(store.done()) == 5
    ds = sweep.run(grid, out, workers=1, show_progress=False)
    assert len(list(marker.iterdir())) == 7  # only the damaged cell ran again
    assert ds.attrs["failed_cells"] == 0 and ds["ok"].values.all()
    for got in (ds, sweep.open_sweep(out)):
        xr.testing.assert_identical(got[["simulated", "mean"]].drop_attrs(), reference[["simulated", "mean"]].drop_attrs())


@pytest.mark.parametrize("how", ["alter", pytest.param("delete", marks=pytest.mark.slow), pytest.param("truncate", marks=pytest.mark.slow)])
def test_open_sweep_reports_a_damaged_store(tmp_path, reference, how):
    marker = tmp_path / "calls"
    grid = toy_grid(fixed={"marker": str(marker)})
    out = tmp_path / "s.zarr"
    sweep.run(grid, out, workers=1, show_progress=False)
    _damage(out / "simulated", how)
    with pytest.raises(sweep.SweepStoreError, match="s.zarr"):
        sweep.open_sweep(out)
    # running the sweep again rebuilds the gathered dataset from its (intact) cells, computing nothing
    sweep.run(grid, out, workers=1, show_progress=False)
    assert len(list(marker.iterdir())) == 6
    xr.testing.assert_identical(sweep.open_sweep(out)[["simulated"]].drop_attrs(), reference[["simulated"]].drop_attrs())


def test_open_sweep_of_a_non_store_is_a_clean_error(tmp_path):
    with pytest.raises(sweep.SweepStoreError, match="not a sweep store"):
        sweep.open_sweep(tmp_path)
