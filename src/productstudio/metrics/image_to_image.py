"""Evaluation of photo → image models: translation (CycleGAN / paired) and image-guided variations.

:func:`evaluate_translation` scores ``cyclegan`` models on held-out photos (validation + test
split by id hash, never trained on):

* **unpaired** (domain A → B, e.g. in-store → packshot): FID/KID and k-NN precision/recall of
  the translated domain-A photos against all domain-B photos, beside two baselines measured in
  the same run — the untranslated photos, and a global colour transfer (each channel's mean/std
  matched to domain B) — and a **product-identity** check: classifiers of the product (title,
  81 classes, and coarse category) trained on real photos of both domains (domain-A train split
  + all of domain B) must still recognise the product after translation
  (``identity_ratio_* = accuracy on translated / accuracy on untranslated``). Two classifiers:
  a probe on the scoring network's features and a small pixel CNN.
* **paired**: the held-out composites' translations against their true studio photos (PSNR,
  SSIM, L1), beside the untranslated composites.

The scoring network is EfficientNet-Lite0 (no translation model uses it in training;
:func:`~productstudio.metrics.generation_eval.check_scorer_independent` is still applied).

:func:`image_guidance` measures a generator with an image token: variations of test photos under
their own prompt (distribution scores + how often a variation stays closer to its source than to
another photo) and under a changed colour (how often the colour classifier reads the new colour
while the category classifier still reads the old category).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.metrics.generation import (
    AttributeClassifier,
    FeatureExtractor,
    FeatureNetwork,
    PixelAttributeClassifier,
    fid,
    kid,
    precision_recall,
)
from productstudio.metrics.generation_eval import check_scorer_independent

log = logging.getLogger(__name__)

#: identity labels of the translation check (record field → classifier)
IDENTITY_LABELS: tuple[str, ...] = ("title", "category")
#: the issue's target: the product is recognised at least this often relative to before
IDENTITY_TARGET = 0.8


@dataclass(frozen=True)
class TranslationEvalParams:
    seed: int = 0
    features: Path | None = None
    kid_subsets: int = 50
    kid_subset_size: int = 200
    classifier_steps: int = 200
    cnn_epochs: int = 30  # the grocery set is small (≈ 470 training photos)
    backgrounds: Path | None = None  # paired models: background photos for the composites
    variants: int = 1  # paired: composites per held-out studio photo
    strip: int = 8  # photos in the before/after strip
    #: unpaired: each model is also scored at these strengths (blended with the source, as the
    #: recipe step's ``strength``), rows "NAME @ strength S"; 1.0 is the row "NAME"
    strengths: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if self.cnn_epochs < 1 or self.classifier_steps < 1 or self.strip < 1:
            raise InvalidParamsError(
                "TranslationEvalParams: cnn_epochs, classifier_steps and strip must be >= 1"
            )
        if not self.strengths or not all(0.0 < s <= 1.0 for s in self.strengths):
            raise InvalidParamsError(
                f"TranslationEvalParams.strengths must be in (0, 1], got {self.strengths}"
            )


def colour_transfer(images: NDArray[np.uint8], reference: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Baseline: shift and scale each RGB channel of ``images`` (N, H, W, 3) so that its mean
    and standard deviation over the whole set equal those of ``reference``.

    Example:
        >>> a = np.full((2, 2, 2, 3), 100, np.uint8); a[0] = 50
        >>> r = np.full((1, 2, 2, 3), 200, np.uint8); r[0, 0] = 180
        >>> out = colour_transfer(a, r)
        >>> bool(abs(out.mean() - r.mean()) < 1)
        True
    """
    x = images.astype(np.float64)
    ref = reference.astype(np.float64)
    mu, sd = x.mean((0, 1, 2)), x.std((0, 1, 2)) + 1e-6
    out = (x - mu) / sd * ref.std((0, 1, 2)) + ref.mean((0, 1, 2))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _labels(records: Sequence[Any], field: str, index: dict[str, int]) -> NDArray[np.int64]:
    return np.array(
        [
            index.get(getattr(r, field) if field == "title" else r.attrs.get(field, ""), -1)
            for r in records
        ],
        np.int64,
    )


class _Scorer:
    """Distribution scores against a reference set and the identity classifiers."""

    def __init__(
        self,
        net: FeatureExtractor,
        reference: NDArray[np.uint8],
        clf_images: NDArray[np.uint8],
        clf_records: Sequence[Any],
        params: TranslationEvalParams,
    ) -> None:
        self.net, self.params = net, params
        self.f_ref = net(reference)
        f_clf = net(clf_images)
        self.index: dict[str, dict[str, int]] = {}
        y: dict[str, NDArray[np.int64]] = {}
        self.probes: dict[str, AttributeClassifier] = {}
        for field in IDENTITY_LABELS:
            values = sorted(
                {
                    getattr(r, field) if field == "title" else r.attrs.get(field, "")
                    for r in clf_records
                }
                - {""}
            )
            self.index[field] = {v: i for i, v in enumerate(values)}
            y[field] = _labels(clf_records, field, self.index[field])
            self.probes[field] = AttributeClassifier(steps=params.classifier_steps).fit(
                f_clf, y[field]
            )
        self.cnn = PixelAttributeClassifier(epochs=params.cnn_epochs, seed=params.seed).fit(
            clf_images, y
        )

    def score(self, images: NDArray[np.uint8], records: Sequence[Any]) -> dict[str, float]:
        f = self.net(images)
        k, k_std = kid(
            f,
            self.f_ref,
            subsets=self.params.kid_subsets,
            subset_size=self.params.kid_subset_size,
            seed=self.params.seed,
        )
        p, r = precision_recall(self.f_ref, f)
        row = {"fid": fid(f, self.f_ref), "kid": k, "kid_std": k_std, "precision": p, "recall": r}
        ys = {field: _labels(records, field, self.index[field]) for field in IDENTITY_LABELS}
        cnn_acc = self.cnn.accuracy(images, ys)
        for field in IDENTITY_LABELS:
            row[f"acc_{field}"] = self.probes[field].accuracy(f, ys[field])
            row[f"acc_cnn_{field}"] = cnn_acc[field]
        return row


def _strip(before: NDArray[np.uint8], after: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """Rows: the sources, then each model's translations (white 2 px gaps)."""
    from productstudio.models.train import make_grid

    return make_grid(np.concatenate([before, *after]), cols=len(before))


def evaluate_translation(
    model_dirs: Sequence[Path],
    data_root: Path,
    out_dir: Path,
    params: TranslationEvalParams,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score translation models (all of one mode, size and domains) on held-out photos.

    Writes ``out_dir/report.json``, ``out_dir/report.html`` and ``out_dir/strip.png`` (sources on
    the first row, each model's translation below).

    Raises:
        InvalidParamsError: models differ in mode/size/domains, a paired model without
            ``params.backgrounds``, or a non-translation model.
    """
    from productstudio.imaging import save_image, write_atomic
    from productstudio.metrics.generation_eval import write_html_report
    from productstudio.models.data import Split, load_products
    from productstudio.models.generators import CycleGAN, load_generator
    from productstudio.models.generators.cyclegan import TranslationMode, blend_translation
    from productstudio.settings import get_settings

    models = [load_generator(d) for d in model_dirs]
    if not models or not all(isinstance(m, CycleGAN) for m in models):
        raise InvalidParamsError(
            "evaluate_translation: every model must come from `train cyclegan`"
        )
    keys = {(m.size, m.config.mode, m.config.domain_a, m.config.domain_b) for m in models}
    if len(keys) != 1:
        raise InvalidParamsError(
            "evaluate_translation: models differ in size, mode or domains; evaluate them apart"
        )
    size, mode, dom_a, dom_b = keys.pop()
    net = (
        FeatureNetwork.efficientnet_lite0(params.features)
        if params.features is None or params.features.name == "efficientnet_lite0_imagenet.onnx"
        else FeatureNetwork.from_onnx(params.features)
    )
    for d, m in zip(model_dirs, models, strict=True):
        check_scorer_independent(m, net.name, d)
    cache = get_settings().cache_dir / "products"
    held = (Split.VAL, Split.TEST)
    rows: dict[str, dict[str, Any]] = {}
    translated: dict[str, NDArray[np.uint8]] = {}
    if mode == TranslationMode.PAIRED:
        from productstudio.metrics.quality import psnr, ssim
        from productstudio.models.translation_data import composite_pairs, load_backgrounds

        if params.backgrounds is None:
            raise InvalidParamsError("paired models are scored on composites: give backgrounds")
        studio = load_products(
            data_root, size=size, sources=models[0].config.studio_sources, cache_dir=cache
        )
        studio = studio.take([i for i, r in enumerate(studio.records) if r.split in held])
        pairs = composite_pairs(
            studio,
            load_backgrounds(params.backgrounds),
            variants=params.variants,
            seed=params.seed + 1,
        )
        assert pairs.inputs is not None
        src, target = pairs.inputs, pairs.images
        f_target = net(target)

        def paired_row(images: NDArray[np.uint8]) -> dict[str, float]:
            f = net(images)
            k, k_std = kid(
                f,
                f_target,
                subsets=params.kid_subsets,
                subset_size=params.kid_subset_size,
                seed=params.seed,
            )
            return {
                "psnr": float(np.mean([psnr(a, b) for a, b in zip(images, target, strict=True)])),
                "ssim": float(np.mean([ssim(a, b) for a, b in zip(images, target, strict=True)])),
                "l1": float(np.abs(images.astype(np.float64) - target).mean() / 255),
                "kid": k,
                "kid_std": k_std,
                "fid": fid(f, f_target),
            }

        rows["baseline: untranslated composites"] = paired_row(src)
        for i, (d, m) in enumerate(zip(model_dirs, models, strict=True)):
            assert isinstance(m, CycleGAN)
            translated[Path(d).name] = m.translate(src)
            rows[Path(d).name] = paired_row(translated[Path(d).name])
            if on_progress is not None:
                on_progress(i + 1, len(models))
        n_src, n_ref = len(src), len(target)
        strip_src = src
        extra: dict[str, Any] = {"targets": "studio originals of the held-out composites"}
    else:
        data = load_products(data_root, size=size, sources=(*dom_a, *dom_b), cache_dir=cache)
        recs = data.records
        a_held = [i for i, r in enumerate(recs) if r.source in dom_a and r.split in held]
        a_train = [i for i, r in enumerate(recs) if r.source in dom_a and r.split == Split.TRAIN]
        b_all = [i for i, r in enumerate(recs) if r.source in dom_b]
        if len(a_held) < 4 or len(b_all) < 4:
            raise InvalidParamsError(
                f"too few photos to score: {len(a_held)} held-out domain-A, {len(b_all)} domain-B"
            )
        src, src_recs = data.images[a_held], [recs[i] for i in a_held]
        ref = data.images[b_all]
        clf = a_train + b_all
        scorer = _Scorer(net, ref, data.images[clf], [recs[i] for i in clf], params)
        rows["baseline: untranslated"] = scorer.score(src, src_recs)
        rows["baseline: colour transfer"] = scorer.score(colour_transfer(src, ref), src_recs)
        half = len(ref) // 2
        f_a, f_b = scorer.f_ref[:half], scorer.f_ref[half:]
        rows["reference: domain B, one half vs the other"] = {
            "kid": kid(f_a, f_b, subsets=params.kid_subsets, seed=params.seed)[0],
            "fid": fid(f_a, f_b),
        }
        for i, (d, m) in enumerate(zip(model_dirs, models, strict=True)):
            assert isinstance(m, CycleGAN)
            full = m.translate(src)
            for strength in params.strengths:
                name = Path(d).name + ("" if strength == 1.0 else f" @ strength {strength:g}")
                translated[name] = blend_translation(src, full, strength)
                row = scorer.score(translated[name], src_recs)
                base = rows["baseline: untranslated"]
                for field in IDENTITY_LABELS:
                    for k in (f"acc_{field}", f"acc_cnn_{field}"):
                        row[f"identity_ratio_{k[4:]}"] = (
                            row[k] / base[k] if base[k] > 0 else float("nan")
                        )
                row["kid_below_untranslated"] = row["kid"] < base["kid"]
                row["strength"] = strength
                rows[name] = row
            if on_progress is not None:
                on_progress(i + 1, len(models))
        n_src, n_ref = len(src), len(ref)
        strip_src = src
        extra = {
            "reference": f"all {n_ref} photos of {list(dom_b)}",
            "identity_classifiers": "probe on the scoring features and a pixel CNN, trained on "
            f"{len(a_train)} {list(dom_a)} train photos + the {n_ref} {list(dom_b)} photos",
            "identity_target": IDENTITY_TARGET,
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    pick = np.sort(rng.choice(len(strip_src), min(params.strip, len(strip_src)), replace=False))
    save_image(
        _strip(strip_src[pick], [t[pick] for t in translated.values()]), out_dir / "strip.png"
    )
    result = {
        "mode": str(mode),
        "size": size,
        "feature_network": net.name,
        "domain_a": list(dom_a),
        "domain_b": list(dom_b),
        "n_sources": n_src,
        "n_reference": n_ref,
        "strip_rows": ["sources", *translated],
        "strip_indices": pick.tolist(),
        **extra,
        "rows": rows,
    }
    write_atomic(json.dumps(result, indent=1, default=float).encode(), out_dir / "report.json")
    write_html_report(
        out_dir / "report.html",
        "Translation evaluation",
        rows,
        {"before (top) / after": "strip.png"},
        notes=[
            f"features: {net.name}; {n_src} held-out sources, {n_ref} reference photos, {size}px",
            *(f"{k}: {v}" for k, v in extra.items()),
        ],
    )
    return result


def _swap_word(title: str, old: str, new: str) -> str:
    """``title`` with the word ``old`` replaced by ``new`` (case-insensitive), else ``new``
    prefixed."""
    import re

    pat = re.compile(rf"\b{re.escape(old)}\b", re.IGNORECASE) if old else None
    if pat is not None and pat.search(title):
        return pat.sub(new, title, count=1)
    return f"{new} {title}".strip()


def image_guidance(
    model: Any, test: Any, evaluator: Any, *, seed: int = 0, attribute: str = "colour"
) -> dict[str, float]:
    """How a generator with an image token uses the source photo (image + title → new image).

    For each test photo: ``var_*`` = its variation under its own prompt, scored like samples
    (KID/FID/precision/recall against the test photos and attribute accuracy) on the
    evaluator's network; ``var_source_closer`` = share of variations whose features are closer to
    their own source than to another test photo's; ``edit_*`` = the same photo under a prompt whose
    ``attribute`` (value and title word) is changed to another frequent value:
    ``edit_<attr>_hit`` (probe and CNN read the new value) and ``edit_category_kept`` (they still
    read the source's category).

    Raises:
        InvalidParamsError: the model has no image token.
    """
    from productstudio.models.conditioning.fusion import Prompt
    from productstudio.models.train import prompt_of

    if not getattr(model, "uses_image", False):
        raise InvalidParamsError("image_guidance: the model has no image token")
    prompts = [prompt_of(r) for r in test.records]
    var = model.sample(prompts, seed=seed, strict=False, images=test.images)
    row = {f"var_{k}": v for k, v in evaluator.score(var).items()}
    f_var, f_src = evaluator.net(var), evaluator.net(test.images)
    other = np.roll(np.arange(len(test)), 1)
    d_own = np.linalg.norm(f_var - f_src, axis=1)
    d_other = np.linalg.norm(f_var - f_src[other], axis=1)
    row["var_source_closer"] = float((d_own < d_other).mean())
    # edit: another frequent value of `attribute` (>= 1 % of the train photos)
    index, _ = evaluator.labels[attribute]
    y_train = evaluator.y_train[attribute]
    counts = np.bincount(y_train[y_train >= 0], minlength=len(index))
    values = sorted(index, key=lambda v: -counts[index[v]])
    frequent = [v for v in values if counts[index[v]] >= max(1, len(y_train) // 100)]
    rng = np.random.default_rng(seed)
    edit_prompts, targets, keep = [], [], []
    for i, p in enumerate(prompts):
        old = p.attrs.get(attribute, "")
        choices = [v for v in frequent if v.lower() != old.lower()]
        if not old or not choices:
            continue
        new = choices[int(rng.integers(len(choices)))]
        attrs = {**p.attrs, attribute: new}
        edit_prompts.append(Prompt(_swap_word(p.title, old, new), attrs, p.audience))
        targets.append(index[new])
        keep.append(i)
    if not keep:
        return row
    edited = model.sample(edit_prompts, seed=seed, strict=False, images=test.images[keep])
    f_edit = evaluator.net(edited)
    y_target = np.array(targets, np.int64)
    y_cat = evaluator.labels["category"][1][keep]
    row[f"edit_{attribute}_hit"] = evaluator.classifiers[attribute].accuracy(f_edit, y_target)
    row["edit_category_kept"] = evaluator.classifiers["category"].accuracy(f_edit, y_cat)
    if evaluator.cnn is not None:
        acc = evaluator.cnn.accuracy(edited, {attribute: y_target, "category": y_cat})
        row[f"edit_cnn_{attribute}_hit"] = acc[attribute]
        row["edit_cnn_category_kept"] = acc["category"]
        row[f"source_cnn_{attribute}_is_target"] = evaluator.cnn.accuracy(
            test.images[keep], {attribute: y_target}
        )[attribute]
    row["edit_n"] = float(len(keep))
    return row
