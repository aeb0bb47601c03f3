"""Valid example inputs for a model: its defaults plus a sample prompt and sample file links.

Used by the coverage script and the tests to prove that every enabled model can be requested and
quoted; the wizard can use it to pre-fill a form.
"""

from __future__ import annotations

from pydantic import JsonValue

from shared.registry.schema import FieldSpec, ModelEntry

SAMPLE_PROMPT = "A red sneaker on a white background, soft studio light, product shot"
SAMPLE_FILES = {
    "image": "https://files.example.com/sample.png",
    "video": "https://files.example.com/sample.mp4",
    "audio": "https://files.example.com/sample.mp3",
}
SAMPLE_MEDIA_SECONDS = 10.0


def sample_file(spec: FieldSpec) -> str:
    accept = spec.accept or ("image/png",)
    for kind in ("image", "video", "audio"):
        if any(a.startswith(kind) for a in accept):
            return SAMPLE_FILES[kind]
    return SAMPLE_FILES["image"]


def _sample_text(spec: FieldSpec, name: str) -> str:
    if name in ("task_id", "audioId"):
        return "0123456789abcdef0123456789abcdef"
    text = SAMPLE_PROMPT
    if spec.max_length is not None:
        text = text[: spec.max_length]
    if spec.min_length is not None and len(text) < spec.min_length:
        text = text.ljust(spec.min_length, ".")
    return text


def sample_value(name: str, spec: FieldSpec) -> JsonValue:
    if spec.enum:
        return spec.enum[0]
    if spec.type == "string":
        return _sample_text(spec, name)
    if spec.type in ("integer", "number"):
        low = spec.min if spec.min is not None else 1
        return int(low) if spec.type == "integer" else low
    if spec.type == "boolean":
        return False
    if spec.type == "file":
        return sample_file(spec)
    count = max(spec.min_items or 1, 1)
    if spec.type == "file_list":
        return [sample_file(spec)] * count
    if spec.type == "messages":
        return [{"role": "user", "content": SAMPLE_PROMPT}]
    if spec.type == "object_list":
        return [{field: SAMPLE_PROMPT for field in spec.item_fields or ()}] * count
    return ["sample"] * count


def sample_inputs(entry: ModelEntry) -> dict[str, JsonValue]:
    """Every field that is required (or is a prompt) and has no default gets a sample value."""
    values: dict[str, JsonValue] = {}
    for name, spec in entry.inputs.items():
        if spec.has_default:
            continue
        if spec.required or name in ("prompt", "text") or _wanted(spec, values, entry):
            values[name] = sample_value(name, spec)
    return values


def _wanted(spec: FieldSpec, values: dict[str, JsonValue], entry: ModelEntry) -> bool:
    if not spec.required_if:
        return False
    for other, expected in spec.required_if.items():
        current = values.get(other, entry.inputs[other].default if other in entry.inputs else None)
        if expected is None and current in (None, "", []):
            return True
        if expected is not None and current == expected:
            return True
    return False


def sample_media_seconds(entry: ModelEntry) -> dict[str, float]:
    """A measured length for every file the price may depend on."""
    rule = entry.price
    if rule is None or rule.seconds is None or rule.seconds.media is None:
        return {}
    return {rule.seconds.media: SAMPLE_MEDIA_SECONDS}
