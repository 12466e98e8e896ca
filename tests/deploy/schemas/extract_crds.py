"""Writes crds.json: the openAPIV3Schema of each served version of the given CustomResourceDefinition
files, keyed "<group>/<version>/<Kind>", without the descriptions (they are most of the bytes).

  python tests/deploy/schemas/extract_crds.py 040-Crd-kafka.yaml ... > tests/deploy/schemas/crds.json
"""
from __future__ import annotations

import json
import sys

import yaml


def without_descriptions(node):
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def main(paths: list[str]) -> None:
    schemas = {}
    for path in paths:
        with open(path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    if version.get("served"):
                        key = f"{spec['group']}/{version['name']}/{spec['names']['kind']}"
                        schemas[key] = without_descriptions(version["schema"]["openAPIV3Schema"])
    json.dump(schemas, sys.stdout, sort_keys=True, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
