"""The feedback report: one self-contained HTML page from the feedback store.

Per product and segment: CTR of each variant with its 95 % Wilson interval, the Beta posteriors
and each variant's probability of being the best, the current best variant; regret over time;
and the variant images themselves (embedded thumbnails, so the page can be mailed).

*Regret from logs* cannot use the unknown true CTRs: it is **estimated** with the final posterior
means as the truth (``Σ_t max_v μ̂(s_t, p_t, v) − μ̂(s_t, p_t, v_t)``) and says so on the page.
A simulation JSON (``productstudio feedback simulate``) adds the true regret curves.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.imaging.io import write_atomic
from productstudio.personalize.charts import beta_density_chart, curves_chart, interval_chart
from productstudio.personalize.ope import ctr_interval
from productstudio.personalize.policies import beta_posterior, prob_best_quadrature
from productstudio.personalize.store import FeedbackStore

_CSS = """
body{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.thumbs{display:flex;flex-wrap:wrap;gap:10px}.thumbs figure{margin:0;text-align:center;
font-size:11px}.thumbs img{width:140px;height:140px;object-fit:contain;border:1px solid #ddd}
.note{color:#666;font-size:12px}.best{background:#fff3c4}
"""


def _thumb(path: str, size: int = 200) -> str | None:
    """A base64 JPEG data URI of the image, or None when it cannot be read."""
    from PIL import Image

    from productstudio.errors import ProductStudioError
    from productstudio.imaging.io import load_image

    if not path:
        return None
    try:
        px = load_image(path).pixels
    except (ProductStudioError, OSError):
        return None
    im = Image.fromarray(px[..., :3] if px.ndim == 3 else px).convert("RGB")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return url


def report_data(store: FeedbackStore) -> dict[str, Any]:
    """Everything the page shows, as plain data (also what ``--json`` prints)."""
    cfg = store.config()
    p = cfg.policy
    rows = store.stats()
    by: dict[tuple[str, str], dict[str, tuple[int, int, int]]] = defaultdict(dict)
    for r in rows:
        by[(r.product, r.segment)][r.variant] = (r.impressions, r.clicks, r.conversions)
    groups = []
    best_of: dict[tuple[str, str], dict[str, float]] = {}
    for product in store.products():
        ids = [v.variant_id for v in store.variants(product, fresh=True)]
        segs = sorted({s for (pp, s) in by if pp == product})
        for seg in segs:
            got = by[(product, seg)]
            n = np.array([got.get(v, (0, 0, 0))[0] for v in ids], np.float64)
            c = np.array([got.get(v, (0, 0, 0))[1] for v in ids], np.float64)
            conv = [got.get(v, (0, 0, 0))[2] for v in ids]
            a, b = beta_posterior(n, c, p.prior_alpha, p.prior_beta)
            pbest = prob_best_quadrature(a, b, p.quad_nodes)
            mean = a / (a + b)
            variants = []
            for i, v in enumerate(ids):
                lo, hi = ctr_interval(int(c[i]), int(n[i]))
                variants.append(
                    {
                        "variant": v,
                        "impressions": int(n[i]),
                        "clicks": int(c[i]),
                        "conversions": int(conv[i]),
                        "ctr": float(c[i] / n[i]) if n[i] else float("nan"),
                        "ci": [lo, hi],
                        "posterior": [float(a[i]), float(b[i])],
                        "posterior_mean": float(mean[i]),
                        "p_best": float(pbest[i]),
                    }
                )
            best = int(np.argmax(mean))
            best_of[(product, seg)] = dict(zip(ids, mean.tolist(), strict=True))
            groups.append(
                {
                    "product": product,
                    "segment": seg,
                    "impressions": int(n.sum()),
                    "clicks": int(c.sum()),
                    "best": ids[best],
                    "best_p": float(pbest[best]),
                    "variants": variants,
                }
            )
    log = store.impressions()
    regret = np.zeros(log.n)
    for i in range(log.n):
        mu = best_of.get((log.product[i], log.segment[i]), {})
        if mu:
            regret[i] = max(mu.values()) - mu.get(log.variant[i], max(mu.values()))
    step = max(1, log.n // 200)
    idx = list(range(step - 1, log.n, step))
    cum = np.cumsum(regret)
    cum_ctr = np.cumsum(log.clicked) / np.arange(1, log.n + 1) if log.n else np.zeros(0)
    return {
        "store": _safe_url(store.url),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "policy": p.to_dict(),
        "segments": list(store.rules().names),
        "events": store.count_events(),
        "groups": groups,
        "over_time": {
            "impression": [i + 1 for i in idx],
            "estimated_regret": [float(cum[i]) for i in idx],
            "ctr": [float(cum_ctr[i]) for i in idx],
        },
    }


def _fmt(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.4f}"


def render_html(
    store: FeedbackStore, data: dict[str, Any], simulation: dict[str, Any] | None = None
) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ProductStudio feedback report"
        f"</title><style>{_CSS}</style></head><body><h1>Feedback report</h1>",
        f"<p class='note'>Store {e(data['store'])} · generated {e(data['generated'])} · policy "
        f"<b>{e(data['policy']['kind'])}</b> · events "
        f"{e(', '.join(f'{k}: {v}' for k, v in sorted(data['events'].items())) or 'none')}</p>",
    ]
    if not data["groups"]:
        parts.append("<p>No impressions recorded yet.</p>")
    products = sorted({g["product"] for g in data["groups"]} | set(store.products()))
    for product in products:
        parts.append(f"<h2>Product {e(product)}</h2><div class='thumbs'>")
        for v in store.variants(product):
            uri = _thumb(v.image)
            feats = ", ".join(f"{k}={x:g}" for k, x in v.features.items() if x)
            img = f"<img src='{uri}' alt='{e(v.variant_id)}'>" if uri else "<i>no image</i>"
            parts.append(
                f"<figure>{img}<figcaption><b>{e(v.variant_id)}</b><br>{e(feats)}</figcaption>"
                "</figure>"
            )
        parts.append("</div>")
        best_rows = [g for g in data["groups"] if g["product"] == product]
        if best_rows:
            parts.append(
                "<h3>Best variant per segment</h3><table><tr><th class='l'>segment</th>"
                "<th>impressions</th><th>clicks</th><th class='l'>best (posterior mean)</th>"
                "<th>P(best)</th></tr>"
            )
            for g in best_rows:
                parts.append(
                    f"<tr><td class='l'>{e(g['segment'])}</td><td>{g['impressions']}</td>"
                    f"<td>{g['clicks']}</td><td class='l'>{e(g['best'])}</td>"
                    f"<td>{g['best_p']:.3f}</td></tr>"
                )
            parts.append("</table>")
        for g in best_rows:
            parts.append(
                f"<h3>{e(product)} · segment {e(g['segment'])}</h3><table><tr>"
                "<th class='l'>variant</th><th>impressions</th><th>clicks</th><th>CTR</th>"
                "<th>95 % CI</th><th>conversions</th><th>posterior</th><th>P(best)</th></tr>"
            )
            for v in g["variants"]:
                cls = " class='best'" if v["variant"] == g["best"] else ""
                a, b = v["posterior"]
                parts.append(
                    f"<tr{cls}><td class='l'>{e(v['variant'])}</td><td>{v['impressions']}</td>"
                    f"<td>{v['clicks']}</td><td>{_fmt(v['ctr'])}</td>"
                    f"<td>[{v['ci'][0]:.4f}, {v['ci'][1]:.4f}]</td><td>{v['conversions']}</td>"
                    f"<td>Beta({a:g}, {b:g})</td><td>{v['p_best']:.3f}</td></tr>"
                )
            parts.append("</table>")
            parts.append(
                interval_chart(
                    [(v["variant"], v["ctr"], v["ci"][0], v["ci"][1]) for v in g["variants"]],
                    title=f"CTR with 95 % Wilson interval — {product} · {g['segment']}",
                    highlight=g["best"],
                )
            )
            parts.append(
                beta_density_chart(
                    {v["variant"]: tuple(v["posterior"]) for v in g["variants"]},
                    title=f"Posterior CTR — {product} · {g['segment']}",
                )
            )
    ot = data["over_time"]
    if ot["impression"]:
        parts.append("<h2>Over time</h2>")
        parts.append(
            curves_chart(
                {"estimated regret": (ot["impression"], ot["estimated_regret"], None)},
                title="Cumulative regret (estimated: final posterior means taken as the truth)",
                x_label="impressions",
            )
        )
        parts.append(
            curves_chart(
                {"CTR so far": (ot["impression"], ot["ctr"], None)},
                title="Cumulative CTR",
                x_label="impressions",
            )
        )
    if simulation:
        parts.append(
            "<h2>Simulation (known truth)</h2><p class='note'>Mean cumulative regret over "
            f"{simulation.get('seeds', '?')} seeds, band = ±1 s.d.</p>"
        )
        curves = {
            name: (c["impression"], c["mean"], c["sd"])
            for name, c in simulation.get("curves", {}).items()
        }
        if curves:
            parts.append(
                curves_chart(curves, title="True cumulative regret", x_label="impressions")
            )
    parts.append("</body></html>")
    return "".join(parts)


def write_report(
    store: FeedbackStore, path: str | Path, *, simulation: str | Path | None = None
) -> Path:
    """Write the HTML report atomically; returns the path."""
    data = report_data(store)
    sim = json.loads(Path(simulation).read_text()) if simulation is not None else None
    return write_atomic(render_html(store, data, sim).encode("utf-8"), path)


__all__ = ["render_html", "report_data", "write_report"]
