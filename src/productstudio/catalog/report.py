"""Live status and the HTML report of catalogue runs, read from the job store.

``catalog_status(target)`` answers "how far is it?" while a run goes on (any process may
read the store); ``write_report(target, path)`` writes one self-contained HTML file: counts,
runs, failures with reasons, a before/after thumbnail grid with unsure cut-outs first,
per-stage timing plots and throughput over time (matplotlib, the ``report`` extra).
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.catalog._driver import STORE_NAME, scope_of
from productstudio.catalog.store import JobStore, Status
from productstudio.errors import InputError, require

STAGES = ("read", "decode", "process", "encode", "write")


def open_target(target: str | Path, store: str | None = None) -> tuple[JobStore, str | None]:
    """The store and output scope for an output folder or a store URL.

    Args:
        target: an output folder (its SQLite store, or ``store``), or a store URL.
        store: the store URL when the folder's runs used ``--store``.

    Raises:
        InputError: a folder without a job store and no ``store`` given.
    """
    text = str(target)
    if "://" in text and not Path(text).exists():
        return JobStore(text), None
    folder = Path(text).expanduser()
    if store:
        return JobStore(store), scope_of(folder)
    db = folder / STORE_NAME
    if not db.is_file():
        raise InputError(
            f'"{folder}" has no job store ({STORE_NAME}): pass the output folder of a '
            "`productstudio run`, or its --store URL.",
            path=folder,
        )
    return JobStore.sqlite(db), scope_of(folder)


@dataclass
class CatalogStatus:
    """Counts and runs of one output (or of a whole store)."""

    counts: dict[str, int]
    runs: list[dict[str, Any]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    rate_per_min: float = 0.0
    eta_s: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "total": self.total,
            "rate_per_min": round(self.rate_per_min, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "runs": [
                {
                    k: r[k]
                    for k in (
                        "id",
                        "state",
                        "executor",
                        "workers",
                        "host",
                        "started",
                        "finished",
                        "total",
                    )
                }
                for r in self.runs
            ],
            "failures": [{"source": f["source"], "message": f["message"]} for f in self.failures],
        }


def catalog_status(store: JobStore, scope: str | None, *, window_s: float = 120.0) -> CatalogStatus:
    """Counts per status, the runs (newest first), recent failures and the current rate."""
    counts = store.counts(scope)
    runs = store.runs(scope)
    failures = store.items(scope, status=Status.FAILED.value, limit=20)
    now = time.time()
    live = [r["id"] for r in runs if r["state"] == "running"]
    rate = 0.0
    if live:
        recent = [
            e
            for rid in live
            for e in store.events(run_id=rid, kinds=["done", "failed"])
            if e["at"] >= now - window_s
        ]
        rate = len(recent) / (window_s / 60.0)
    left = counts.get(Status.PENDING.value, 0) + counts.get(Status.RUNNING.value, 0)
    eta = left / (rate / 60.0) if rate > 0 else None
    return CatalogStatus(counts, runs, failures, rate, eta)


# -- the HTML report ------------------------------------------------------------------------


def _thumb(path: str, side: int = 160) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.thumbnail((side, side))
            rgb = im.convert("RGB")
            buf = io.BytesIO()
            rgb.save(buf, "JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _timing_plot(items: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per: dict[str, list[float]] = {s: [] for s in STAGES}
    for it in items:
        for k, v in json.loads(it["timings"] or "{}").items():
            per.setdefault(k, []).append(float(v))
    names = [k for k, v in per.items() if v]
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    if names:
        ax.boxplot([per[n] for n in names], tick_labels=names, showfliers=False)
        med = [float(np.median(per[n])) for n in names]
        for i, m in enumerate(med, start=1):
            ax.annotate(
                f"{m * 1000:.0f} ms", (i, m), textcoords="offset points", xytext=(18, 0), fontsize=8
            )
    ax.set_ylabel("seconds per item")
    ax.set_title("time per stage (median, IQR, whiskers)")
    return _svg(fig)


def _throughput_plot(events: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    at = np.sort(np.array([e["at"] for e in events], float))
    if at.size:
        t = (at - at[0]) / 60.0
        span = max(t[-1], 1e-6)
        bins = max(1, min(60, int(np.ceil(span)) if span > 1 else 10))
        counts, edges = np.histogram(t, bins=bins)
        width = edges[1] - edges[0]
        ax.step(edges[:-1], counts / max(width, 1e-9), where="post")
        ax.plot(t, np.arange(1, t.size + 1) / np.maximum(t, width), alpha=0.4, label="cumulative")
        ax.set_xlabel("minutes since the first item")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_ylabel("items / minute")
    ax.set_title("throughput over time")
    return _svg(fig)


def write_report(
    store: JobStore, scope: str | None, path: str | Path, *, thumbs: int = 60, title: str = ""
) -> Path:
    """Write the HTML report of ``scope`` (or the whole store) to ``path``.

    Raises:
        MissingDependencyError: matplotlib is not installed (``productstudio[report]``).
    """
    require("matplotlib", "report")
    from productstudio.imaging.io import write_atomic

    st = catalog_status(store, scope)
    items = store.items(scope)
    done = [it for it in items if it["status"] == Status.DONE.value]
    failed = [it for it in items if it["status"] == Status.FAILED.value]
    done.sort(
        key=lambda it: (
            not it["unsure"],
            it["confidence"] if it["confidence"] is not None else 2.0,
            it["id"],
        )
    )
    runs = {r["id"] for r in st.runs}
    events = [e for e in store.events(kinds=["done"]) if scope is None or e["run_id"] in runs]
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title or 'ProductStudio catalogue report')}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;font-size:13px}.grid{display:flex;flex-wrap:wrap;gap:10px}"
        ".card{border:1px solid #ddd;padding:6px;width:340px;font-size:12px}"
        ".card img{width:160px;height:160px;object-fit:contain;background:#eee}"
        ".unsure{border-color:#e0a800;background:#fff8e1}.bad{color:#b00}",
        "</style></head><body>",
        f"<h1>{e(title or 'Catalogue report')}</h1>",
        "<h2>Counts</h2><table><tr>"
        + "".join(f"<th>{e(k)}</th>" for k in sorted(st.counts))
        + "<th>total</th></tr><tr>"
        + "".join(f"<td>{v}</td>" for _, v in sorted(st.counts.items()))
        + f"<td>{st.total}</td></tr></table>",
        f"<p>unsure cut-outs: {sum(1 for it in done if it['unsure'])}</p>",
        "<h2>Runs</h2><table><tr><th>run</th><th>state</th><th>executor</th><th>workers</th>"
        "<th>host</th><th>started</th><th>minutes</th></tr>",
    ]
    for r in st.runs:
        end = r["finished"] or r["heartbeat"]
        parts.append(
            f"<tr><td>{e(r['id'][:8])}</td><td>{e(r['state'])}</td><td>{e(r['executor'])}</td>"
            f"<td>{r['workers']}</td><td>{e(r['host'])}</td>"
            f"<td>{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['started']))}</td>"
            f"<td>{(end - r['started']) / 60:.1f}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<h2>Failures ({len(failed)})</h2>")
    if failed:
        parts.append("<table><tr><th>source</th><th>reason</th></tr>")
        for it in failed[:500]:
            parts.append(
                f"<tr><td>{e(it['source'])}</td><td class='bad'>{e(it['message'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Timing</h2>" + _timing_plot(done) + _throughput_plot(events))
    parts.append(f"<h2>Before / after (unsure first, {min(thumbs, len(done))} of {len(done)})</h2>")
    parts.append("<div class='grid'>")
    for it in done[:thumbs]:
        before, after = _thumb(it["source"]), _thumb(it["output"])
        cls = "card unsure" if it["unsure"] else "card"
        conf = "" if it["confidence"] is None else f" · confidence {it['confidence']:.2f}"
        parts.append(
            f"<div class='{cls}'><img alt='before' src='{before or ''}'>"
            f"<img alt='after' src='{after or ''}'><div>{e(it['key'])} [{e(it['preset'])}]"
            f"{conf}</div><div>{e(it['message'][:300])}</div></div>"
        )
    parts.append("</div></body></html>")
    return write_atomic("\n".join(parts).encode(), Path(path))
