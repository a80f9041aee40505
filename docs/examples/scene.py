"""An AI scene around one product photo; the product's own pixels stay exact.

    python docs/examples/scene.py MODEL PHOTO OUT_DIR [TITLE]

MODEL is a local diffusers folder, a checkpoint added with `productstudio models add`, or a
hub id already in the Hugging Face cache (nothing is downloaded).
"""

import sys
from pathlib import Path

from productstudio.imaging import load_image
from productstudio.models.pipelines import DiffusersPipeline, GenerationParams, LoadOptions
from productstudio.models.pipelines.prompts import ProductInfo, PromptBook
from productstudio.models.pipelines.records import save_with_record
from productstudio.models.pipelines.scene import SceneLayout, generate_scenes, scene_params_of
from productstudio.models.segmenters import load_segmenter
from productstudio.ops import cutout

model, photo, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
title = sys.argv[4] if len(sys.argv) > 4 else photo.stem.replace("_", " ")

pixels = load_image(photo).pixels[..., :3]
product = cutout(pixels, load_segmenter("auto").segment(pixels).mask)

book = PromptBook.default()
preset = book.scene("marble-counter")
prompt = book.build(ProductInfo(title=title), scene=preset, style="amazon")

pipe = DiffusersPipeline.load(model, LoadOptions(device="auto"))  # CUDA, MPS or CPU
scenes = generate_scenes(
    pipe,
    product,
    prompt,
    GenerationParams(steps=30, guidance=7.5, seed=0),
    layout=SceneLayout.from_preset(preset),
    scene=scene_params_of(preset),
    candidates=2,  # seeds 0 and 1
)
for s in scenes:  # each image gets a .json with the prompt and every setting
    save_with_record(s.image, out / f"{photo.stem}-s{s.seed}.png", s.record)
