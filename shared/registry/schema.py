"""Pydantic models of one catalogue entry and of the whole catalogue file.

They are built lazily (one entry when it is first asked for), so importing the registry stays cheap;
the whole-file `Catalogue` is validated only by the coverage script and the tests.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = bool | int | float | str
FieldType = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "file",
    "file_list",
    "string_list",
    "object_list",
    "messages",
]
PriceUnit = Literal["per_run", "per_second", "per_1k_chars", "per_million_tokens"]
# Why a model is off, for grouping in reports and for sync (which may enable only "no_price").
DisabledCode = Literal["no_price", "retired", "not_in_docs", "no_schema", "unbounded_price", "ops"]
# Row conditions on something the inputs cannot fix (a feed variant, the source resolution of an
# upscale) start with "@"; "present:<field>" is true when the field holds a non-empty value.
UNKNOWN_PREFIX = "@"
PRESENT_PREFIX = "present:"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Localized(_Frozen):
    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)


class FieldSpec(_Frozen):
    type: FieldType
    required: bool = False
    # {"customMode": true}: required when customMode is true; None means "when that one is empty".
    required_if: dict[str, Scalar | None] | None = None
    enum: tuple[Scalar, ...] | None = None
    default: Scalar | None = None
    default_is_ours: bool = False
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    max_length_is_ours: bool = False
    min_items: int | None = None
    max_items: int | None = None
    max_items_is_ours: bool = False
    accept: tuple[str, ...] | None = None
    max_file_mb: float | None = None
    item_fields: tuple[str, ...] | None = None
    note: str | None = None

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set and self.default is not None

    @property
    def is_file(self) -> bool:
        return self.type in ("file", "file_list")


class PriceRow(_Frozen):
    when: dict[str, Scalar] = Field(default_factory=dict)
    credits: Decimal = Field(gt=0)
    input_credits: Decimal | None = Field(default=None, gt=0)
    variant: str | None = None


class SecondsSource(_Frozen):
    """Where billed seconds come from: an input field, an uploaded file's length, or frames/fps."""

    field: str | None = None
    media: str | None = None
    max_s: float | None = Field(default=None, gt=0)
    frames: tuple[str, str] | None = None


class PerItem(_Frozen):
    field: str
    credits: Decimal = Field(gt=0)
    free_items: int = Field(default=0, ge=0)
    variant: str | None = None


class PriceRule(_Frozen):
    unit: PriceUnit
    rows: tuple[PriceRow, ...] = Field(min_length=1)
    source: str = Field(min_length=1)
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    seconds: SecondsSource | None = None
    multiply_by: str | None = None
    per_item: PerItem | None = None
    text_fields: tuple[str, ...] | None = None
    max_output_field: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _unit_needs(self) -> Self:
        if self.unit == "per_second" and self.seconds is None:
            raise ValueError("a per_second price needs 'seconds'")
        if self.unit == "per_1k_chars" and not self.text_fields:
            raise ValueError("a per_1k_chars price needs 'text_fields'")
        if self.unit == "per_million_tokens":
            if not self.max_output_field or not self.text_fields:
                raise ValueError("a per-token price needs 'max_output_field' and 'text_fields'")
            if any(row.input_credits is None for row in self.rows):
                raise ValueError("a per-token price needs 'input_credits' on every row")
        return self

    def referenced_fields(self) -> set[str]:
        names = {
            key.removeprefix(PRESENT_PREFIX)
            for row in self.rows
            for key in row.when
            if not key.startswith(UNKNOWN_PREFIX)
        }
        if self.multiply_by:
            names.add(self.multiply_by)
        if self.per_item:
            names.add(self.per_item.field)
        if self.max_output_field:
            names.add(self.max_output_field)
        if self.seconds:
            names.update(n for n in (self.seconds.field, self.seconds.media) if n)
            names.update(self.seconds.frames or ())
        names.update(f.split("[")[0] for f in self.text_fields or ())
        return names


class PriceEvidence(_Frozen):
    """A sourced price row kept on a disabled model: what ops need to enable it later."""

    variant: str | None
    credits: Decimal
    unit: str
    as_of: str
    source: str


class ModelEntry(_Frozen):
    id: str = Field(min_length=1)
    family: str
    kind: str
    modes: tuple[str, ...]
    category: str
    title: Localized
    description: Localized
    inputs: dict[str, FieldSpec]
    price: PriceRule | None
    price_evidence: tuple[PriceEvidence, ...] = ()
    eta_s: int = Field(gt=0)
    enabled: bool
    disabled_reason: str | None
    disabled_code: DisabledCode | None = None
    docs_url: str | None = None
    schema_source: str
    endpoint: str | None = None
    status_path: str | None = None
    fixed: dict[str, Scalar] = Field(default_factory=dict)
    schema_unverified: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.enabled:
            if self.price is None:
                raise ValueError(f"{self.id}: enabled without a price")
            if self.disabled_reason or self.disabled_code:
                raise ValueError(f"{self.id}: enabled but has a disabled reason")
            if not self.inputs:
                raise ValueError(f"{self.id}: enabled without an input schema")
        elif not (self.disabled_reason or "").strip() or self.disabled_code is None:
            raise ValueError(f"{self.id}: disabled without a reason and its code")
        if self.price is not None:
            missing = self.price.referenced_fields() - set(self.inputs)
            if missing:
                raise ValueError(f"{self.id}: price refers to unknown inputs {sorted(missing)}")
        return self


class Category(_Frozen):
    slug: str = Field(pattern=r"^[a-z_]+$")
    label: Localized
    kinds: tuple[str, ...] = Field(min_length=1)


class Family(_Frozen):
    method: Literal["POST", "GET"]
    path: str
    body: Literal["market", "flat", "chat"]
    callback_field: str | None
    status_path: str | None
    synchronous: bool


class Catalogue(_Frozen):
    schema_version: Literal[1]
    catalogue_as_of: str
    kie_catalogue_copy: str
    categories: tuple[Category, ...]
    families: dict[str, Family]
    models: tuple[ModelEntry, ...]

    @model_validator(mode="after")
    def _references(self) -> Self:
        counts = Counter(m.id for m in self.models)
        duplicates = sorted(model_id for model_id, n in counts.items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate model ids: {duplicates}")
        by_slug = {c.slug: c for c in self.categories}
        for m in self.models:
            if m.family not in self.families:
                raise ValueError(f"{m.id}: unknown family {m.family!r}")
            category = by_slug.get(m.category)
            if category is None or m.kind not in category.kinds:
                raise ValueError(
                    f"{m.id}: kind {m.kind!r} is not reachable from category {m.category!r}"
                )
        return self
