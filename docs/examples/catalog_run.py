"""A whole catalogue from Python: the same entry point as `productstudio run`.

Run: python docs/examples/catalog_run.py PHOTOS OUT   (tested by tests/test_docs_examples.py)
"""

from __future__ import annotations

import sys

from productstudio.catalog import JobSpec, RunOptions, Status, run_catalog
from productstudio.catalog.report import catalog_status, open_target


def main(photos: str, out: str) -> None:
    def show(result):  # type: ignore[no-untyped-def]  # each item as it finishes
        if result.status == Status.FAILED:
            print(f"failed: {result.source}: {result.message}", file=sys.stderr)

    summary = run_catalog(
        photos,
        out,
        [JobSpec(model="auto"), JobSpec(model="auto", recipe="etsy")],  # two presets per item
        RunOptions(executor="local", workers=2, template="{key}/{preset}.{ext}"),
        on_progress=lambda done, total: print(f"\r{done}/{total}", end="", file=sys.stderr),
        on_result=show,
    )
    print(f"\n{summary.done} done, {summary.skipped} already done, {summary.failed} failed")
    print(f"manifest: {summary.manifest}")
    store, scope = open_target(out)  # the live status any other process can read
    print(catalog_status(store, scope).counts)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
