"""The main job from Python: one photo → a marketplace-ready main image.

Run: python docs/examples/main_job.py PHOTO OUT.jpg   (tested by tests/test_docs_examples.py)

The main job is the ``amazon-main`` recipe (cut-out → 2000x2000 canvas at 85 % fill → pure
white → JPEG 92), the same one ``productstudio run`` and the batch worker run.
"""

from __future__ import annotations

import sys

from productstudio.recipes import StepContext, load_recipe


def main(photo: str, out: str) -> None:
    recipe = load_recipe("amazon-main")  # or main_image_recipe(canvas=..., fmt=...) for options
    result = recipe.apply(photo, StepContext(segmenter_choice="auto"))  # best model, else classical
    for note in result.notes:  # unsure cut-out, small photo enlarged past 2x …
        print(f"warning: {note}", file=sys.stderr)
    result.save(out)  # atomic write, sRGB JPEG


if __name__ == "__main__":
    main(*sys.argv[1:3])
