"""Parse every .tf file of a directory with python-hcl2 and print them as JSON.

Runs in .venv-deploy-checks (python-hcl2 conflicts with the main venv's pins), as
`python tests/deploy/tf_dump.py DIR`; exit status 1 names each file that does not parse.
Standard library and hcl2 only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(directory: str) -> int:
    import hcl2  # type: ignore[import-not-found, unused-ignore]
    from hcl2.utils import SerializationOptions  # type: ignore[import-not-found, unused-ignore]

    # python-hcl2 8's backwards-compatible shape: plain strings, no comments or block markers.
    options = SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )

    parsed: dict[str, object] = {}
    failures: list[str] = []
    files = sorted(Path(directory).glob("*.tf"))
    if not files:
        print(f"no .tf files in {directory}", file=sys.stderr)
        return 1
    for path in files:
        try:
            with path.open(encoding="utf-8") as handle:
                parsed[path.name] = hcl2.load(handle, serialization_options=options)
        except Exception as error:  # the parser raises several types (lark, ValueError)
            failures.append(f"{path.name}: {type(error).__name__}: {str(error)[:300]}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    json.dump(parsed, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
