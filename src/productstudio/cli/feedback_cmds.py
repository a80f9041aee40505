"""``productstudio feedback …``: image variants that learn from clicks.

    productstudio feedback variants matrix.yaml --product shoe-1 --image shoe.jpg -o variants/
    productstudio feedback config --policy thompson --segments segments.yaml
    productstudio feedback choose shoe-1 --user "user=u1,interests=noir,gender=women" --record
    productstudio feedback record click --id c-1 --impression <decision id>
    productstudio feedback record --file events.jsonl
    productstudio feedback stats
    productstudio feedback evaluate --policy lin-ts
    productstudio feedback simulate -o sim.json
    productstudio feedback report -o feedback.html --simulation sim.json

The store is ``--store`` (a SQLite file or a ``postgresql+psycopg://`` URL; default
``feedback.sqlite``, or ``PRODUCTSTUDIO_FEEDBACK_STORE``). The store and numerical code load only
inside the commands, so ``productstudio --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from productstudio.cli.app import app, err, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError
from productstudio.personalize.policies import PolicyKind

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.personalize.policies import PolicyParams
    from productstudio.personalize.store import FeedbackStore

feedback_app = typer.Typer(
    help="Image variants per audience that learn from clicks: choose, record, evaluate, report.",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")

_STORE = typer.Option(
    "feedback.sqlite",
    "--store",
    "-s",
    envvar="PRODUCTSTUDIO_FEEDBACK_STORE",
    help="SQLite file or postgresql+psycopg:// URL.",
)


def _open(store: str) -> FeedbackStore:
    from productstudio.personalize.store import FeedbackStore

    return FeedbackStore.open(store)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _policy(kind: PolicyKind | None, settings: list[str], base: PolicyParams) -> PolicyParams:
    """``base`` with ``kind`` and ``--set name=value`` overrides applied."""
    from productstudio.personalize.policies import PolicyParams

    data: dict[str, Any] = base.to_dict()
    if kind is not None:
        data["kind"] = kind.value
    for s in settings:
        if "=" not in s:
            raise InvalidParamsError(f"--set expects name=value, got '{s}'")
        k, v = (x.strip() for x in s.split("=", 1))
        if k not in data:
            raise InvalidParamsError(f"--set: unknown policy setting '{k}'; known: {sorted(data)}")
        if k == "numeric_features":
            data[k] = [x for x in v.split("+") if x]
        elif isinstance(data[k], float | int) and not isinstance(data[k], bool):
            try:
                data[k] = type(data[k])(v)
            except ValueError:
                raise InvalidParamsError(f"--set {k}: expected a number, got '{v}'") from None
        else:
            data[k] = v
    return PolicyParams.from_dict(data)


@feedback_app.command("variants")
@handle_errors
def variants_cmd(
    matrix: Path = typer.Argument(..., help="Variant matrix YAML (see docs/personalize.md)."),
    product: str = typer.Option(..., "--product", "-p", help="Product id."),
    image: Path | None = typer.Option(None, "--image", "-i", help="Product photo to render."),
    output: Path = typer.Option(Path("variants"), "--output", "-o", help="Folder for images."),
    model: str = typer.Option("auto", "--model", "-m", help="Segmenter for the cut-out step."),
    title: str | None = typer.Option(
        None, "--title", help="Product title (prompt of generator samples)."
    ),
    attr: list[str] = typer.Option(
        [], "--attr", help="Product metadata name=value, e.g. colour=Black (repeatable)."
    ),
    store: str = _STORE,
) -> None:
    """Expand a recipe matrix into variants of one product, render them (with --image) and
    register them in the store."""
    from productstudio.personalize.variants import VariantMatrix, render_variants

    attributes: dict[str, str] = {"title": title} if title else {}
    for a in attr:
        if "=" not in a:
            raise InvalidParamsError(f"--attr expects name=value (e.g. colour=Black), got '{a}'")
        k, v = (x.strip() for x in a.split("=", 1))
        attributes[k] = v
    specs = VariantMatrix.from_yaml(matrix).expand()
    if image is not None:
        with progress_bar(f"rendering {len(specs)} variants", len(specs)) as cb:
            recs = render_variants(
                image,
                product,
                specs,
                output,
                model=model,
                attributes=attributes,
                on_progress=cb,
            )
    else:
        recs = [s.for_product(product) for s in specs]
    with _open(store) as st:
        st.add_variants(recs)
    t = Table(title=f"{len(recs)} variants of {product}", title_justify="left")
    for col in ("variant", "features", "image"):
        t.add_column(col, overflow="fold")
    for r in recs:
        feats = ", ".join(f"{k}={v:g}" for k, v in r.features.items() if v)
        t.add_row(r.variant_id, feats, r.image or "–")
    out.print(t)


@feedback_app.command("config")
@handle_errors
def config_cmd(
    policy: PolicyKind | None = typer.Option(None, "--policy", help="Default policy."),
    settings: list[str] = typer.Option([], "--set", help="Policy setting name=value (repeat)."),
    segments: Path | None = typer.Option(None, "--segments", help="Segment rules YAML."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the decisions."),
    store: str = _STORE,
) -> None:
    """Set (and show) the store's default policy, segment rules and seed."""
    with _open(store) as st:
        cfg = st.config()
        new_policy = _policy(policy, settings, cfg.policy) if policy or settings else None
        text = None
        if segments is not None:
            from productstudio.personalize.context import read_text

            text = read_text(segments, "segment rules")
        if new_policy is not None or text is not None or seed is not None:
            cfg = st.configure(policy=new_policy, segments_yaml=text, seed=seed)
        _print_json(
            {
                "policy": cfg.policy.to_dict(),
                "segments": list(st.rules().names),
                "seed": cfg.seed,
            }
        )


@feedback_app.command("choose")
@handle_errors
def choose_cmd(
    product: str = typer.Argument(..., help="Product id."),
    user: str = typer.Option(
        "", "--user", "-u", help='e.g. "user=u1,gender=women,interests=noir+sport,basket=120".'
    ),
    policy: PolicyKind | None = typer.Option(None, "--policy", help="Override the policy."),
    settings: list[str] = typer.Option([], "--set", help="Policy setting name=value."),
    decision_id: str | None = typer.Option(None, "--decision-id", help="Reproducible id."),
    record: bool = typer.Option(False, "--record", help="Also record the impression."),
    store: str = _STORE,
) -> None:
    """Choose a variant for a user; prints the decision (variant, propensity, …) as JSON."""
    from productstudio.personalize.context import UserContext

    with _open(store) as st:
        pol = _policy(policy, settings, st.config().policy) if policy or settings else None
        d = st.choose(
            product,
            UserContext.parse(user),
            policy=pol,
            decision_id=decision_id,
            record=record,
        )
    _print_json({**d.to_dict(), "recorded": record})


@feedback_app.command("record")
@handle_errors
def record_cmd(
    kind: str | None = typer.Argument(None, help="impression, click or conversion."),
    event_id: str | None = typer.Option(None, "--id", help="Event id (unique; retries reuse it)."),
    impression: str = typer.Option("", "--impression", help="Click/conversion: impression id."),
    product: str = typer.Option("", "--product", help="Impression: product id."),
    variant: str = typer.Option("", "--variant", help="Impression: variant id."),
    propensity: float | None = typer.Option(None, "--propensity", help="Impression: P(variant)."),
    user: str = typer.Option("", "--user", "-u", help="Impression: the user (see choose)."),
    file: Path | None = typer.Option(None, "--file", "-f", help="JSONL of events ('-' = stdin)."),
    store: str = _STORE,
) -> None:
    """Record one event, or every line of a JSONL file (exit 1 if any line was refused)."""
    from productstudio.errors import EventError
    from productstudio.personalize.context import UserContext
    from productstudio.personalize.events import Event

    if file is not None:
        if kind is not None or event_id is not None:
            raise typer.BadParameter("give either --file or one event, not both")
        lines = (sys.stdin if str(file) == "-" else file.open(encoding="utf-8")).read().splitlines()
        bad = 0
        counts: dict[str, int] = {}
        with _open(store) as st:
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    try:
                        data = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise EventError(f"not JSON: {exc.msg}") from None
                    res = st.record(Event.from_dict(data))
                    counts[res.status.value] = counts.get(res.status.value, 0) + 1
                except EventError as exc:
                    bad += 1
                    err.print(f"[red]{file}:{n}:[/] {exc}", markup=True, highlight=False)
        _print_json({**counts, "refused": bad})
        if bad:
            raise typer.Exit(1)
        return
    if kind is None or event_id is None:
        raise typer.BadParameter("give the event type and --id (or --file events.jsonl)")
    ev = Event(
        kind=kind,  # type: ignore[arg-type]  # validated by Event
        event_id=event_id,
        impression_id=impression,
        product=product,
        variant=variant,
        propensity=propensity,
        user=UserContext.parse(user),
    )
    with _open(store) as st:
        _print_json(st.record(ev).to_dict())


@feedback_app.command("stats")
@handle_errors
def stats_cmd(
    product: str | None = typer.Option(None, "--product", "-p"),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
    store: str = _STORE,
) -> None:
    """Impressions, clicks and CTR (95 % Wilson interval) per product × segment × variant."""
    from productstudio.personalize.ope import ctr_interval

    with _open(store) as st:
        rows = st.stats(product)
    data: list[dict[str, Any]] = [
        {
            "product": r.product,
            "segment": r.segment,
            "variant": r.variant,
            "impressions": r.impressions,
            "clicks": r.clicks,
            "conversions": r.conversions,
            "ctr": r.ctr if r.impressions else None,
            "ci": list(ctr_interval(r.clicks, r.impressions)),
        }
        for r in rows
    ]
    if as_json:
        _print_json(data)
        return
    t = Table(title="CTR per product × segment × variant", title_justify="left")
    for col in ("product", "segment", "variant", "impr.", "clicks", "CTR", "95 % CI", "conv."):
        t.add_column(col)
    for d in data:
        ctr = "–" if d["ctr"] is None else f"{d['ctr']:.4f}"
        t.add_row(
            d["product"],
            d["segment"],
            d["variant"],
            str(d["impressions"]),
            str(d["clicks"]),
            ctr,
            f"[{d['ci'][0]:.4f}, {d['ci'][1]:.4f}]",
            str(d["conversions"]),
        )
    out.print(t)


@feedback_app.command("evaluate")
@handle_errors
def evaluate_cmd(
    policy: PolicyKind = typer.Option(..., "--policy", help="Candidate policy."),
    settings: list[str] = typer.Option([], "--set", help="Candidate setting name=value."),
    train_fraction: float = typer.Option(0.5, "--train-fraction", help="Share used to fit it."),
    n_boot: int = typer.Option(1000, "--boot", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed"),
    store: str = _STORE,
) -> None:
    """Off-policy estimate (IPS, SNIPS, DR with 95 % bootstrap CIs) of a candidate policy's CTR
    from the logged impressions, before deploying it."""
    from productstudio.personalize.offline import evaluate_store
    from productstudio.personalize.policies import PolicyParams

    with _open(store) as st:
        cand = _policy(policy, settings, PolicyParams())
        res = evaluate_store(st, cand, train_fraction=train_fraction, n_boot=n_boot, seed=seed)
    _print_json(res)


@feedback_app.command("simulate")
@handle_errors
def simulate_cmd(
    output: Path = typer.Option(Path("simulation.json"), "--output", "-o"),
    impressions: int = typer.Option(20_000, "--impressions", "-n"),
    seeds: int = typer.Option(3, "--seeds"),
    policies: list[PolicyKind] = typer.Option(
        list(PolicyKind), "--policy", help="Policies to compare (repeat)."
    ),
) -> None:
    """Run the known-truth simulator; writes regret curves (for `feedback report
    --simulation`) and prints each policy's regret relative to uniform."""
    from productstudio.imaging.io import write_atomic
    from productstudio.personalize.simulate import simulate_policies

    with progress_bar("simulating", len(policies) * seeds) as cb:
        res = simulate_policies(policies, impressions, seeds, on_progress=cb)
    write_atomic(json.dumps(res, indent=1).encode(), output)
    _print_json({"output": str(output), "summary": res["summary"]})


@feedback_app.command("report")
@handle_errors
def report_cmd(
    output: Path = typer.Option(Path("feedback-report.html"), "--output", "-o"),
    simulation: Path | None = typer.Option(None, "--simulation", help="simulate's JSON."),
    as_json: bool = typer.Option(False, "--json", help="Also print the report's data."),
    store: str = _STORE,
) -> None:
    """HTML report: CTR per variant and segment with intervals, posteriors, best variant per
    segment, regret over time and the variant images."""
    from productstudio.personalize.report import report_data, write_report

    if simulation is not None and not simulation.is_file():
        raise InvalidParamsError(f"no simulation file {simulation}; run `feedback simulate` first")
    with _open(store) as st:
        path = write_report(st, output, simulation=simulation)
        if as_json:
            _print_json(report_data(st))
    err.print(f"report → {path}", highlight=False)
