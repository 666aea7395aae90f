"""Tests of the VAE generational run (collapse_theory.runs.vae) and its IDX reader.

Everything runs on CPU with two torch threads and tiny networks, so the file
takes well under a minute. The IDX files are written here byte by byte from
the format's definition, independently of the module's own writer.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from collapse_theory.process import Mixing  # noqa: E402
from collapse_theory.runs import _idx, vae  # noqa: E402
from collapse_theory.runs.evaluate import evaluate  # noqa: E402
from collapse_theory.runs.record import GenerationalRun  # noqa: E402

TINY = dict(epochs=1, batch_size=32, latent_dim=3, channels=(4, 8), latent_draws=24, threads=2, show_progress=False)


@pytest.fixture(scope="module")
def tiny_images():
    # 64 real digits at the network's 28x28 size
    return vae.digits_images()[:64]


def _idx_bytes(arr: np.ndarray, type_code: int, fmt: str) -> bytes:
    """IDX encoding from the format's definition: 0, 0, type, ndim, big-endian dims, big-endian data."""
    head = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(fmt).tobytes()


# ------------------------------------------------------------------- IDX reader
@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader_plain_and_gzipped(tmp_path, compress):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    blobs = {"train-images-idx3-ubyte": _idx_bytes(images, 0x08, "u1"), "train-labels-idx1-ubyte": _idx_bytes(labels, 0x08, "u1")}
    for name, blob in blobs.items():
        if compress:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (tmp_path / name).write_bytes(blob)
    suffix = ".gz" if compress else ""
    np.testing.assert_array_equal(_idx.read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"), images)
    x, y = _idx.load_mnist(tmp_path)
    assert x.shape == (5, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x, images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(y, labels)


def test_idx_reader_other_types(tmp_path):
    arr = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr, 0x0C, ">i4"))
    np.testing.assert_array_equal(_idx.read_idx(tmp_path / "a.idx"), arr)
    f = np.linspace(-1, 1, 6).reshape(2, 3)
    (tmp_path / "f.idx").write_bytes(_idx_bytes(f, 0x0E, ">f8"))
    np.testing.assert_array_equal(_idx.read_idx(tmp_path / "f.idx"), f)


def test_idx_truncated_and_malformed(tmp_path):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    blob = _idx_bytes(images, 0x08, "u1")
    (tmp_path / "cut").write_bytes(blob[:-10])
    with pytest.raises(ValueError, match="truncated"):
        _idx.read_idx(tmp_path / "cut")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(blob)[:-20])  # a broken download
    with pytest.raises(ValueError, match="truncated|corrupt"):
        _idx.read_idx(tmp_path / "cut.gz")
    (tmp_path / "head").write_bytes(blob[:9])
    with pytest.raises(ValueError, match="truncated inside its header"):
        _idx.read_idx(tmp_path / "head")
    (tmp_path / "long").write_bytes(blob + b"\x00")
    with pytest.raises(ValueError, match="longer"):
        _idx.read_idx(tmp_path / "long")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n" + blob)
    with pytest.raises(ValueError, match="no IDX header"):
        _idx.read_idx(tmp_path / "png")
    with pytest.raises(FileNotFoundError):
        _idx.read_idx(tmp_path / "absent")


def test_load_mnist_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _idx.load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        _idx.load_mnist(tmp_path)


def test_run_reads_mnist_directory(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x08, "u1")))
    run = vae.run(1, rng=0, mnist=tmp_path, **TINY)
    assert run.config["n_train"] == 40 and "MNIST" in run.config["data"]


# ------------------------------------------------------------------- data, model
def test_digits_images():
    x = vae.digits_images()
    assert x.shape == (1797, 28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and 0.9 < x.max() <= 1.0
    # the 2-pixel border is padding
    assert np.all(x[:, :2] == 0) and np.all(x[:, :, -2:] == 0)


def test_model_shapes():
    torch.manual_seed(0)
    model = vae.VAE(latent_dim=5, channels=(4, 8), image_size=12)
    x = torch.rand(7, 1, 12, 12)
    recon, mu, logvar = model(x)
    assert recon.shape == x.shape and mu.shape == (7, 5) and logvar.shape == (7, 5)
    assert torch.all((recon > 0) & (recon < 1))
    # the paper's default: 128 * 7 * 7 = 6272 features into the heads
    assert vae.VAE().fc_mu.in_features == 6272


def test_loss_matches_definition():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 4, 4)
    r = torch.rand(3, 1, 4, 4) * 0.98 + 0.01
    mu, logvar = torch.randn(3, 2), torch.randn(3, 2)
    bce = -(x * torch.log(r) + (1 - x) * torch.log(1 - r)).sum()
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum()
    assert float(vae.vae_loss(r, x, mu, logvar)) == pytest.approx(float(bce + kl), rel=1e-5)


# ------------------------------------------------------------------- the latent metric
def test_latent_metric_known_answer():
    # decoder_t(z) = a z, encoder_0 = identity on the mean: the codes are a z,
    # their pooled std is a * std(z), and W2^2 to the codes of a = 1 is
    # (1 - a)^2 mean |z|^2 (the identity coupling is optimal: sum x_i . y_s(i)
    # <= sum |z_i|^2 for any permutation s, by Cauchy-Schwarz).
    rng = np.random.default_rng(3)
    z = torch.from_numpy(rng.standard_normal((200, 4)).astype(np.float32))

    def encoder(x):
        return x, torch.zeros_like(x)

    codes0 = vae.latent_means(lambda u: u, encoder, z)
    np.testing.assert_allclose(codes0, z.double().numpy())
    for a in (1.0, 0.8, 0.5):
        codes = vae.latent_means(lambda u, a=a: a * u, encoder, z, batch_size=64)
        s = vae.latent_summary(codes, codes0)
        zz = z.double().numpy()
        assert s.std == pytest.approx(a * np.sqrt(np.mean((zz - zz.mean()) ** 2)), rel=1e-6)
        np.testing.assert_allclose(s.std_per_dim, a * zz.std(axis=0), rtol=1e-6)
        assert s.w2_squared_to_initial == pytest.approx((1 - a) ** 2 * np.mean(np.sum(zz**2, axis=1)), rel=1e-6, abs=1e-10)


# ------------------------------------------------------------------- runs
def test_run_plumbing(tiny_images, tmp_path):
    run = vae.run(2, rng=0, data=tiny_images, out=tmp_path / "run", **TINY)
    assert isinstance(run, GenerationalRun) and run.kind == "vae" and len(run.generations) == 2
    for g in run.generations:
        assert g.sample.shape == (24, 784)
        assert np.all((g.sample >= 0) & (g.sample <= 1))
        assert g.arrays["latent_means"].shape == (24, 3)
        assert g.arrays["log_density_under_initial"].shape == (24,)
        assert np.all(g.arrays["log_density_under_initial"] < 0)
        assert g.metrics["train_loss"].shape == (1,)
        assert g.metrics["latent_std"] == pytest.approx(np.std(g.arrays["latent_means"]))
        assert "model.pt" in g.artifacts
    assert run.generations[0].metrics["w2_squared_latent_to_initial"] == 0.0
    assert run.generations[1].metrics["w2_squared_latent_to_initial"] > 0.0
    # the evaluator's metrics are stored as the run is written, and equal a later evaluate()
    df = evaluate(run, metrics=["w2_squared_to_initial", "log_density_under_initial"])
    w2 = df[df.metric == "w2_squared_to_initial"].value.to_numpy()
    np.testing.assert_allclose(w2, [g.metrics["w2_squared_to_initial"] for g in run.generations])
    assert w2[0] == 0.0 and w2[1] > 0.0
    q = df[df.metric == "log_density_under_initial"].value.to_numpy()
    np.testing.assert_allclose(q, np.concatenate([g.metrics["log_density_under_initial"] for g in run.generations]))
    loaded = GenerationalRun.load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.generations[1].arrays["latent_means"], run.generations[1].arrays["latent_means"])
    written = vae.write_outputs(loaded, tmp_path / "out")
    assert list(written["summary"]["generation"]) == [0, 1]
    assert all(p.exists() for p in written["figures"].values())


def test_reproducible_from_seed(tiny_images):
    a = vae.run(2, rng=5, data=tiny_images, mixing=Mixing.fresh(real=0.3), **TINY)
    b = vae.run(2, rng=5, data=tiny_images, mixing=Mixing.fresh(real=0.3), **TINY)
    c = vae.run(2, rng=6, data=tiny_images, mixing=Mixing.fresh(real=0.3), **TINY)
    for ga, gb in zip(a.generations, b.generations):
        np.testing.assert_array_equal(ga.sample, gb.sample)
        np.testing.assert_array_equal(ga.arrays["latent_means"], gb.arrays["latent_means"])
    assert not np.array_equal(a.generations[1].sample, c.generations[1].sample)


def test_resume_equals_uninterrupted(tiny_images, tmp_path):
    full = vae.run(3, rng=7, data=tiny_images, out=tmp_path / "full", **TINY)
    vae.run(1, rng=7, data=tiny_images, out=tmp_path / "part", **TINY)
    resumed = vae.run(3, rng=7, data=tiny_images, out=tmp_path / "part", resume=True, **TINY)
    assert len(resumed.generations) == 3
    for gf, gr in zip(full.generations, resumed.generations):
        np.testing.assert_array_equal(gf.sample, gr.sample)
        np.testing.assert_array_equal(gf.arrays["latent_means"], gr.arrays["latent_means"])
        assert gf.metrics["w2_squared_latent_to_initial"] == gr.metrics["w2_squared_latent_to_initial"]
    with pytest.raises(ValueError, match="different settings"):
        vae.run(4, rng=7, data=tiny_images, out=tmp_path / "part", resume=True, **{**TINY, "epochs": 2})


def test_bad_input(tiny_images, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vae.run(1, mnist=tmp_path / "missing", **TINY)
    with pytest.raises(ValueError, match="multiple of 4"):
        vae.run(1, data=np.zeros((4, 27, 27)), **TINY)
    with pytest.raises(ValueError, match="multiple of 4"):
        vae.run(1, data=np.zeros((4, 28, 24)), **TINY)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.run(1, data=tiny_images * 255, **TINY)
    with pytest.raises(ValueError, match="latent_dim"):
        vae.run(1, data=tiny_images, **{**TINY, "latent_dim": 0})
    with pytest.raises(ValueError, match="generations"):
        vae.run(0, data=tiny_images, **TINY)
    with pytest.raises(ValueError, match="replace and fresh"):
        vae.run(1, data=tiny_images, mixing=Mixing.accumulate(), **TINY)
    with pytest.raises(TypeError, match="mixing"):
        vae.run(1, data=tiny_images, mixing="replace", **TINY)
    with pytest.raises(ValueError, match="at most one"):
        vae.run(1, data=tiny_images, mnist=tmp_path, **TINY)


def test_cli(tmp_path, capsys):
    from collapse_theory.cli import main

    args = ["vae", "--out", str(tmp_path), "--generations", "2", "--n-train", "64", "--epochs", "1"]
    args += ["--latent-draws", "16", "--latent-dim", "4", "--seed", "3"]
    assert main(args) == 0
    assert (tmp_path / "run" / "run.json").exists() and (tmp_path / "vae_summary.csv").exists()
    assert "latent_std" in capsys.readouterr().out
    assert main(["vae", "--out", str(tmp_path / "x"), "--mnist", str(tmp_path / "nowhere")]) == 2


# ------------------------------------------------------------------- report section
def test_report_section_skipped_without_torch(monkeypatch):
    from collapse_theory.report.sections import vae as section

    real_find_spec = section.importlib.util.find_spec
    monkeypatch.setattr(section.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    sec = section.build(quick=True, seed=0)
    assert sec.skipped == "the [vae] extra (PyTorch) is not installed: pip install collapse_theory[vae]"
    assert not sec.figures


def test_report_section_tiny(monkeypatch):
    from collapse_theory.report.sections import vae as section

    monkeypatch.setitem(section.SETTINGS, True, {"generations": 2, "epochs": 1, "n_train": 64, "latent_draws": 20})
    sec = section.build(quick=True, seed=1)
    assert sec.skipped is None
    assert set(sec.figures) == {"latent_density", "latent_std", "samples"}
    assert list(sec.tables["summary"]["generation"]) == [0, 1]
    assert len(sec.data["latent_std"]) == 2 and "--seed 1" in sec.command
