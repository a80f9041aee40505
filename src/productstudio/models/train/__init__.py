"""Training loops for the conditional generators (imports torch)."""

from productstudio.models.train.loop import TrainParams, make_grid, prompt_of, train

__all__ = ["TrainParams", "make_grid", "prompt_of", "train"]
