"""`productstudio train cyclegan / translate / evaluate`, the `translate` recipe step, and the
sample options of issue 17 (--arch style + --truncation, --image-encoder + --image), end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import read_manifest, shared_path
from productstudio.cli import app
from productstudio.errors import InvalidParamsError
from productstudio.imaging import load_image, save_image

runner = CliRunner()
TINY = ["--set", "g_channels=4", "--set", "g_blocks=1", "--set", "d_channels=4"]
TINY += ["--set", "d_layers=2", "--set", "pool_size=2"]


def _natural_photos(n: int) -> list[Path]:
    rows = read_manifest("data", "products", "metadata.csv")
    root = shared_path("data", "products")
    return [root / r["file"] for r in rows if r["source"] == "grocery-natural"][:n]


@pytest.fixture(scope="module")
def cyclegan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cyclegan")
    r = runner.invoke(
        app,
        [
            "-q",
            "train",
            "cyclegan",
            "--data",
            str(shared_path("data", "products")),
            "-o",
            str(out),
            "--size",
            "16",
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--sample-every",
            "3",
            *TINY,
        ],
    )
    assert r.exit_code == 0, r.output
    return out


def test_train_cyclegan_writes_model_and_preview(cyclegan_dir: Path) -> None:
    """The unpaired model is saved with its domains, and the preview grid shows translations of
    held-out in-store photos."""
    cfg = json.loads((cyclegan_dir / "config.json").read_text())
    assert cfg["family"] == "cyclegan" and cfg["config"]["mode"] == "unpaired"
    assert cfg["config"]["domain_a"] == ["grocery-natural"]
    grid = load_image(cyclegan_dir / "samples" / "step_000003.png").pixels
    assert grid.shape[0] == 2 * (16 + 2) + 2  # 16 previews in 2 rows of 8
    assert json.loads((cyclegan_dir / "train_summary.json").read_text())["steps"] == 3


def test_translate_files_folder_and_errors(cyclegan_dir: Path, tmp_path: Path) -> None:
    """One photo → one PNG at the model's size (or --size); several → a folder; b2a works on a
    CycleGAN; a generator folder is refused with the right command."""
    photos = _natural_photos(3)
    r = runner.invoke(
        app, ["translate", str(photos[0]), "-m", str(cyclegan_dir), "-o", str(tmp_path / "a.png")]
    )
    assert r.exit_code == 0, r.output
    a = load_image(tmp_path / "a.png").pixels
    assert a.shape == (16, 16, 3) and str(tmp_path / "a.png") in r.stdout
    # --strength 0 returns the prepared photo itself, 0.5 lies halfway to the translation
    from productstudio.models.data import prepare_image

    src = prepare_image(load_image(photos[0]).pixels[..., :3], 16).astype(int)
    for k in ("0", "0.5"):
        out_k = str(tmp_path / f"s{k}.png")
        cmd = ["translate", str(photos[0]), "-m", str(cyclegan_dir), "--strength", k, "-o", out_k]
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(load_image(tmp_path / "s0.png").pixels, src)
    half = load_image(tmp_path / "s0.5.png").pixels.astype(int)
    assert np.abs(half - (src + a.astype(int)) / 2).max() <= 1
    r = runner.invoke(
        app,
        [
            "translate",
            *map(str, photos),
            "-m",
            str(cyclegan_dir),
            "-o",
            str(tmp_path / "many"),
            "--size",
            "32",
        ],
    )
    assert r.exit_code == 0, r.output
    outs = sorted((tmp_path / "many").iterdir())
    assert [p.stem for p in outs] == sorted(p.stem for p in photos)
    assert load_image(outs[0]).pixels.shape == (32, 32, 3)
    r = runner.invoke(
        app,
        [
            "translate",
            str(photos[0]),
            "-m",
            str(cyclegan_dir),
            "-o",
            str(tmp_path / "b.png"),
            "--direction",
            "b2a",
        ],
    )
    assert r.exit_code == 0, r.output
    assert not np.array_equal(load_image(tmp_path / "b.png").pixels, a)
    r = runner.invoke(
        app,
        [
            "translate",
            *map(str, photos[:2]),
            "-m",
            str(cyclegan_dir),
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert r.exit_code == 2 and "output folder" in r.output
    r = runner.invoke(app, ["sample", str(cyclegan_dir), "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "productstudio translate" in r.output


@pytest.mark.slow  # ~30 s: trains the identity classifiers on real photos
def test_evaluate_translation_report(cyclegan_dir: Path, tmp_path: Path) -> None:
    """evaluate on a cyclegan folder scores held-out in-store photos: baselines measured in the
    same run, identity ratios, a before/after strip."""
    r = runner.invoke(
        app,
        [
            "-q",
            "evaluate",
            str(cyclegan_dir),
            "--data",
            str(shared_path("data", "products")),
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    rows = rep["rows"]
    assert {"baseline: untranslated", "baseline: colour transfer", cyclegan_dir.name} <= set(rows)
    assert rep["feature_network"] == "efficientnet_lite0_imagenet" and rep["n_reference"] == 81
    row = rows[cyclegan_dir.name]
    base = rows["baseline: untranslated"]
    assert row["identity_ratio_title"] == pytest.approx(row["acc_title"] / base["acc_title"])
    # the classifiers recognise untranslated held-out products far above chance (1/81)
    assert base["acc_title"] > 0.3 and base["acc_cnn_title"] > 0.1
    strip = load_image(tmp_path / "strip.png").pixels
    assert strip.shape == (2 * 18 + 2, 8 * 18 + 2, 3)
    assert "report.html" in r.stdout


def test_evaluate_translation_strengths(cyclegan_dir: Path, tmp_path: Path) -> None:
    """Each strength is a row scored on the blend of source and translation (the recipe step's
    definition): strength 0.5 lies exactly halfway, and the strip gets a row per strength."""
    from productstudio.metrics.image_to_image import TranslationEvalParams, evaluate_translation

    params = TranslationEvalParams(cnn_epochs=1, classifier_steps=10, strengths=(1.0, 0.5))
    rep = evaluate_translation([cyclegan_dir], shared_path("data", "products"), tmp_path, params)
    name = cyclegan_dir.name
    assert rep["strip_rows"] == ["sources", name, f"{name} @ strength 0.5"]
    assert (
        rep["rows"][name]["strength"] == 1.0
        and rep["rows"][f"{name} @ strength 0.5"]["strength"] == 0.5
    )
    strip = load_image(tmp_path / "strip.png").pixels.astype(int)
    cell = [strip[2 + r * 18 : 18 + r * 18, 2:18] for r in range(3)]  # first column, 3 rows
    assert np.abs(cell[2] - (cell[0] + cell[1]) / 2).max() <= 1
    with pytest.raises(InvalidParamsError):
        TranslationEvalParams(strengths=(0.0,))


def test_paired_training_needs_backgrounds(tmp_path: Path) -> None:
    data = shared_path("data", "products")
    base = ["-q", "train", "cyclegan", "--data", str(data), "--size", "16", "--max-steps", "1"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "p"), "--set", "mode=paired"])
    assert r.exit_code == 2 and "--backgrounds" in r.output
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "q"), "--arch", "style"])
    assert r.exit_code == 2 and "--arch" in r.output


def test_translate_recipe_step(cyclegan_dir: Path, tmp_path: Path) -> None:
    """The step keeps the picture's size; strength 0 returns it unchanged; `detail: keep` keeps
    more of the full-resolution picture than the enlarged translation does."""
    from productstudio.recipes import Recipe

    photo = load_image(_natural_photos(1)[0]).pixels[:200, :180]
    out = {}
    for name, params in {
        "zero": "strength: 0",
        "keep": "detail: keep",
        "model": "detail: model",
    }.items():
        text = f"version: 1\nsteps:\n  - translate: {{model: {cyclegan_dir.name}, {params}}}\n"
        (tmp_path / f"{name}.yaml").write_text(text)
        (tmp_path / cyclegan_dir.name).mkdir(exist_ok=True)
        for f in ("config.json", "vocab.json", "model.safetensors"):
            (tmp_path / cyclegan_dir.name / f).write_bytes((cyclegan_dir / f).read_bytes())
        out[name] = Recipe.from_yaml(tmp_path / f"{name}.yaml").apply(photo).pixels
    assert out["keep"].shape == photo.shape
    np.testing.assert_array_equal(out["zero"], photo)

    def err(x: np.ndarray) -> float:
        return float(np.abs(x.astype(float) - photo).mean())

    assert 0 < err(out["keep"]) < err(out["model"])


def test_style_gan_and_image_token_from_the_cli(tmp_path: Path) -> None:
    """train gan --arch style + sample --truncation 0 gives one image per prompt; a CVAE with
    --image-encoder cnn varies a given photo; wrong combinations are one red line each."""
    data = shared_path("data", "products")
    base = ["-q", "train", "--data", str(data), "--size", "16", "--limit", "60", "--max-steps", "2"]
    base += ["--batch-size", "4", "--text-encoder", "hashing", "--sample-every", "0"]
    r = runner.invoke(
        app, [base[0], base[1], "gan", *base[2:], "-o", str(tmp_path / "g"), "--arch", "style"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "g" / "config.json").read_text())["config"]["arch"] == "style"
    r = runner.invoke(
        app,
        ["sample", str(tmp_path / "g"), "-n", "3", "--truncation", "0", "-o", str(tmp_path / "s")],
    )
    assert r.exit_code == 0, r.output
    imgs = [load_image(p).pixels for p in sorted((tmp_path / "s").iterdir())]
    assert len(imgs) == 3 and np.array_equal(imgs[0], imgs[1]) and np.array_equal(imgs[1], imgs[2])
    r = runner.invoke(
        app,
        [base[0], base[1], "vae", *base[2:], "-o", str(tmp_path / "v"), "--image-encoder", "cnn"],
    )
    assert r.exit_code == 0, r.output
    photo = tmp_path / "p.png"
    save_image(np.full((40, 30, 3), (200, 40, 40), np.uint8), photo)
    r = runner.invoke(
        app,
        [
            "sample",
            str(tmp_path / "v"),
            "--title",
            "red shirt",
            "--image",
            str(photo),
            "-n",
            "2",
            "-o",
            str(tmp_path / "i"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "i").iterdir())) == 2
    # evaluate scores the image-token model's variations and colour edits (pixel-CNN scorer)
    ev = ["-q", "evaluate", str(tmp_path / "v"), "--data", str(data), "--limit", "300"]
    ev += ["-n", "12", "--cnn-epochs", "1", "--classifier-steps", "5", "--scorer", "pixel-cnn"]
    r = runner.invoke(app, [*ev, "-o", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["feature_network"] == "pixel_cnn_real_train"
    row = rep["models"]["v"]
    assert 0.0 <= row["var_source_closer"] <= 1.0 and row["edit_n"] > 0
    assert {"var_kid", "edit_colour_hit", "edit_cnn_category_kept"} <= set(row)
    r = runner.invoke(
        app, ["sample", str(tmp_path / "v"), "--truncation", "0.5", "-o", str(tmp_path / "t")]
    )
    assert r.exit_code == 2 and "style GAN" in r.output
    r = runner.invoke(
        app, ["sample", str(tmp_path / "g"), "--image", str(photo), "-o", str(tmp_path / "u")]
    )
    assert r.exit_code == 2 and "--image-encoder" in r.output
