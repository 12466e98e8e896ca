"""Validates Kubernetes manifests: built-in kinds against kubernetes-validate's schemas (strict: an
unknown field is an error), the operators' kinds (Strimzi, CloudNativePG) against their CRD schemas
vendored in schemas/crds.json, made strict the same way. Any other kind is an error: nothing passes
unchecked. Used by deploy/check.sh on the chart's rendered output and by the tests of tests/deploy/.

  python tests/deploy/k8s_manifests.py --kubernetes-version 1.30.0 FILE...
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from functools import lru_cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/osms"
EXAMPLES = ROOT / "deploy/helm/examples"
KUBERNETES_VERSION = "1.30.0"


def documents(text: str) -> list[dict]:
    """The non-empty YAML documents of a multi-document stream."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


@lru_cache
def crd_schemas() -> dict[str, dict]:
    return {key: strict(schema) for key, schema in json.loads((SCHEMAS / "crds.json").read_text()).items()}


def strict(schema: dict) -> dict:
    """An OpenAPI v3 schema of a CRD as a JSON Schema that, like the API server's strict field
    validation, rejects fields it does not declare (unless it keeps unknown fields on purpose), and
    accepts null where it says `nullable`."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if node.get("nullable") and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def name_of(doc: dict) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def validate(doc: dict, kubernetes_version: str = KUBERNETES_VERSION) -> tuple[str, list[str]]:
    """(what it was checked against, errors) for one manifest."""
    for field in ("apiVersion", "kind"):
        if not isinstance(doc.get(field), str) or not doc[field]:
            return "nothing", [f"no {field}"]
    if not (doc.get("metadata") or {}).get("name"):
        return "nothing", ["no metadata.name"]
    key = f"{doc['apiVersion']}/{doc['kind']}"
    crd = crd_schemas().get(key)
    if crd is not None:
        validator = jsonschema.Draft7Validator(crd)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        return "its CRD schema", [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
    try:
        version = kubernetes_validate.validate(doc, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return "nothing", [exc.message]
    except kubernetes_validate.ValidationError as exc:
        return f"Kubernetes {exc.version}", [f"{'.'.join(map(str, exc.absolute_path)) or '(root)'}: {exc.message}"]
    return f"Kubernetes {version}", []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = checked = 0
    for path in args.files:
        docs = documents(path.read_text())
        if not docs:
            print(f"FAIL {path}: no manifests")
            failed += 1
        for doc in docs:
            against, errors = validate(doc, args.kubernetes_version)
            checked += 1
            if errors:
                failed += 1
                print(f"FAIL {path}: {name_of(doc)} (against {against})")
                for error in errors:
                    print(f"       {error}")
            else:
                print(f"ok   {path}: {name_of(doc)} (against {against})")
    print(f"{checked - failed} valid, {failed} invalid manifests")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
