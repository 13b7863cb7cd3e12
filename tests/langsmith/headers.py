"""Trace headers through LangSmith's own Python SDK, both ways.

Reads one JSON object on stdin: `headers` (as runtrace wrote them) and `child_metadata`.
The SDK reads the headers (`RunTree.from_headers`), starts a child of that parent with the
given metadata, and writes the child's headers (`RunTree.to_headers`). Prints, as JSON, what
it read (`parent`) and what it wrote (`child`).
"""

import json
import sys

from langsmith.run_trees import RunTree


def main():
    request = json.load(sys.stdin)
    parent = RunTree.from_headers(request["headers"])
    if parent is None:
        sys.exit("the SDK found no parent in the headers")
    child = parent.create_child("python_tool", run_type="tool", extra={"metadata": request.get("child_metadata", {})})
    json.dump(
        {
            "parent": {
                "id": str(parent.id),
                "trace_id": str(parent.trace_id),
                "parent_run_id": str(parent.parent_run_id) if parent.parent_run_id else None,
                "dotted_order": parent.dotted_order,
                "tags": parent.tags,
                "metadata": parent.metadata,
                "project": parent.session_name,
            },
            "child": {
                "id": str(child.id),
                "trace_id": str(child.trace_id),
                "dotted_order": child.dotted_order,
                "headers": child.to_headers(),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
