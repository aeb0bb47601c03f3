"""Whole-catalogue checks for the coverage script and the tests (never on the request path)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.registry.errors import RegistryError
from shared.registry.kie_request import request_for
from shared.registry.pricing import credits_for
from shared.registry.samples import sample_inputs, sample_media_seconds
from shared.registry.schema import Catalogue, ModelEntry
from shared.registry.validation import validate_inputs


@dataclass
class AuditReport:
    problems: list[str] = field(default_factory=list)
    total: int = 0
    enabled: int = 0
    per_category: Counter[str] = field(default_factory=Counter)
    per_category_enabled: Counter[str] = field(default_factory=Counter)
    per_kind: Counter[str] = field(default_factory=Counter)
    per_kind_enabled: Counter[str] = field(default_factory=Counter)
    disabled: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    kie_total: int = 0
    kie_present: int = 0
    kie_missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _duplicates(models: Sequence[Any]) -> list[str]:
    ids = Counter(m.get("id") for m in models if isinstance(m, dict))
    return sorted(str(model_id) for model_id, n in ids.items() if n > 1)


def _check_enabled(entry: ModelEntry, catalogue: Catalogue) -> list[str]:
    """An enabled model must be reachable, described, priced with a source, and runnable."""
    problems: list[str] = []
    slugs = {c.slug: c for c in catalogue.categories}
    category = slugs.get(entry.category)
    if category is None or entry.kind not in category.kinds:
        problems.append(f"{entry.id}: not reachable from any marketing category")
    if not entry.inputs:
        problems.append(f"{entry.id}: enabled without an input schema")
    if entry.price is None or not entry.price.source.strip():
        problems.append(f"{entry.id}: enabled without a sourced price rule")
        return problems
    try:
        values = validate_inputs(entry, sample_inputs(entry))
        request_for(entry, catalogue.families[entry.family], values, "https://example.com/cb")
        credits_for(entry, values, sample_media_seconds(entry))
    except (RegistryError, ValueError) as error:
        problems.append(f"{entry.id}: sample request cannot be built or quoted: {error}")
    return problems


def audit_catalogue(raw: Mapping[str, Any], kie_ids: Sequence[str]) -> AuditReport:
    report = AuditReport()
    models = raw.get("models")
    if not isinstance(models, list):
        report.problems.append("catalogue has no 'models' list")
        return report
    for model_id in _duplicates(models):
        report.problems.append(f"{model_id}: id appears more than once")
    try:
        catalogue = TypeAdapter(Catalogue).validate_python(raw)
    except ValidationError as error:
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            report.problems.append(f"invalid catalogue at {where or 'root'}: {item['msg']}")
        return report
    report.total = len(catalogue.models)
    for entry in catalogue.models:
        report.per_category[entry.category] += 1
        report.per_kind[entry.kind] += 1
        if entry.enabled:
            report.enabled += 1
            report.per_category_enabled[entry.category] += 1
            report.per_kind_enabled[entry.kind] += 1
            report.problems += _check_enabled(entry, catalogue)
        else:
            code = entry.disabled_code or "?"
            report.disabled.setdefault(code, []).append((entry.id, entry.disabled_reason or ""))
    present = {m.id for m in catalogue.models}
    report.kie_total = len(kie_ids)
    report.kie_missing = [mid for mid in kie_ids if mid not in present]
    report.kie_present = report.kie_total - len(report.kie_missing)
    for model_id in report.kie_missing:
        report.problems.append(f"{model_id}: in KIE's documented catalogue but not in the registry")
    return report
