"""Fails when a locked dependency declares a rust-version newer than the workspace's.

Reads `cargo metadata --format-version 1 --locked` on stdin.
"""
import json
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
ours = {package["rust_version"] for package in meta["packages"] if package["id"] in members}
if len(ours) != 1 or None in ours:
    sys.exit(f"the workspace members should share one rust-version, not {sorted(map(str, ours))}")
(ours,) = ours
newer = sorted(
    f"{package['name']} {package['version']} needs Rust {package['rust_version']}"
    for package in meta["packages"]
    if package.get("rust_version") and version(package["rust_version"]) > version(ours)
)
if newer:
    sys.exit(f"locked dependencies newer than our rust-version {ours}:\n  " + "\n  ".join(newer))
print(f"{len(meta['packages'])} packages, none needs more than Rust {ours}")
