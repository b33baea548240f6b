"""Write the release format's JSON Schemas from the code that enforces them: make schemas."""

from __future__ import annotations

import json
import os
import sys

from ansible_collections.maestro.conductor.plugins.module_utils import _release_format as fmt


def main(directory: str) -> None:
    for stem, schema in fmt.SCHEMAS.items():
        path = os.path.join(directory, f"{stem}.schema.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(schema, handle, indent=2)
            handle.write("\n")
        print(path)


if __name__ == "__main__":
    main(sys.argv[1])
