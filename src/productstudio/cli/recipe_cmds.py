"""Marketplace commands: ``check`` (compliance report) and ``recipe validate|show|list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from productstudio.cli.app import app, err, handle_errors, out
from productstudio.imaging.io import write_atomic
from productstudio.recipes import (
    ComplianceReport,
    StepContext,
    check_file,
    get_step,
    list_presets,
    load_recipe,
    step_names,
)
from productstudio.recipes.compliance import Status
from productstudio.recipes.compliance.fix import fix_image

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def _table(report: ComplianceReport) -> Table:
    t = Table(
        title=f"{report.file} — {report.preset or 'rules'}: {report.verdict.value.upper()}",
        title_justify="left",
    )
    for col in ("rule", "status", "measured", "limit", "note"):
        t.add_column(col, overflow="fold")
    for r in report.results:
        note = r.message
        if not r.confirmed:
            note = (note + " " if note else "") + "[unconfirmed]"
        t.add_row(
            r.rule,
            f"[{_STYLE[r.status]}]{r.status.value}[/]",
            r.measured,
            r.limit,
            note,
        )
    return t


@app.command("check")
@handle_errors
def check_cmd(
    images: list[Path] = typer.Argument(..., help="Image files to check.", exists=False),
    preset: str = typer.Option(
        "amazon-main", "--preset", "-p", help="Preset name or recipe .yaml whose rules apply."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON list on stdout (one report per image)."
    ),
    fix: bool = typer.Option(
        False, "--fix", help="Write a corrected image through the preset's recipe (needs -o)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Folder for --fix results."),
    model: str = typer.Option("auto", "--model", "-m", help="Segmenter for the product mask."),
) -> None:
    """Check images against a marketplace's rules: pass/warn/fail per rule with the measured
    value and the limit. Exit 1 when an image fails (with --fix: when a fixed image still
    fails), 2 on an error."""
    if fix and output is None:
        raise typer.BadParameter("--fix needs -o/--output DIR", param_hint="--output")
    recipe = load_recipe(preset)
    segmenter = _LazySegmenter(model)  # loaded only if a rule needs a learned mask
    reports: list[dict[str, Any]] = []
    any_fail = False
    for path in images:
        rep = check_file(path, recipe.rules, segmenter=segmenter, preset=recipe.name)
        entry = rep.to_dict()
        if fix and rep.failed:
            assert output is not None
            ctx = StepContext(segmenter_choice=model)
            ctx.set_segmenter(segmenter.load())  # resolved once, with its notice, for all fixes
            fixed = fix_image(path, recipe, rep, ctx=ctx, segmenter=segmenter)
            dest = output / (path.stem + fixed.suffix)
            entry["fixed"] = {
                "path": str(dest) if fixed.data is not None else None,
                "method": fixed.method,
                "refused_because_worse": list(fixed.worse),
                "notes": list(fixed.notes),
                **fixed.after.to_dict(),
            }
            if fixed.data is not None:
                write_atomic(fixed.data, dest)
            if not as_json:
                out.print(_table(rep))
                if fixed.data is None:
                    err.print(
                        f"[yellow]![/] {path}: not fixed — the fix would make "
                        f"{', '.join(fixed.worse)} worse; the original is unchanged",
                        highlight=False,
                    )
                else:
                    out.print(f"fixed → {dest} ({fixed.method})", highlight=False)
                    for note in fixed.notes:
                        err.print(f"[yellow]![/] {path}: {note}", highlight=False)
                    out.print(_table(fixed.after))
            any_fail = any_fail or (rep.failed if fixed.data is None else fixed.after.failed)
        else:
            any_fail = any_fail or rep.failed
            if not as_json:
                out.print(_table(rep))
        reports.append(entry)
    if as_json:
        out.print_json(json.dumps(reports))  # always a list, one entry per image
    if any_fail:
        raise typer.Exit(1)


class _LazySegmenter:
    """Loads ``--model`` on the first ``segment`` call (clean packshots never need it)."""

    def __init__(self, choice: str) -> None:
        self.choice = choice
        self.loaded: Any = None

    @property
    def name(self) -> str:
        return getattr(self.loaded, "name", self.choice)

    def load(self) -> Any:
        """The segmenter, resolved like `run` and `cutout` (once, with its notices)."""
        if self.loaded is None:
            from productstudio.cli.main_cmds import pick_segmenter

            self.loaded = pick_segmenter(self.choice).load()
        return self.loaded

    def segment(self, image: Any) -> Any:
        return self.load().segment(image)


recipe_app = typer.Typer(help="Validate, show and list recipes and presets.", no_args_is_help=True)
app.add_typer(recipe_app, name="recipe")


@recipe_app.command("validate")
@handle_errors
def recipe_validate(
    recipes: list[str] = typer.Argument(..., help="Recipe .yaml files or preset names."),
) -> None:
    """Check recipe files: errors name the file, line and key (exit 2 on the first error)."""
    for item in recipes:
        r = load_recipe(item)
        out.print(
            f"{item}: ok ({len(r.steps)} steps, {len(r.rules.active())} rules)", highlight=False
        )


@recipe_app.command("show")
@handle_errors
def recipe_show(name: str = typer.Argument(..., help="Preset name or recipe .yaml.")) -> None:
    """Print a recipe with every default filled in (YAML)."""
    out.print(load_recipe(name).to_yaml(), highlight=False, markup=False)


@recipe_app.command("list")
@handle_errors
def recipe_list() -> None:
    """List the shipped presets and the registered steps."""
    t = Table(title="presets")
    for col in ("name", "marketplace", "size", "rules", "unconfirmed"):
        t.add_column(col)
    for n in list_presets():
        r = load_recipe(n)
        size = "-"
        for st in r.steps:
            if st.name == "canvas":
                size = "{}x{}".format(*st.params.op().size)  # type: ignore[attr-defined]
        rules = r.rules.active()
        unconf = sum(1 for _, rule in rules if not rule.confirmed)
        t.add_row(n, r.marketplace or "", size, str(len(rules)), str(unconf))
    out.print(t)
    steps = Table(title="steps")
    steps.add_column("step")
    steps.add_column("summary")
    for n in step_names():
        steps.add_row(n, get_step(n).summary)
    out.print(steps)
    err.print("use `productstudio recipe show NAME` for the full recipe", highlight=False)
