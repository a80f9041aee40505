"""Render every README/docs table that quotes benchmark numbers from ``benchmarks/results/*.json``.

A quoted table lives in a Markdown file between two markers; everything between them is
generated from the committed JSON, so each number in the docs can be traced to a file (and the
file's ``metadata`` says which command, commit, threads and machine load produced it)::

    <!-- table:inpaint -->
    (generated: do not edit by hand)
    <!-- /table -->

Usage (from the repository root)::

    python docs/tables.py            # rewrite the tables in README.md and docs/**/*.md
    python docs/tables.py --check    # exit 1, with a diff, when a doc and its JSON disagree (CI)
    python docs/tables.py --list     # the registered tables and where they are used

Adding a table is one function: decorate it with ``@table(NAME, "file.json")``; it receives the
parsed file and returns a :class:`Table` (header, rows, optional note). Then put the two markers
where the table belongs. Helpers: :meth:`Results.row` / :meth:`Results.rows` pick rows of the
STYLE.md layout (``{"metadata", "results": [{"case", "backend", ...}]}``) by field values, and
:func:`num` / :func:`pct` / :func:`signed` format numbers (``nan`` and ``None`` print as ``–``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(
    r"(?P<open><!-- table:(?P<name>[a-z0-9_.-]+) -->\n)(?P<body>.*?)(?P<close><!-- /table -->)",
    re.DOTALL,
)
FENCE = re.compile(r"(^```.*?^```[^\n]*$)", re.DOTALL | re.MULTILINE)
DASH = "–"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A rendered table: ``header`` and ``rows`` of cells (already formatted strings)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""  # one line printed under the table (what the baseline is, units …)


@dataclass(frozen=True)
class Entry:
    name: str
    source: str  # file name under benchmarks/results/
    render: Callable[[Results], Table]
    caption: bool  # add the "From benchmarks/results/X.json (command, commit, load)" line


TABLES: dict[str, Entry] = {}


def table(
    name: str, source: str, *, caption: bool = True
) -> Callable[[Callable[[Results], Table]], Callable[[Results], Table]]:
    """Register a table renderer under ``name``, reading ``benchmarks/results/<source>``."""

    def deco(fn: Callable[[Results], Table]) -> Callable[[Results], Table]:
        if name in TABLES:
            raise ValueError(f"docs/tables.py: table {name!r} is registered twice")
        TABLES[name] = Entry(name, source, fn, caption)
        return fn

    return deco


@dataclass
class Results:
    """One parsed results file."""

    path: Path
    data: Any = field(repr=False)

    @classmethod
    def load(cls, source: str) -> Results:
        path = RESULTS / source
        if not path.is_file():
            raise SystemExit(
                f"docs/tables.py: {_rel(path)} is missing; run the benchmark that "
                "writes it and commit the JSON"
            )
        return cls(path, json.loads(path.read_text(encoding="utf-8")))

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.data.get("metadata", {})) if isinstance(self.data, dict) else {}

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.data["results"])

    def rows(self, **match: Any) -> list[dict[str, Any]]:
        """Result rows whose fields equal ``match`` (in file order)."""
        return [r for r in self.results if all(r.get(k) == v for k, v in match.items())]

    def row(self, **match: Any) -> dict[str, Any]:
        """The one result row whose fields equal ``match``."""
        found = self.rows(**match)
        if len(found) != 1:
            raise SystemExit(
                f"docs/tables.py: {_rel(self.path)} has {len(found)} rows with "
                f"{match}, expected exactly one; rerun the benchmark or fix the table function"
            )
        return found[0]


# -- formatting --------------------------------------------------------------------------------


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, nd: int = 2) -> str:
    """``x`` with ``nd`` decimals (thousands separated); ``–`` for None/nan."""
    return DASH if _missing(x) else f"{float(x):,.{nd}f}"


def signed(x: Any, nd: int = 2) -> str:
    """``x`` with an explicit sign (``+0.31``, ``−1.20``)."""
    return DASH if _missing(x) else f"{float(x):+.{nd}f}".replace("-", "−")


def pct(x: Any, nd: int = 0, sign: bool = False) -> str:
    """A share as a percentage (``0.93`` → ``93 %``)."""
    if _missing(x):
        return DASH
    s = f"{100 * float(x):{'+' if sign else ''}.{nd}f} %"
    return s.replace("-", "−")


def bold(s: str, on: bool) -> str:
    return f"**{s}**" if on else s


def _markdown(t: Table) -> str:
    lines = ["| " + " | ".join(t.header) + " |", "| " + " | ".join("---" for _ in t.header) + " |"]
    for r in t.rows:
        if len(r) != len(t.header):
            raise ValueError(f"row {list(r)} has {len(r)} cells, header has {len(t.header)}")
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines) + "\n"


def _caption(res: Results, doc: Path) -> str:
    m = res.meta
    link = os.path.relpath(res.path, doc.parent).replace(os.sep, "/")
    parts = []
    if m.get("command"):
        parts.append(f"`{m['command']}`")
    if m.get("git_commit"):
        parts.append(f"commit {m['git_commit']}" + (" + edits" if m.get("git_dirty") else ""))
    if m.get("time"):
        parts.append(str(m["time"])[:10])
    before, after = m.get("load_avg_before"), m.get("load_avg_after")
    if before and after:
        parts.append(f"load {before[0]:.1f} → {after[0]:.1f} on {m.get('cpu_count', '?')} cores")
    return f"*From [`{_rel(res.path)}`]({link}): {', '.join(parts)}.*\n"


def render(name: str, doc: Path, cache: dict[str, Results] | None = None) -> str:
    """The generated body of table ``name`` as it appears in ``doc``."""
    if name not in TABLES:
        known = ", ".join(sorted(TABLES)) or "none"
        raise SystemExit(
            f"docs/tables.py: {_rel(doc)} uses <!-- table:{name} -->, which is not "
            f"registered (known: {known}); add a @table function or fix the marker"
        )
    entry = TABLES[name]
    cache = {} if cache is None else cache
    res = cache.get(entry.source) or cache.setdefault(entry.source, Results.load(entry.source))
    t = entry.render(res)
    out = _markdown(t)
    if t.note:
        out += f"\n{t.note}\n"
    if entry.caption:
        out += "\n" + _caption(res, doc)
    return out


def rewrite(text: str, doc: Path, cache: dict[str, Results] | None = None) -> str:
    """``text`` with every marked table regenerated."""
    cache = {} if cache is None else cache

    def sub(m: re.Match[str]) -> str:
        return m["open"] + render(m["name"], doc, cache) + m["close"]

    # markers inside fenced code blocks are examples, not tables
    parts = FENCE.split(text)
    return "".join(p if p.startswith("```") else MARKER.sub(sub, p) for p in parts)


def docs() -> list[Path]:
    """The Markdown files that may quote benchmark numbers: README.md and docs/**/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _outside_fences(text: str) -> str:
    return "".join(t for t in FENCE.split(text) if not t.startswith("```"))


def used(paths: Iterable[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in paths:
        text = "".join(
            t for t in FENCE.split(p.read_text(encoding="utf-8")) if not t.startswith("```")
        )
        for m in MARKER.finditer(text):
            out.setdefault(m["name"], []).append(p)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when a doc differs from its JSON")
    ap.add_argument("--list", action="store_true", help="list the tables and where they are used")
    args = ap.parse_args(argv)
    paths = [p for p in docs() if p.is_file()]
    if args.list:
        where = used(paths)
        for name, e in sorted(TABLES.items()):
            files = ", ".join(_rel(p) for p in where.get(name, [])) or "unused"
            print(f"{name:28} {e.source:24} {files}")
        return 0
    cache: dict[str, Results] = {}
    stale = []
    for p in paths:
        old = p.read_text(encoding="utf-8")
        prose = _outside_fences(old)
        if prose.count("<!-- table:") != len(MARKER.findall(prose)):
            raise SystemExit(
                f"docs/tables.py: {_rel(p)} has a <!-- table:NAME --> marker "
                "without its <!-- /table --> (or a name with characters other than a-z0-9_.-)"
            )
        new = rewrite(old, p, cache)
        if new == old:
            continue
        rel = _rel(p)
        if args.check:
            stale.append(rel)
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True),
                    new.splitlines(True),
                    f"{rel} (committed)",
                    f"{rel} (JSON)",
                )
            )
        else:
            p.write_text(new, encoding="utf-8")
            print(f"updated {rel}")
    if stale:
        print(
            f"\n{len(stale)} file(s) disagree with benchmarks/results/*.json: "
            f"{', '.join(stale)}. Run `python docs/tables.py` and commit the result.",
            file=sys.stderr,
        )
        return 1
    return 0


# -- the tables --------------------------------------------------------------------------------
# One function per table. Keep each next to the others of its benchmark; name tables
# "<benchmark>" or "<benchmark>-<part>".


@table("ops", "ops.json")
def _ops(r: Results) -> Table:
    rows = [
        [
            x["case"],
            f"`{x['backend']}`",
            num(1000 * x["median_s"], 0),
            num(1000 * x["iqr_s"], 0),
            num(x["ratio_vs_baseline"], 1),
        ]
        for x in r.results
    ]
    return Table(["case (2000×2000)", "code", "median ms", "IQR ms", "× Pillow"], rows)


@table("inpaint", "inpaint.json")
def _inpaint(r: Results) -> Table:
    rows = [
        [
            x["case"].split(",")[0],
            f"`{x['backend']}`",
            num(x["masked_psnr_mean"]),
            signed(x["psnr_gain_vs_telea_db"]),
            num(x["ssim_bbox_mean"], 3),
            num(x["ms_per_mp"], 0),
            num(x["ratio_vs_baseline"], 1),
        ]
        for x in r.results
    ]
    side = r.meta.get("side", "?")
    return Table(
        [
            "hole",
            "backend",
            "masked PSNR dB",
            "vs Telea dB",
            "SSIM (hole bbox)",
            "ms/MP",
            "time × Telea",
        ],
        rows,
        note=f"{len(r.meta.get('photos', []))} DIS5K product photos at {side} px.",
    )


@table("upscale", "upscale.json")
def _upscale(r: Results) -> Table:
    rows = [
        [
            x["case"],
            f"`{x['backend']}`",
            num(x["psnr_mean"]),
            signed(x["psnr_gain_vs_bicubic_db"]),
            signed(x["psnr_gain_min_db"]),
            num(x["ssim_mean"], 3),
            num(x["ms_per_output_mp"], 0),
        ]
        for x in r.results
    ]
    return Table(
        [
            "case",
            "upscaler",
            "PSNR dB",
            "vs bicubic dB",
            "worst photo dB",
            "SSIM",
            "ms/MP (output)",
        ],
        rows,
        note=f"{len(r.meta.get('photos', []))} DIS5K product crops, {r.meta.get('crop', '?')} px.",
    )


@table("recolour", "recolour.json")
def _recolour(r: Results) -> Table:
    rows = []
    for case in ("matte: all", "glossy/metallic: all"):
        for x in r.rows(case=case):
            rows.append(
                [
                    case.split(":")[0],
                    f"`{x['backend']}`",
                    str(x["n"]),
                    num(x["de2000_median"]),
                    num(x["de2000_p90"]),
                    pct(x["share_le_3"]),
                    num(x["mean_colour_de2000_median"]),
                    pct(x["mean_colour_share_le_3"]),
                    num(x["shading_corr_median"], 3),
                    num(x["shading_corr_p10"], 3),
                    str(x["outside_changed_px"]),
                    num(x["ratio_vs_baseline"]),
                ]
            )
    return Table(
        [
            "finish",
            "method",
            "n",
            "median-colour ΔE (median)",
            "p90",
            "≤ 3",
            "mean-colour ΔE (median)",
            "≤ 3",
            "shading kept (median)",
            "p10",
            "px changed outside",
            "ΔE × lab-shift",
        ],
        rows,
    )


@table("text-removal-kept", "text_removal.json")
def _text_kept(r: Results) -> Table:
    k = r.row(case="printed text kept (original photos)")
    rows = [
        ["printed boxes kept on the untouched photos", pct(k["kept_box_share"]), str(k["n"])],
        [
            "photos with every printed box kept",
            pct(k["photos_all_printed_kept_share"]),
            str(len(r.meta.get("photos", []))),
        ],
    ]
    for x in r.results:
        if x["case"].startswith("overlay classification"):
            group = x["case"].rsplit(": ", 1)[-1]
            rows.append(
                [
                    f"overlay recall / precision ({group} set)",
                    f"{pct(x['overlay_recall'])} / {pct(x['overlay_precision'])}",
                    str(x["n"]),
                ]
            )
            rows.append(
                [
                    f"printed boxes kept on overlaid photos ({group} set)",
                    pct(x["printed_kept_on_overlay_photos"]),
                    DASH,
                ]
            )
    rows += [
        [
            f"overlay instances detected: {x['case'].split(': ', 1)[1]}",
            pct(x["instance_recall"]),
            str(x["n"]),
        ]
        for x in r.results
        if x["case"].startswith("detection recall")
    ]
    return Table(["measure", "value", "n"], rows)


@table("text-removal", "text_removal.json")
def _text_removal(r: Results) -> Table:
    rows = []
    for group in ("core", "stress"):
        for x in r.rows(case=f"removal: {group}"):
            rows.append(
                [
                    group,
                    f"`{x['backend']}`",
                    str(x["n"]),
                    num(x["masked_psnr_mean"]),
                    signed(x["psnr_gain_vs_baseline_db"]),
                    signed(x["psnr_gain_vs_no_unblend_db"]),
                    num(x["ssim_mean"], 3),
                    pct(x["changed_outside_share"], 1),
                    num(x["ratio_vs_baseline"], 2) if x["backend"] != "untouched" else DASH,
                ]
            )
    return Table(
        [
            "set",
            "method",
            "n",
            "masked PSNR dB",
            "vs plain-ocr dB",
            "vs no-unblend dB",
            "SSIM",
            "changed outside",
            "time × plain-ocr",
        ],
        rows,
    )


@table("text-removal-kinds", "text_removal.json")
def _text_removal_kinds(r: Results) -> Table:
    def get(kind: str, backend: str) -> dict[str, Any]:
        return r.row(case=f"removal: {kind}", backend=backend)

    rows = []
    for x in r.rows(backend="plain-ocr/telea"):
        kind = x["case"].removeprefix("removal: ")
        if kind in ("core", "stress"):
            continue
        ours, plain = get(kind, "pipeline/telea"), x
        rows.append(
            [
                kind,
                num(get(kind, "untouched")["masked_psnr_mean"]),
                num(ours["masked_psnr_mean"]),
                num(plain["masked_psnr_mean"]),
                num(get(kind, "oracle-mask/telea")["masked_psnr_mean"]),
                signed(ours["psnr_gain_vs_baseline_db"]),
                pct(ours["changed_outside_share"], 1),
                pct(plain["changed_outside_share"], 1),
            ]
        )
    return Table(
        [
            "overlay",
            "untouched dB",
            "ours dB",
            "plain-ocr dB",
            "oracle dB",
            "ours − plain-ocr",
            "ours changed outside",
            "plain-ocr changed outside",
        ],
        rows,
        note="ours = `pipeline/telea`; masked PSNR on the overlay's visible pixels.",
    )


# personalize (benchmarks/personalise.py): the three tables of docs/personalize.md "Numbers"

POLICY_LABELS = {
    "uniform": "uniform",
    "epsilon-greedy": "epsilon-greedy (ε 0.1)",
    "thompson": "thompson, Beta(1, 1)",
    "thompson, Beta(1, 30) prior": "thompson, Beta(1, 30)",
    "lin-ts": "lin-ts",
    "lin-ucb": "lin-ucb",
}


@table("personalize-simulator", "personalise.json", caption=False)
def _personalize_simulator(r: Results) -> Table:
    sim = r.row(case="simulator_regret")
    targets = sim["targets"]
    rows = []
    for key, label in POLICY_LABELS.items():
        s = sim["summary"][key]
        ratio = s["regret_vs_uniform"]
        best = s["best_variant_share_mean"]
        rows.append(
            [
                label,
                f"{s['regret_mean']:.0f} ± {s['regret_sd']:.0f}",
                bold(f"{ratio:.3f}", ratio <= targets["thompson_regret_vs_uniform_max"]),
                bold(f"{best:.2f}", best >= targets["best_variant_share_min"])
                + f" / {s['best_variant_share_min']:.2f}",
            ]
        )
    return Table(
        ["policy", "regret (mean ± s.d.)", "vs uniform", "best found (mean / worst seed)"],
        rows,
        note="Bold: the target is met (regret ≤ 25 % of uniform's; best variant found in ≥ 90 % "
        "of groups).",
    )


def _ci(e: dict[str, Any]) -> str:
    return f"{e['value']:.5f} [{e['ci_low']:.5f}, {e['ci_high']:.5f}]"


@table("personalize-obd", "personalise.json", caption=False)
def _personalize_obd(r: Results) -> Table:
    obd = r.row(case="open_bandit_dataset")
    rows = []
    for name, c in obd["campaigns"].items():
        est = c["bts_from_random"]
        lo, hi = c["bts_observed_ctr_wilson95"]
        covered = sum(bool(e["covers_observed"]) for e in est.values())
        rows.append(
            [
                f"{name} ({c['items']} items)",
                f"{c['bts_observed_ctr']:.5f} [{lo:.5f}, {hi:.5f}]",
                _ci(est["ips"]),
                _ci(est["snips"]),
                _ci(est["dr"]),
                pct(est["ips"]["relative_error"], sign=True),
                f"{covered} / {len(est)}",
            ]
        )
    return Table(
        [
            "campaign",
            "observed (95 % Wilson)",
            "IPS [95 % CI]",
            "SNIPS",
            "DR",
            "rel. error (IPS)",
            "covered",
        ],
        rows,
    )


def _ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 1 else f"{v:.1f} ms"


STORE_LABELS = {"sqlite": "SQLite (WAL)", "postgresql+psycopg": "PostgreSQL 15 (localhost)"}


@table("personalize-throughput", "personalise.json", caption=False)
def _personalize_throughput(r: Results) -> Table:
    rows = []
    for x in r.rows(case="throughput"):
        seq, par = x["sequential"], x["threads_2"]
        rows.append(
            [
                STORE_LABELS.get(x["backend"], x["backend"]),
                f"{seq['decisions_per_s']:.0f}",
                f"{seq['p50_ms']:.1f} / {seq['p95_ms']:.1f}",
                f"{par['decisions_per_s']:.0f}",
                _ms(x["baseline_bare_insert"]["p50_ms"]),
                "yes" if x["counts_exact"] else "**no**",
            ]
        )
    return Table(
        [
            "store",
            "sequential decisions/s",
            "p50 / p95 ms",
            "2 threads decisions/s",
            "bare 1-row insert p50 (baseline)",
            "counts exact",
        ],
        rows,
    )


# -- issue 17: style-based GAN, translation, image features ---------------------------------

GEN_LABELS = {
    "gan_style": "style GAN (StyleGAN2-like)",
    "gan": "FiLM GAN",
    "vae_img_cnn": "CVAE + small CNN image encoder",
    "vae_img_effnet": "CVAE + frozen EfficientNet-Lite0",
    "cyclegan": "CycleGAN: residual + DiffAugment, λ_cyc 3 (default)",
    "cyclegan_attention": "CycleGAN: attention + DiffAugment, λ_cyc 3",
    "cyclegan_attention_cycle5": "CycleGAN: attention + DiffAugment, λ_cyc 5",
    "cyclegan_attention_cycle8": "CycleGAN: attention + DiffAugment, λ_cyc 8",
    "cyclegan_residual_noaug": "CycleGAN: residual, no augmentation, λ_cyc 3",
    "cyclegan_direct": "CycleGAN: direct generator, λ_cyc 10 (previous)",
    "pix2pix": "paired (pix2pix-style)",
}


def _gen_label(name: str) -> str:
    """A model's label; rows scored at a strength ("NAME @ strength S") keep the suffix."""
    base, _, strength = name.partition(" @ strength ")
    label = GEN_LABELS.get(base, base)
    return f"{label}, strength {strength}" if strength else label


def _pair(a: Any, b: Any, nd: int = 2) -> str:
    return f"{num(a, nd)} / {num(b, nd)}"


def _kid(x: dict[str, Any]) -> str:
    """KID ×10³ with its standard deviation over subsets when the row has one."""
    std = f" ± {num(1000 * x['kid_std'], 1)}" if "kid_std" in x else ""
    return num(1000 * x["kid"], 1) + std


def _budget(r: Results, name: str) -> tuple[str, str]:
    """(steps, CPU minutes) of a model, from its train_summary.json copied into the metadata."""
    s = r.meta.get("train_summaries", {}).get(name, {})
    cpu = s.get("cpu_seconds")
    return (f"{s['steps']:,}" if "steps" in s else DASH, num(cpu / 60, 1) if cpu else DASH)


#: the gen-style rows of generators.json (the benchmark scores every generator in one run)
STYLE_ROWS = ("gan_style", "gan")


@table("gen-style", "generators.json")
def _gen_style(r: Results) -> Table:
    rows = []
    for x in sorted(
        (x for x in r.results if x["backend"] in STYLE_ROWS),
        key=lambda x: STYLE_ROWS.index(x["backend"]),
    ):
        name = x["backend"]
        steps, cpu = _budget(r, name)
        rows.append(
            [
                GEN_LABELS.get(name, name),
                steps,
                cpu,
                _kid(x),
                num(x["fid"], 1),
                _pair(x["precision"], x["recall"]),
                _pair(x.get("acc_category"), x.get("acc_cnn_category")),
                _pair(x.get("acc_colour"), x.get("acc_cnn_colour")),
            ]
        )
    cmp = r.meta.get("comparison", {})
    verdict = ""
    if cmp:
        verdict = (
            f" Style GAN vs FiLM GAN at equal CPU time: KID "
            f"{'lower' if cmp['a_lower_kid'] else 'not lower'}, recall "
            f"{'higher' if cmp['a_higher_recall'] else 'not higher'}."
        )
    return Table(
        [
            "row",
            "steps",
            "CPU min",
            "KID ×10³",
            "FID",
            "precision / recall",
            "category probe / CNN",
            "colour probe / CNN",
        ],
        rows,
        note=f"{r.meta.get('n_test', '?')} test prompts at {r.meta.get('size', '?')} px; "
        f"features: {r.meta.get('feature_network', '?')}.{verdict}",
    )


@table("gen-translation", "translation.json")
def _gen_translation(r: Results) -> Table:
    rows = []
    for x in r.results:
        name = x["backend"]
        rows.append(
            [
                _gen_label(name),
                _kid(x),
                num(x.get("fid"), 1),
                _pair(x.get("precision"), x.get("recall")),
                _pair(x.get("acc_title"), x.get("acc_cnn_title")),
                _pair(x.get("identity_ratio_title"), x.get("identity_ratio_cnn_title")),
            ]
        )
    m = r.meta
    return Table(
        [
            "row",
            "KID ×10³ vs packshots",
            "FID",
            "precision / recall",
            "product recognised: probe / CNN",
            "× before translation: probe / CNN",
        ],
        rows,
        note=f"{m.get('n_sources', '?')} held-out in-store photos → {m.get('n_reference', '?')} "
        f"packshots, {m.get('size', '?')} px, features: {m.get('feature_network', '?')}; "
        "product = one of 81 GroceryStoreDataset classes (chance 1.2 %).",
    )


@table("gen-translation-paired", "translation_paired.json")
def _gen_translation_paired(r: Results) -> Table:
    rows = [
        [
            GEN_LABELS.get(x["backend"], x["backend"]),
            num(x["psnr"]),
            num(x["ssim"], 3),
            num(x["l1"], 3),
            _kid(x),
            num(x["fid"], 1),
        ]
        for x in r.results
    ]
    m = r.meta
    return Table(
        ["row", "PSNR dB", "SSIM", "L1", "KID ×10³ vs studio", "FID"],
        rows,
        note=f"{m.get('n_sources', '?')} held-out composites (studio photo cut out over a "
        f"background crop) against their studio originals, {m.get('size', '?')} px.",
    )


@table("gen-image-fusion", "generators_image_fusion.json")
def _gen_image_fusion(r: Results) -> Table:
    rows = []
    for x in r.results:
        name = x["backend"]
        steps, cpu = _budget(r, name)
        rows.append(
            [
                GEN_LABELS.get(name, name),
                steps,
                cpu,
                num(1000 * x["kid"], 1),
                num(1000 * x["var_kid"], 1) if "var_kid" in x else DASH,
                pct(x.get("var_source_closer")),
                _pair(x.get("edit_colour_hit"), x.get("edit_cnn_colour_hit")),
                _pair(x.get("edit_category_kept"), x.get("edit_cnn_category_kept")),
            ]
        )
    return Table(
        [
            "row",
            "steps",
            "CPU min",
            "KID ×10³ title only",
            "KID ×10³ photo + title",
            "variation closer to its photo",
            "colour edit hit: probe / CNN",
            "category kept: probe / CNN",
        ],
        rows,
        note=f"Scored on {r.meta.get('feature_network', '?')} (a CNN trained on the real train "
        "photos), not on EfficientNet-Lite0, which one of the models is conditioned on.",
    )


# -- issue 15: latent diffusion, GAN with DiffAugment, CVAE editing (generators.json) ----------

GEN15_LABELS = {
    "gan": "GAN (FiLM, DiffAugment)",
    "gan_style": "style GAN (StyleGAN2-like, DiffAugment)",
    "vae": "CVAE, FiLM fusion",
    "vae_concat": "CVAE, concat fusion",
    "diffusion": "pixel diffusion (FiLM)",
    "ldm": "latent diffusion (FiLM)",
}
GEN15_REFERENCE = "real photos (reference)"


def _gen15_label(name: str) -> str:
    if name == GEN15_REFERENCE:
        return "real photos: KID/FID of train vs test photos, accuracy on test photos"
    return GEN15_LABELS.get(name, name)


def _gen15_rows(r: Results) -> list[dict[str, Any]]:
    """Models first (in GEN15_LABELS order), then the baselines and the reference."""
    order = {n: i for i, n in enumerate(GEN15_LABELS)}
    return sorted(
        r.results, key=lambda x: (x.get("targets_met") is None, order.get(x["backend"], 99))
    )


def _yes(v: Any) -> str:
    return DASH if v is None else ("yes" if v else "**no**")


@table("generators", "generators.json")
def _generators(r: Results) -> Table:
    rows = []
    for x in _gen15_rows(r):
        cpu = x.get("train_cpu_s")
        recon = (
            f"{num(x['recon_psnr'])} / {num(x.get('recon_ssim'), 3)}"
            if x.get("recon_psnr") is not None
            else DASH
        )
        rows.append(
            [
                _gen15_label(x["backend"]),
                DASH if x.get("train_steps") is None else f"{x['train_steps']:,}",
                num(cpu / 60, 1) if isinstance(cpu, (int, float)) else DASH,
                _kid(x),
                num(x["fid"], 1),
                _pair(x["precision"], x["recall"]),
                _pair(x.get("acc_master_category"), x.get("acc_cnn_master_category")),
                _pair(x.get("acc_sub_category"), x.get("acc_cnn_sub_category")),
                _pair(x.get("acc_category"), x.get("acc_cnn_category")),
                _pair(x.get("acc_colour"), x.get("acc_cnn_colour")),
                recon,
                num(1000 * x["median_s"], 1),
            ]
        )
    return Table(
        [
            "row",
            "train steps",
            "train CPU min",
            "KID ×10³",
            "FID",
            "prec / rec",
            "master cat. probe / CNN",
            "sub-cat. probe / CNN",
            "category probe / CNN",
            "colour probe / CNN",
            "recon PSNR / SSIM",
            "ms / image",
        ],
        rows,
        note=f"{r.meta.get('n_test', '?')} test prompts at {r.meta.get('size', '?')} px; "
        f"features: {r.meta.get('feature_network', '?')}.",
    )


@table("generators-targets", "generators.json")
def _generators_targets(r: Results) -> Table:
    models = [x for x in _gen15_rows(r) if x.get("targets_met") is not None]
    keys: list[str] = []
    for x in models:
        keys += [k for k in x["targets_met"] if k not in keys]
    return Table(
        ["model", *keys],
        [
            [_gen15_label(x["backend"]), *(_yes(x["targets_met"].get(k)) for k in keys)]
            for x in models
        ],
    )


@table("generators-ldm-vs-pixel", "generators.json")
def _generators_ldm_vs_pixel(r: Results) -> Table:
    comp = r.meta.get("ldm_vs_pixel_diffusion", {})
    return Table(
        ["comparison", "latent diffusion better on"],
        [
            [k, ", ".join(f"{m}: {_yes(v)}" for m, v in checks.items())]
            for k, checks in comp.items()
        ],
    )


@table("generators-edits", "generators.json")
def _generators_edits(r: Results) -> Table:
    rows = [
        [
            _gen15_label(x["backend"]),
            f"{e['n']:,}",
            _pair(e["edit_colour_probe"], e["edit_colour_cnn"]),
            _pair(e["input_reads_as_target_probe"], e["input_reads_as_target_cnn"]),
            num(e["grey_ssim"], 3),
            num(e["structure_ssim"], 3),
        ]
        for x in _gen15_rows(r)
        if isinstance(e := x.get("edits"), dict)
    ]
    return Table(
        [
            "model",
            "edits",
            "read as the new colour, probe / CNN",
            "unedited photo already reads so",
            "grey-level SSIM vs input",
            "structure term only",
        ],
        rows,
    )


@table("generators-audience", "generators.json")
def _generators_audience(r: Results) -> Table:
    rows = [
        [
            _gen15_label(x["backend"]),
            pct(a["dark_darker_than_light"]),
            num(a["delta_L_dark_minus_light"], 1),
            pct(a["vivid_more_chroma_than_dark"]),
            num(a["delta_chroma_vivid_minus_dark"], 1),
        ]
        for x in _gen15_rows(r)
        if isinstance(a := x.get("audience_effect"), dict)
    ]
    return Table(
        [
            "model",
            "noir darker than pastel (prompts)",
            "ΔL* noir − pastel",
            "vivid more chroma than noir",
            "ΔC* vivid − noir",
        ],
        rows,
    )


# -- server (issue 11) --------------------------------------------------------------------------


@table("server", "server.json")
def _server(r: Results) -> Table:
    rows = []
    for x in r.results:
        rows.append(
            [
                str(x["clients"]),
                x["backend"],
                f"{x['ok']}/{x['n']}",
                str(x["p50_s"]),
                str(x["p95_s"]),
                str(x["throughput_rps"]),
                str(x["ratio_vs_baseline"]),
                str(x["server_cpu_s_per_ok"]),
                str(x["status_429_retried"]),
                f"{x['server_peak_rss_mb'] / 1024:.2f} GB",
            ]
        )
    return Table(
        [
            "clients",
            "server",
            "ok / n",
            "p50 s",
            "p95 s",
            "req/s",
            "ratio",
            "CPU s/req",
            "429 retried",
            "peak RSS",
        ],
        rows,
        note="ratio: requests per second against rembg's server at the same number of clients "
        "(same run, same model file).",
    )


# -- pretrained pipelines (issue 14) ------------------------------------------------------------


@table("generate-speed", "generate.json")
def _generate_speed(r: Results) -> Table:
    rows = []
    skipped: dict[str, list[str]] = {}
    for x in r.row(case="speed")["rows"]:
        if "status" in x:
            skipped.setdefault(x["offload"], []).append(str(x["size"]))
            continue
        rows.append(
            [
                x["task"],
                str(x["size"]),
                f"{x['median_s_per_step']:.3f}",
                f"{x['median_s_per_image']:.2f}",
                f"{x['peak_rss_mb']:.0f} MB",
            ]
        )
    for offload, sizes in skipped.items():
        rows.append(
            [f"CPU offload `{offload}`", ", ".join(sizes), "not measurable here", DASH, DASH]
        )
    steps = {x["steps"] for x in r.row(case="speed")["rows"] if "steps" in x}
    return Table(
        [
            "tiny pipeline",
            "px",
            "s/step",
            f"s/image ({'/'.join(map(str, sorted(steps)))} steps)",
            "peak RSS",
        ],
        rows,
        note="CPU offload: diffusers' `enable_model_cpu_offload` needs an accelerator; on a "
        "CPU the option is ignored (logged, saved as `offload: none`).",
    )


def _span(summary: dict[str, Any], key: str, fmt: str) -> tuple[str, str]:
    s = summary[key]
    return format(s["mean"], fmt), f"{format(s['min'], fmt)} – {format(s['max'], fmt)}"


@table("generate-exactness", "generate.json")
def _generate_exactness(r: Results) -> Table:
    x = r.row(case="exactness_and_harmonisation")
    s = x["summary"]
    items = [i["name"] for i in x["items"]]
    grocery = sum(1 for n in items if n.startswith("grocery"))
    pairs = x["halo_real_scenes"]
    scenes = len({p["scene"] for p in pairs})

    def halo(before: str, after: str) -> tuple[str, str]:
        b, a = s[before], s[after]
        return (
            f"{b['mean']:.1f} → {a['mean']:.1f}",
            f"{b['min']:.1f} → {a['min']:.1f} … {b['max']:.1f} → {a['max']:.1f}",
        )

    ours = _span(s, "ours_changed_share", ".0f")
    base = _span(s, "baseline_changed_share", ".2f")
    change = _span(s, "baseline_mean_abs_change", ".0f")
    return Table(
        [
            f"{len(items)} real product photos ({grocery} GroceryStoreDataset packshots cut out "
            f"with U²-Netp, {len(items) - grocery} DIS5K photos with their masks)",
            "mean",
            "min – max",
        ],
        [
            ["share of opaque product pixels changed, **our scene op**", f"**{ours[0]}**", ours[1]],
            ["same, plain diffusers inpainting of the same picture and mask (baseline)", *base],
            ["mean absolute change of those pixels, baseline (8-bit levels)", *change],
            [
                "halo score of the soft edge (mean ΔE2000 from a clean product/scene blend), "
                "generated scenes: plain composite → scene op",
                *halo("halo_generated_before", "halo_generated_after"),
            ],
            [
                f"same, {scenes} real indoor photos (NYU) as stand-in scenes, {len(pairs)} pairs",
                *halo("halo_real_scenes_before", "halo_real_scenes_after"),
            ],
        ],
        note=f"Tiny random-weight SD inpainting at {x['work_size']} px, {x['steps']} steps.",
    )


# -- catalogue runs (issue 12) ------------------------------------------------------------------


@table("catalog", "catalog.json")
def _catalog(r: Results) -> Table:
    ratios = r.row(case="ratios")

    def run(case: str, label: str, note: str) -> list[str]:
        x = r.row(case=case)
        return [
            label,
            f"{x['items_per_min']:.1f}",
            f"{x['s_per_item']:.2f}",
            f"{x['store_ms_per_item']:.1f}",
            note,
        ]

    ray = r.row(case="ray-local-2")
    three = r.row(case="3-runners-postgres")
    per_runner = " / ".join(str(v) for v in three["items_per_runner"].values())
    pg_pct = ratios["store_overhead_pct_of_item_time_local-2-postgres"]
    return Table(
        ["case", "items/min", "s/item (wall)", "store ms/item", "notes"],
        [
            run("serial", "serial (1 worker)", "SQLite"),
            run(
                "local-2",
                "local, 2 processes",
                f"**{ratios['local2_vs_serial_speedup']:.2f}× serial** (target ≥ 1.7×)",
            ),
            run(
                "ray-local-2",
                "Ray Data, local Ray 2 CPUs, 2 actors",
                f"`ray.init` {ray['ray_init_s']:.1f} s not included",
            ),
            run(
                "local-2-postgres",
                "local, 2 processes, PostgreSQL store",
                f"store = {pg_pct:.1f} % of item time",
            ),
            [
                "3 × `productstudio run` on one PostgreSQL catalogue",
                f"{three['items_per_min']:.1f} (all 3)",
                "",
                "",
                f"**{three['duplicates']} duplicates, {three['lost']} lost**, "
                f"{per_runner} items per runner",
            ],
        ],
    )


#: assumptions of the 1M-item estimate that are not measured here (docs/catalog.md says why)
REAL_PHOTO_CPU_S = (1.5, 3.0)  # decoding and refining 1–12 MP photos with U²-Netp
ISNET_EXTRA_CPU_S = 1.2  # IS-Net at 1024 px over U²-Netp, on a quiet core (shared README)
CLUSTER_WORKERS = 160  # 10 nodes × 16 vCPU, one single-thread worker each


@table("catalog-estimate", "catalog_cpu.json", caption=False)
def _catalog_estimate(r: Results) -> Table:
    measured = next(x for x in r.data["rows"] if x["canvas"] == 2000)["cpu_s_per_item"]
    c = round(measured, 2)
    lo, hi = REAL_PHOTO_CPU_S
    isnet = (lo + ISNET_EXTRA_CPU_S, hi + ISNET_EXTRA_CPU_S)

    def hours(cost: float) -> float:
        return 1e6 * cost / 3600

    def rng(a: float, b: float, f: Callable[[float], str]) -> str:
        return f"{f(a)}–{f(b)}"

    def tens(x: float) -> str:
        return f"{round(x, -1):,.0f}"

    def wall(x: float) -> str:
        return f"{hours(x) / CLUSTER_WORKERS:.1f}"

    def rate(x: float) -> str:
        return f"{CLUSTER_WORKERS / x:.0f}"

    return Table(
        [
            "",
            f"small photos, U²-Netp, 2000² ({c} CPU-s measured)",
            f"1–12 MP photos, U²-Netp ({lo}–{hi} CPU-s assumed)",
            f"1–12 MP photos, IS-Net (+{ISNET_EXTRA_CPU_S} CPU-s)",
        ],
        [
            [
                "CPU-hours (1 M × cost)",
                f"{hours(c):.0f}",
                rng(lo, hi, lambda x: tens(hours(x))),
                rng(*isnet, lambda x: tens(hours(x))),
            ],
            [
                f"wall time at {CLUSTER_WORKERS} workers, 100 % busy",
                f"{wall(c)} h",
                rng(lo, hi, wall) + " h",
                rng(*isnet, wall) + " h",
            ],
            [
                "items/s the driver and store must absorb",
                rate(c),
                rng(hi, lo, rate),
                rng(isnet[1], isnet[0], rate),
            ],
        ],
    )


# -- cut-out (docs/cutout.md, README) ----------------------------------------------------------

_CUT_SETS = {
    "cutout/handheld": "hand-held in-store (no masks)",
    "cutout/real-product": "DIS5K product-like",
    "cutout/real-all": "DIS5K all",
    "cutout/studio": "studio composites",
}


def _cutout_rows(r: Results) -> list[list[str]]:
    rows = []
    for case, label in _CUT_SETS.items():
        sel = r.rows(case=case)
        for x in sel:
            ours = not x["backend"].startswith("rembg")
            rows.append(
                [
                    f"{label}, {x['n']}",
                    bold(x["backend"] if not ours else f"{x['backend']} (ours)", ours),
                    f"{num(x.get('iou_mean'), 3)} / {num(x.get('iou_median'), 3)}"
                    if "iou_mean" in x
                    else DASH,
                    num(x.get("boundary_f_mean"), 3),
                    pct(x["see_through_mean"], 1),
                    pct(x["see_through_over_2pct"]),
                    num(x["median_s"]),
                    num(x.get("ratio_vs_baseline")),
                    num(x["peak_rss_mb"] / 1024, 2),
                ]
            )
    return rows


_CUT_HEADER = [
    "set, photos",
    "backend",
    "IoU mean / median",
    "boundary-F",
    "see-through",
    "photos > 2 % see-through",
    "s/image",
    "time × rembg",
    "peak RSS GB",
]


@table("cutout-quality", "cutout.json")
def _cutout_quality(r: Results) -> Table:
    return Table(
        _CUT_HEADER,
        _cutout_rows(r),
        note="isnet = the quantised IS-Net `isnet_general_quint8.onnx` (for ours and rembg); "
        "rembg 2.0.86 on the same model file, in the same run; see-through = share of the "
        "product area with interior alpha in (0.1, 0.9) (`metrics.segmentation."
        "soft_interior_share`).",
    )


@table("cutout-classical", "cutout_classical.json")
def _cutout_classical(r: Results) -> Table:
    rows = _cutout_rows(r)
    for x in r.rows(case="cutout/studio"):
        by_bg = ", ".join(f"{k} {num(v, 3)}" for k, v in x["iou_by_background"].items())
        rows.append([f"studio IoU by background ({x['backend']})", by_bg, *[""] * 7])
    return Table(_CUT_HEADER, rows, note="The built-in segmenter (no weights).")


def _check_rows(r: Results) -> list[list[str]]:
    rows = []
    for x in r.results:
        if not x["case"].startswith("check/run-output/"):
            continue
        ours = x["backend"].startswith("run-")
        rows.append(
            [
                x["case"].rsplit("/", 1)[1],
                bold(x["backend"], ours),
                str(x["n"]),
                pct(x["pass_share"]),
                pct(x["clean_share"]),
                ", ".join(x["failed_rules"]) or DASH,
                ", ".join(x["warned_rules"]) or DASH,
            ]
        )
    return rows


_CHECK_HEADER = ["photos", "made by", "n", "pass", "pass without warning", "failed", "warned"]


@table("cutout-check", "cutout_check.json")
def _cutout_check(r: Results) -> Table:
    return Table(
        _CHECK_HEADER,
        _check_rows(r),
        note="`productstudio check --preset amazon-main` (text detector included) on `run`'s "
        "2000² JPEG, and on rembg + Pillow's white canvas at 85 % of the alpha box.",
    )


@table("cutout-check-classical", "cutout_classical.json")
def _cutout_check_classical(r: Results) -> Table:
    return Table(
        _CHECK_HEADER,
        _check_rows(r),
        note="`run --model classical` (no weights): it is for plain backgrounds and refuses "
        'cluttered photos ("no product found", counted as `run` failures) instead of '
        "guessing.",
    )


@table("cutout-e2e", "cutout_e2e.json")
def _cutout_e2e(r: Results) -> Table:
    rows = []
    for x in r.results:
        if not x["case"].startswith("e2e/"):
            continue
        ours = not x["backend"].startswith("rembg")
        batch = x["case"] == "e2e/run-batch-2000px"
        rows.append(
            [
                "`run`, " + f"{x['workers']} workers" if batch else "one process, per image",
                bold(x["backend"], ours),
                str(x["n"]),
                DASH if batch else num(x["median_s"]),
                num(x["images_per_s"]),
                num(x.get("throughput_ratio_vs_baseline")),
                num(x["peak_rss_mb"] / 1024, 2),
            ]
        )
    return Table(
        ["how", "backend", "photos", "median s", "images/s", "throughput × rembg", "peak RSS GB"],
        rows,
        note="Decode → cut-out → 2000² white canvas → JPEG; rembg + Pillow as the baseline "
        "(`run` includes pool start-up and model loading).",
    )


@table("cutout-unsure", "cutout_unsure.json")
def _cutout_unsure(r: Results) -> Table:
    rows = [
        [
            x["backend"],
            str(x["n"]),
            str(x["bad"]),
            str(x["flagged"]),
            num(x["precision"]),
            num(x["recall"]),
            num(x["iou_mean"], 3),
        ]
        for x in r.rows(case="cutout/unsure-vs-iou<0.90")
    ]
    fit = r.row(case="cutout/unsure-fit")["cross_validated"]
    return Table(
        [
            "backend",
            "cut-outs",
            "bad (IoU < 0.90)",
            "flagged unsure",
            "precision",
            "recall",
            "mean IoU",
        ],
        rows,
        note=f"Shipped weights. Object-grouped 5-fold cross-validation of the fit: precision "
        f"{num(fit['precision'])}, recall {num(fit['recall'])} ({fit['bad']} bad of {fit['n']}).",
    )


if __name__ == "__main__":
    sys.exit(main())
