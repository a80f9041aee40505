"""Image token in the fusion: frozen EfficientNet-Lite0 features or the small trained CNN."""

from __future__ import annotations

import doctest
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import shared_path
from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.metrics.generation import FeatureNetwork
from productstudio.metrics.generation_eval import check_scorer_independent
from productstudio.models.conditioning import image_features as features_mod
from productstudio.models.conditioning.fusion import (
    ConditionConfig,
    ConditionEncoder,
    Conditioner,
    Prompt,
)
from productstudio.models.conditioning.image_features import (
    EfficientNetFeatures,
    ImageEncoderKind,
    get_image_features,
)
from productstudio.models.data import ATTRIBUTES, ProductData, Split, Vocab, load_products
from productstudio.models.generators import ConditionalVAE, VAEConfig, load_generator
from productstudio.models.train import TrainParams, train


@pytest.fixture(scope="module")
def real16() -> ProductData:
    return load_products(shared_path("data", "products"), size=16, limit=160)


def _onnx() -> Path:
    return shared_path("weights", "features", "efficientnet_lite0_imagenet.onnx")


def test_doctests() -> None:
    assert doctest.testmod(features_mod).failed == 0


def test_frozen_features_match_the_scorer_and_cache(real16: ProductData, tmp_path: Path) -> None:
    """Conditioning features equal the FID network's (same file, same preprocessing), are cached
    on disk and read back identically; a different file is refused by its sha256."""
    ext = EfficientNetFeatures(_onnx(), cache_dir=tmp_path)
    imgs = real16.images[:5]
    f = ext(imgs)
    assert f.shape == (5, 1280) and f.dtype == np.float32
    np.testing.assert_array_equal(f, FeatureNetwork.efficientnet_lite0(_onnx())(imgs))
    (cached,) = tmp_path.glob("efficientnet_lite0_*.npz")
    np.testing.assert_array_equal(EfficientNetFeatures(_onnx(), cache_dir=tmp_path)(imgs), f)
    assert list(tmp_path.glob("*.npz")) == [cached]
    assert ext(imgs[:0]).shape == (0, 1280)
    fake = tmp_path / "efficientnet_lite0_imagenet.onnx"
    shutil.copy(_onnx(), fake)
    with fake.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(WeightsNotFoundError, match="sha256"):
        EfficientNetFeatures(fake)
    with pytest.raises(InvalidParamsError, match="no precomputed"):
        get_image_features("cnn")


@pytest.mark.parametrize("kind", list(ImageEncoderKind))
def test_image_token_uses_the_photo_and_drops_together(kind: ImageEncoderKind) -> None:
    """The fused condition changes with the source photo, a missing photo gives the null token,
    and dropping removes pixels and features of the same rows."""
    shared_path("weights", "features")
    vocab = Vocab.build([{"category": "A"}], ("category",))
    cc = ConditionConfig.from_vocab(
        vocab,
        text_encoder="hashing",
        emb_dim=8,
        out_dim=16,
        use_image=True,
        image_encoder=kind,
        fusion="concat",  # FiLM starts as the identity: other tokens have no effect at init
    )
    enc = ConditionEncoder(cc)
    con = Conditioner(vocab, "hashing", kind)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    prompts = [Prompt("same title", {"category": "A"})] * 4
    with_img = con.batch(prompts, images=imgs)
    assert with_img.image is not None
    assert (with_img.image_feat is not None) == (kind == ImageEncoderKind.EFFICIENTNET)
    c_img, c_none = enc(with_img), enc(con.batch(prompts))
    assert not torch.allclose(c_img[0], c_img[1])  # different photos, same prompt
    assert torch.allclose(c_none[0], c_none[1])
    dropped = with_img.drop(0.0, 0.0, torch.Generator().manual_seed(0), p_image=0.5)
    assert dropped.image is not None
    gone = dropped.image.flatten(1).abs().sum(1) == 0
    assert 0 < int(gone.sum()) < 4
    if dropped.image_feat is not None:
        assert torch.equal(dropped.image_feat.abs().sum(1) == 0, gone)
    c_drop = enc(dropped)
    for i in range(4):
        assert torch.allclose(c_drop[i], c_none[i]) == bool(gone[i])
    kept = with_img.drop(0.0, 0.0, torch.Generator().manual_seed(0), p_image=0.0)
    assert kept.image is not None and torch.equal(kept.image, with_img.image)
    with pytest.raises(InvalidParamsError, match="one source image per prompt"):
        con.batch(prompts, images=imgs[:2])


def _image_vae(data: ProductData, kind: ImageEncoderKind) -> ConditionalVAE:
    vocab = Vocab.build([r.attrs for r in data.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(
        vocab,
        text_encoder="hashing",
        emb_dim=16,
        out_dim=32,
        use_image=True,
        image_encoder=kind,
        fusion="concat",
    )
    cfg = VAEConfig(size=16, z_dim=16, channels=8, kl_warmup_steps=100, learned_prior=True)
    return ConditionalVAE.from_config(cfg, cc, vocab, seed=0)


@pytest.mark.parametrize("kind", list(ImageEncoderKind))
def test_image_conditioned_vae_trains_and_varies_a_photo(
    kind: ImageEncoderKind, real16: ProductData, tmp_path: Path
) -> None:
    """Image + title → new image: a tiny CVAE with an image token trains on real photos (loss
    falls), its samples depend on the source photo, and it round-trips through save/load."""
    shared_path("weights", "features")
    m = _image_vae(real16, kind)
    train(
        m,
        real16.subset(Split.TRAIN),
        tmp_path,
        TrainParams(batch_size=32, max_steps=40, log_every=1, sample_every=0),
    )
    log = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    vals = [r["loss"] for r in log]
    assert np.mean(vals[-5:]) < np.mean(vals[:5])
    test = real16.subset(Split.VAL, limit=4)
    prompts: list[Any] = [Prompt(r.title, dict(r.attrs)) for r in test.records]
    a = m.sample(prompts, seed=0, images=test.images)
    b = m.sample(prompts, seed=0, images=test.images[::-1].copy())
    assert a.shape == (4, 16, 16, 3) and not np.array_equal(a, b)
    m2 = load_generator(tmp_path)
    assert m2.cond_config.image_encoder == kind
    np.testing.assert_array_equal(m2.sample(prompts, seed=0, images=test.images), a)
    with pytest.raises(InvalidParamsError, match="prepare_image"):
        m.sample(prompts, images=np.zeros((4, 8, 8, 3), np.uint8))
    # FID/KID on EfficientNet-Lite0 may not score a model conditioned on its features
    if kind == ImageEncoderKind.EFFICIENTNET:
        with pytest.raises(InvalidParamsError, match="--scorer pixel-cnn"):
            check_scorer_independent(m, "efficientnet_lite0_imagenet", tmp_path)
    else:
        check_scorer_independent(m, "efficientnet_lite0_imagenet", tmp_path)
    check_scorer_independent(m, "pixel_cnn_real_train")


def test_npz_cache_writes_survive_concurrent_writers(tmp_path: Path) -> None:
    """Processes filling one cache file at once (two trainings starting together) each write a
    unique temp file and rename it: no writer fails, no temp file is left, the file loads."""
    from concurrent.futures import ThreadPoolExecutor

    from productstudio.models.data import save_npz

    target = tmp_path / "c" / "products.npz"
    arrays = [np.full((64, 64, 3), i, np.uint8) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda a: save_npz(target, images=a), arrays))
    assert [p.name for p in target.parent.iterdir()] == ["products.npz"]
    with np.load(target) as z:
        v = int(z["images"][0, 0, 0])
        assert (z["images"] == v).all() and 0 <= v < 8
