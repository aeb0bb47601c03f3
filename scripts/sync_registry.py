"""Proposes registry price updates from KIE's public price feed, as a readable diff.

    python -m scripts.sync_registry FEED.json [--write] [--as-of YYYY-MM-DD]
    python -m scripts.sync_registry --fetch [--save FEED.json] [--write]

FEED.json is a saved response of POST https://api.kie.ai/client/v1/model-pricing/page (one page,
a list of pages, or a bare list of records). Without --write nothing changes: the script prints
what it would do. With --write the updated catalogue is validated first and written only if the
coverage checks still pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from shared.registry.audit import audit_catalogue
from shared.registry.loader import CATALOGUE_PATH, read_catalogue
from shared.registry.sync import Change, parse_feed, plan_sync

FEED_URL = "https://api.kie.ai/client/v1/model-pricing/page"
PAGE_SIZE = 100
PAGES_MAX = 50  # the feed had ~550 rows in 2026; a runaway loop stops here
ALIASES_PATH = CATALOGUE_PATH.parent / "sources" / "feed_aliases.json"


def fetch_feed() -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    for number in range(1, PAGES_MAX + 1):
        body = json.dumps(
            {"pageNum": number, "pageSize": PAGE_SIZE, "modelDescription": "", "interfaceType": ""}
        ).encode()
        request = urllib.request.Request(
            FEED_URL, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            page = json.load(response)
        pages.append(page)
        if number >= int(page.get("data", {}).get("pages", 0)):
            break
    return pages


def _kie_ids(catalogue: dict[str, Any]) -> list[str]:
    copy_path = CATALOGUE_PATH.parents[1] / str(catalogue.get("kie_catalogue_copy", ""))
    with copy_path.open(encoding="utf-8") as handle:
        return [str(item["id"]) for item in json.load(handle)]


def render(changes: list[Change], unchanged: int) -> str:
    order = {"enable": 0, "price": 1, "review": 2, "stays_disabled": 3, "unknown_model": 4}
    lines = [c.render() for c in sorted(changes, key=lambda c: (order[c.kind], c.model_id))]
    counts = {kind: sum(c.kind == kind for c in changes) for kind in order}
    lines.append(
        f"{counts['enable']} to enable, {counts['price']} price changes, {counts['review']} for "
        f"review, {counts['unknown_model']} unknown ids, {unchanged} rows unchanged"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feed", type=Path, nargs="?")
    parser.add_argument("--fetch", action="store_true", help="download the feed (needs network)")
    parser.add_argument("--save", type=Path, help="with --fetch: keep the downloaded feed here")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE_PATH)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--write", action="store_true", help="apply the changes to the catalogue")
    args = parser.parse_args(argv)
    if args.fetch:
        doc: object = fetch_feed()
        if args.save:
            args.save.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        label = f"KIE price feed {FEED_URL}, fetched {args.as_of}"
    elif args.feed:
        doc = json.loads(args.feed.read_text(encoding="utf-8"))
        label = f"KIE price feed {FEED_URL}, saved copy {args.feed.name} ({args.as_of})"
    else:
        parser.error("give a saved feed file or --fetch")
    catalogue = read_catalogue(args.catalogue)
    aliases = json.loads(ALIASES_PATH.read_text(encoding="utf-8"))["aliases"]
    changes, unchanged, updated = plan_sync(
        catalogue, parse_feed(doc), label=label, as_of=args.as_of, aliases=aliases
    )
    print(render(changes, unchanged))
    if not args.write:
        return 0
    report = audit_catalogue(updated, _kie_ids(updated))
    if not report.ok:
        print("not written, the result fails the coverage checks:")
        print("\n".join(f"  {p}" for p in report.problems))
        return 1
    text = json.dumps(updated, ensure_ascii=False, indent=1) + "\n"
    args.catalogue.write_text(text, encoding="utf-8")
    print(f"written: {args.catalogue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
