"""Generate the key reference of `docs/config.md` from the config models.

``python -m vigil.config.doc`` rewrites the section between the markers in docs/config.md;
a test fails when the file is out of step with the models.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from vigil.config.models import CameraConfig, InputConfig, VigilConfig, Zone

BEGIN = "<!-- BEGIN GENERATED: python -m vigil.config.doc -->"
END = "<!-- END GENERATED -->"
DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section)"
        return json.dumps(
            [v.value if isinstance(v, Enum) else v for v in value]
            if isinstance(value, list)
            else value
        )
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return "null"
    if isinstance(field.default, bool):
        return "true" if field.default else "false"
    return str(field.default)


_NAMES = {
    SecretStr: "secret string",
    str: "string",
    float: "number",
    int: "integer",
    bool: "boolean",
}


def _type(annotation: Any) -> str:
    """A reader's name for a type: ``number or null``, ``one of auto, none``, ``list of ...``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # a constrained part of a union: its type; the bounds are in the text
        return _type(args[0])
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (Union, UnionType):
        return " or ".join("null" if a is type(None) else _type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping of name to {_type(args[1])}"
    if origin is tuple:
        return f"[{', '.join(_type(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section" if annotation is not Zone else "zone"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every field, depth first."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        sub = _model_of(field.annotation)
        yield path, _type(field.annotation), _default(field), field.description or ""
        if sub is not None:
            yield from rows(sub, path)


def generate() -> str:
    lines = [BEGIN, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    tables: list[tuple[type[BaseModel], str]] = [
        (VigilConfig, ""),
        (CameraConfig, "cameras.NAME"),
        (InputConfig, "cameras.NAME.inputs[]"),
        (Zone, "cameras.NAME.detect.motion.zones[]"),
    ]
    for model, prefix in tables:
        for path, kind, default, text in rows(model, prefix):
            text = text.replace("|", "\\|")
            lines.append(f"| `{path}` | {kind} | `{default}` | {text} |")
    lines += ["", END]
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` with its generated section replaced."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + generate() + text[end:]


def main() -> int:
    DOC.write_text(render(DOC.read_text()))
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
