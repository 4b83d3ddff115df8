#!/usr/bin/env python3
"""Validates FHIR R4 resources with an independent implementation (fhir.resources 6.4.0, FHIR 4.0.1, pydantic
models generated from the official StructureDefinitions), not carekiosk's own types.

Usage: validate.py FILE...   Each file holds one JSON resource, or a JSON array of resources. Exit 0 when every
resource validates; otherwise each failure is printed (file, index, resourceType, the validator's errors) and the
exit code is 1. The tests run it through `$CAREKIOSK_FHIR_PYTHON` (scripts/setup.sh installs it in a venv).
"""
import json
import sys

from fhir.resources import get_fhir_model_class


def main(paths):
    failures = 0
    count = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        items = data if isinstance(data, list) else [data]
        for i, obj in enumerate(items):
            count += 1
            kind = obj.get("resourceType") if isinstance(obj, dict) else None
            try:
                if not kind:
                    raise ValueError("no resourceType")
                get_fhir_model_class(kind).parse_obj(obj)
            except Exception as e:  # noqa: BLE001 - report every failure, whatever its type
                failures += 1
                print(f"{path}[{i}] {kind}: {e}")
    print(f"{count} resource(s) checked, {failures} invalid")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
