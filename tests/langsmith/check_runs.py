"""Checks runtrace run trees against LangSmith's own Python SDK.

Reads a JSON Lines file of runtrace trees (argv[1]) and, for every run in it, children
included:

- loads it into the SDK's `langsmith.run_trees.RunTree` (what the SDK posts) and
  `langsmith.schemas.Run` (what it reads back), and fails if either model lacks a field the
  line has (pydantic would drop it without a word), or holds a value other than the line's;
- checks that the dict the SDK's client posts for it (`RunTree._get_dicts_safe`) still holds
  every field;
- checks `run_type` is one of LangSmith's and the metadata is where the SDK reads it.

Prints one line per tree and a summary; exits non-zero at the first run that does not hold.
"""

import copy
import json
import sys
from datetime import datetime

from langsmith.run_trees import RunTree
from langsmith.schemas import Run

LANGSMITH_RUN_TYPES = {"tool", "chain", "llm", "retriever", "embedding", "prompt", "parser"}
TIMES = {"start_time", "end_time"}


def field_names(model):
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        if field.alias:
            names.add(field.alias)
    return names


def as_time(value):
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def normal(key, value):
    """The line's value and the model's dump compared as values: times as instants, ids as text."""
    if key in TIMES:
        return as_time(value)
    if key == "outputs":
        # The SDK's RunTree holds a failed run's `null` outputs as `{}`, as it posts them.
        return value or {}
    if key == "events":
        return [{**event, "time": as_time(event.get("time"))} for event in value or []]
    return value


def fail(run, message):
    sys.exit(f"run {run.get('name')!r} ({run.get('id')}): {message}")


def check(run, counted):
    children = run.get("child_runs") or []
    own = {key: value for key, value in run.items() if key != "child_runs"}

    for model, skipped in ((RunTree, set()), (Run, {"session_name"})):
        missing = set(own) - skipped - field_names(model)
        if missing:
            fail(run, f"{model.__module__}.{model.__name__} has no field for {sorted(missing)}: it would drop them")
        kept = {key: value for key, value in own.items() if key not in skipped}
        # A copy: the SDK's validators fill in the dict they are given.
        loaded = model.model_validate(copy.deepcopy(kept))
        dumped = loaded.model_dump(mode="json")
        for key, value in kept.items():
            if normal(key, dumped.get(key)) != normal(key, value):
                fail(run, f"{model.__name__}.{key} holds {dumped.get(key)!r}, the line {value!r}")
        if loaded.metadata != (run.get("extra") or {}).get("metadata", {}):
            fail(run, f"{model.__name__}.metadata reads {loaded.metadata!r}, not extra.metadata")

    # What the SDK's client posts for this run: every field the line has, but the children.
    posted = RunTree.model_validate(copy.deepcopy(own))._get_dicts_safe()
    dropped = {key for key, value in own.items() if value is not None} - set(posted)
    if dropped:
        fail(run, f"the SDK's client would not post {sorted(dropped)}")

    if run["run_type"] not in LANGSMITH_RUN_TYPES:
        fail(run, f"run_type {run['run_type']!r} is not one of LangSmith's")
    if "metadata" in run or "usage_metadata" in run:
        fail(run, "a top-level metadata or usage_metadata, which LangSmith drops")
    counted["runs"] += 1
    counted["fields"] |= set(own)
    for child in children:
        check(child, counted)


def main():
    counted = {"runs": 0, "fields": set()}
    trees = 0
    with open(sys.argv[1], encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                tree = json.loads(line)
                before = counted["runs"]
                check(tree, counted)
                trees += 1
                print(f"{tree['name']}: {counted['runs'] - before} runs kept whole by RunTree and Run")
    if not trees:
        sys.exit("no run trees in the file")
    print(f"{trees} trees, {counted['runs']} runs, fields {sorted(counted['fields'])}: none dropped")


if __name__ == "__main__":
    main()
