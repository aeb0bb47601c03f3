"""Fails when the registry is incomplete or inconsistent; prints what it offers and what it lacks.

    python -m scripts.verify_registry_coverage [--catalogue PATH] [--kie-copy PATH]

Exit 0 when every enabled model is reachable from a marketing category, has an input schema, a
sourced price rule, titles and a buildable, quotable sample request; when no id is duplicated;
and when every id of KIE's documented catalogue (the dated copy in registry/sources/) is present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.registry.audit import AuditReport, audit_catalogue
from shared.registry.errors import RegistryDataError
from shared.registry.loader import CATALOGUE_PATH, read_catalogue

REPO = CATALOGUE_PATH.parents[1]


def _kie_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [str(item["id"]) for item in json.load(handle)]


def render(report: AuditReport, kie_copy: Path) -> str:
    disabled = report.total - report.enabled
    lines = [f"models: {report.total}, enabled: {report.enabled}, disabled: {disabled}"]
    lines.append("per category (enabled/total):")
    for slug, total in sorted(report.per_category.items()):
        lines.append(f"  {slug:14s} {report.per_category_enabled[slug]:4d}/{total}")
    lines.append("per kind (enabled/total):")
    for kind, total in sorted(report.per_kind.items()):
        lines.append(f"  {kind:16s} {report.per_kind_enabled[kind]:4d}/{total}")
    lines.append("disabled, by reason:")
    for code, items in sorted(report.disabled.items()):
        lines.append(f"  {code} ({len(items)}):")
        lines += [f"    {model_id}: {reason}" for model_id, reason in items]
    lines.append(
        f"coverage of KIE's documented catalogue ({kie_copy.name}): "
        f"{report.kie_present}/{report.kie_total} ids present"
    )
    if report.problems:
        lines.append(f"PROBLEMS ({len(report.problems)}):")
        lines += [f"  {p}" for p in report.problems]
    else:
        lines.append("OK")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE_PATH)
    parser.add_argument("--kie-copy", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        raw = read_catalogue(args.catalogue)
    except RegistryDataError as error:
        print(f"PROBLEMS (1):\n  {error}")
        return 1
    kie_copy = args.kie_copy or REPO / str(raw.get("kie_catalogue_copy", ""))
    report = audit_catalogue(raw, _kie_ids(kie_copy))
    print(render(report, kie_copy))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
