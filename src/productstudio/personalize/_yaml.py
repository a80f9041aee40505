"""The YAML files of personalisation (segment rules, variant matrices): parse a mapping,
validate it with a pydantic model, and name the file, line and key of the first problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from productstudio.errors import InvalidParamsError

M = TypeVar("M", bound=BaseModel)


def node_line(root: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """1-based line of the node at ``path`` (mapping keys, sequence indices) in a composed
    document, or of the deepest node on the way that exists; None without a document."""
    node, line = root, None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if step < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = int(node.start_mark.line) + 1
    return line


def load_model(model: type[M], text: str, *, file: str, what: str) -> tuple[M, yaml.Node | None]:
    """``text`` parsed as a YAML mapping and validated as ``model``; also the composed
    document, for later messages that name a line.

    Raises:
        InvalidParamsError: invalid YAML, not a mapping (``what`` says what it should be), or a
            field that fails validation (``file, line N, key 'a.b': why``).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidParamsError(f"{file}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParamsError(f"{file}: {what} must be a mapping with `version: 1`")
    try:
        return model.model_validate(data), root
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = [p for p in e["loc"] if isinstance(p, str | int)]
        line = node_line(root, loc)
        at = f", line {line}" if line is not None else ""
        key = ".".join(str(p) for p in loc)
        raise InvalidParamsError(f"{file}{at}, key '{key}': {e['msg']}") from None
