"""The feedback loop from Python: variants → choose → record → stats (run by the tests).

python docs/examples/personalize/feedback_api.py feedback.sqlite
"""

from __future__ import annotations

import sys
from pathlib import Path

from productstudio.personalize import Event, EventKind, FeedbackStore, UserContext, VariantMatrix

HERE = Path(__file__).resolve().parent
store = FeedbackStore.open(sys.argv[1] if len(sys.argv) > 1 else "feedback.sqlite")
store.add_variants(
    VariantMatrix.from_yaml(HERE / "variant_matrix.yaml").expand(), product="apple-1"
)
d = store.choose("apple-1", UserContext.parse("interests=noir,gender=women,basket=120"))
store.record(d.impression())  # when the image is shown
store.record(Event(EventKind.CLICK, f"click-{d.decision_id}", impression_id=d.decision_id))
for row in store.stats("apple-1"):
    print(row.segment, row.variant, row.impressions, row.clicks)
