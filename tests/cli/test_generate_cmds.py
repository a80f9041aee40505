"""`productstudio train / sample / evaluate` end to end on a few real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import shared_path
from productstudio.cli import app
from productstudio.imaging import load_image

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = shared_path("data", "products")
    out = tmp_path_factory.mktemp("vae")
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "vae",
            "--data",
            str(data),
            "-o",
            str(out),
            "--size",
            "16",
            "--max-steps",
            "3",
            "--batch-size",
            "8",
            "--limit",
            "200",
            "--text-encoder",
            "hashing",
            "--sample-every",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_model_logs_and_grids(trained: Path) -> None:
    assert (trained / "model.safetensors").is_file()
    assert json.loads((trained / "train_summary.json").read_text())["steps"] == 3
    assert (trained / "samples" / "step_000002.png").is_file()


def test_train_set_overrides_the_preset(tmp_path: Path) -> None:
    """--set name=value reaches the saved config; an unknown name is one error naming the known."""
    data = shared_path("data", "products")
    base = ["-q", "train", "diffusion", "--data", str(data), "--size", "16", "--limit", "40"]
    base += ["--max-steps", "1", "--batch-size", "4", "--text-encoder", "hashing"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "d"), "--set", "snr_gamma=5"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())["config"]
    assert cfg["snr_gamma"] == 5
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "e"), "--set", "snr_gama=5"])
    assert r.exit_code != 0 and "snr_gama" in r.output and "snr_gamma" in r.output
    assert not (tmp_path / "e" / "model.safetensors").exists()


def test_train_resume_continues(trained: Path, tmp_path: Path) -> None:
    """--resume continues the step counter from the checkpoint."""
    data = shared_path("data", "products")
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "vae",
            "--data",
            str(data),
            "-o",
            str(trained),
            "--size",
            "16",
            "--max-steps",
            "5",
            "--batch-size",
            "8",
            "--limit",
            "200",
            "--resume",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((trained / "train_summary.json").read_text())["steps"] == 5


def test_sample_writes_the_models_samples(trained: Path, tmp_path: Path) -> None:
    """One PNG per sample, holding exactly what the Python API makes for that prompt and seed
    (and another seed gives other pictures)."""
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.generators import load_generator

    args = ["sample", str(trained), "--title", "Nike Men Black Shoes", "--attr", "colour=Black"]
    args += ["--audience", "interests=noir", "-n", "3", "--seed", "4"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    files = sorted(tmp_path.glob("*.png"))
    assert [f.name for f in files] == ["sample_000.png", "sample_001.png", "sample_002.png"]
    assert r.stdout.split() == [str(f) for f in files]
    prompt = Prompt(
        "Nike Men Black Shoes", {"colour": "Black"}, AudienceProfile.parse("interests=noir")
    )
    want = load_generator(trained).sample([prompt] * 3, seed=4)
    got = np.stack([load_image(f).pixels for f in files])
    np.testing.assert_array_equal(got, want)
    other = load_generator(trained).sample([prompt] * 3, seed=5)
    assert not np.array_equal(got, other)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attr", "colour"], "name=value"),
        (["--attr", "colour=Mauve"], "Known values"),
        (["--audience", "interests=goth"], "interests"),
    ],
)
def test_sample_bad_input_is_one_red_line(
    trained: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    r = runner.invoke(app, ["sample", str(trained), "-o", str(tmp_path), *args])
    assert r.exit_code == 2
    assert message in r.stderr


def test_sample_missing_model(tmp_path: Path) -> None:
    r = runner.invoke(app, ["sample", str(tmp_path), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "productstudio train" in r.stderr


def test_evaluate_reports_what_it_computed(trained: Path, tmp_path: Path) -> None:
    """evaluate → report.json + report.html; the KID, FID and probe accuracies in the report
    (and on stdout) are the ones recomputed here from the model's samples and the real photos
    with the metric functions; the CNN accuracies are in range; the page has its charts."""
    from productstudio.metrics.generation import (
        AttributeClassifier,
        FeatureNetwork,
        fid,
        kid,
    )
    from productstudio.models.data import Split, load_products
    from productstudio.models.generators import load_generator
    from productstudio.models.train import prompt_of

    data = shared_path("data", "products")
    shared_path("weights", "features", "efficientnet_lite0_imagenet.onnx")
    r = runner.invoke(
        app,
        [
            "-q",
            "evaluate",
            str(trained),
            "--data",
            str(data),
            "--limit",
            "200",
            "-n",
            "12",
            "--classifier-steps",
            "5",
            "--cnn-epochs",
            "1",
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["feature_network"] == "efficientnet_lite0_imagenet"
    assert set(rep["baselines"]) == {"baseline: class mean + noise", "baseline: random other class"}
    row = rep["models"][trained.name]
    # recompute: same test photos, same samples, same features, same classifier settings
    products = load_products(data, size=16, limit=200)
    train_set, test = products.subset(Split.TRAIN), products.subset(Split.TEST, limit=12)
    net = FeatureNetwork.efficientnet_lite0()
    samples = load_generator(trained).sample(
        [prompt_of(rec) for rec in test.records], seed=0, strict=False
    )
    f_s, f_test, f_train = net(samples), net(test.images), net(train_set.images)
    assert row["fid"] == pytest.approx(fid(f_s, f_test), rel=1e-6)
    assert row["kid"] == pytest.approx(kid(f_s, f_test, subsets=50, subset_size=200)[0], rel=1e-6)
    for attr in ("category", "colour"):
        values = sorted({rec.attrs[attr] for rec in train_set.records if rec.attrs[attr]})
        idx = {v: i for i, v in enumerate(values)}
        y_train = np.array([idx.get(rec.attrs[attr], -1) for rec in train_set.records])
        y_test = np.array([idx.get(rec.attrs[attr], -1) for rec in test.records])
        clf = AttributeClassifier(steps=5).fit(f_train, y_train)
        assert row[f"acc_{attr}"] == pytest.approx(clf.accuracy(f_s, y_test), abs=1e-9)
        assert rep["reference"][f"acc_{attr}"] == pytest.approx(
            clf.accuracy(f_test, y_test), abs=1e-9
        )
    assert "recon_psnr" in row and 0 <= row["acc_cnn_category"] <= 1
    assert "edits" in row and 0 <= row["edits"]["edit_colour_probe"] <= 1
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith(trained.name))
    assert f"KID {row['kid']:.4f}" in line and f"FID {row['fid']:.2f}" in line
    assert f"colour acc {row['acc_colour']:.2f}" in line
    page = (tmp_path / "report.html").read_text()
    # table, then charts: KID, FID, 3 probe + 3 CNN accuracies, the model's training curves
    assert "<table>" in page and page.count("<svg") == 9


def _photo(tmp_path: Path, rgba: bool = False) -> tuple[Path, np.ndarray]:
    """A real Myntra photo (60x80) saved as PNG; with ``rgba`` its left third is made
    transparent and filled with junk colour (which must not show)."""
    from productstudio.imaging import save_image

    data = shared_path("data", "products")
    px = load_image(data / "images" / "myntra_10000.jpg").pixels
    path = tmp_path / ("p.png" if not rgba else "p_rgba.png")
    if rgba:
        a = np.full(px.shape[:2], 255, np.uint8)
        a[:, : px.shape[1] // 3] = 0
        junk = px.copy()
        junk[:, : px.shape[1] // 3] = (255, 0, 255)
        save_image(np.dstack([junk, a]), path)
        white = px.copy()
        white[:, : px.shape[1] // 3] = 255
        return path, white
    save_image(px, path)
    return path, px


def test_edit_attributes_writes_the_models_edit(trained: Path, tmp_path: Path) -> None:
    """The output is the CVAE's edit of the photo (as the Python API computes it), the strip is
    input | reconstruction | edit, and the printed SSIMs are the ones of the output."""
    from productstudio.metrics.quality import grey_ssim, structure_ssim
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.generators import load_generator

    photo, px = _photo(tmp_path)
    args = ["edit-attributes", str(photo), "--model", str(trained), "--attr", "colour=Red"]
    args += ["--from", "colour=Black", "--title", "Black shirt", "-o", str(tmp_path / "e.png")]
    r = runner.invoke(app, [*args, "--strip", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    model = load_generator(trained)
    want = model.edit_photo(px, Prompt("Black shirt", {"colour": "Black"}), {"colour": "Red"})
    assert want.target.title == "Red shirt"
    got = load_image(tmp_path / "e.png").pixels
    np.testing.assert_array_equal(got, want.edited)
    strip = load_image(tmp_path / "s.png").pixels
    assert strip.shape == (16, 3 * 16 + 4, 3)
    np.testing.assert_array_equal(strip[:, :16], want.input)
    np.testing.assert_array_equal(strip[:, 18:34], want.reconstruction)
    np.testing.assert_array_equal(strip[:, 36:], want.edited)
    assert f"grey-level SSIM {grey_ssim(got, want.input):.3f}" in r.stdout
    assert f"structure term {structure_ssim(got, want.input):.3f}" in r.stdout


def test_edit_attributes_flattens_transparency_on_white(trained: Path, tmp_path: Path) -> None:
    """Transparent pixels count as white background, whatever colour they hold."""
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.generators import load_generator

    photo, white = _photo(tmp_path, rgba=True)
    out = tmp_path / "e.png"
    args = ["edit-attributes", str(photo), "--model", str(trained), "--attr", "colour=Red"]
    r = runner.invoke(app, [*args, "-o", str(out)])
    assert r.exit_code == 0, r.output
    want = load_generator(trained).edit_photo(white, Prompt(), {"colour": "Red"})
    np.testing.assert_array_equal(load_image(out).pixels, want.edited)


def test_edit_attributes_errors(trained: Path, tmp_path: Path) -> None:
    """Not a CVAE, an unknown value, a malformed --attr: one red line naming the fix, no file."""
    from productstudio.models.conditioning.config import ConditionConfig
    from productstudio.models.generators import ConditionalGAN, GANConfig, load_generator

    photo, _ = _photo(tmp_path)
    vae = load_generator(trained)
    cc = ConditionConfig.from_vocab(vae.vocab, text_encoder="hashing", emb_dim=8, out_dim=8)
    gan_dir = tmp_path / "gan"
    ConditionalGAN.from_config(
        GANConfig(size=16, g_channels=4, d_channels=4), cc, vae.vocab
    ).save_pretrained(gan_dir)
    out = tmp_path / "e.png"
    for model, attr, message in (
        (gan_dir, "colour=Red", "needs a CVAE"),
        (trained, "colour=Mauve", "Known values"),
        (trained, "colour", "name=value"),
    ):
        r = runner.invoke(
            app,
            ["edit-attributes", str(photo), "--model", str(model), "--attr", attr, "-o", str(out)],
        )
        assert r.exit_code == 2 and message in r.stderr, r.output
        assert not out.exists()


def test_train_ldm_reuses_an_autoencoder(tmp_path: Path) -> None:
    """`train ldm --autoencoder DIR` starts at the diffusion phase with DIR's autoencoder
    (weights and latent scale unchanged by the new run); other families refuse the option."""
    import torch

    from productstudio.models.generators import load_generator

    data = shared_path("data", "products")
    base = ["-q", "train", "ldm", "--data", str(data), "--size", "16", "--limit", "60"]
    base += ["--batch-size", "4", "--text-encoder", "hashing", "--sample-every", "0"]
    r = runner.invoke(app, [*base, "--max-steps", "4", "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            *base,
            "--max-steps",
            "2",
            "--autoencoder",
            str(tmp_path / "a"),
            "-o",
            str(tmp_path / "b"),
        ],
    )
    assert r.exit_code == 0, r.output
    a, b = load_generator(tmp_path / "a"), load_generator(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "train_summary.json").read_text())["autoencoder_steps"] == 0
    assert float(b.latent_scale) == float(a.latent_scale) > 0
    for (k, va), (_, vb) in zip(a.ae.state_dict().items(), b.ae.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "vae",
            "--data",
            str(data),
            "--autoencoder",
            str(tmp_path / "a"),
            "-o",
            str(tmp_path / "c"),
        ],
    )
    assert r.exit_code == 2 and "train ldm" in r.stderr
