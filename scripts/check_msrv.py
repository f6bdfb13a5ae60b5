#!/usr/bin/env python3
"""Checks the declared rust-version without a second toolchain (none can be installed here).

1. Every crate of the workspace declares the workspace's rust-version.
2. No dependency in the lock file's resolution (normal and build dependencies of the published
   crates, for every feature) declares a newer rust-version than ours.
3. clippy's `incompatible_msrv` lint (on in `.ci/run`'s clippy run, `-D warnings`) reports any
   standard-library API newer than the declared version.
Exits 1 and names the offenders.
"""
import json
import subprocess
import sys


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"]))
ids = set(meta["workspace_members"])
packages = {p["id"]: p for p in meta["packages"]}
ours = {packages[i]["rust_version"] for i in ids}
if len(ours) != 1 or None in ours:
    sys.exit(f"workspace crates declare different rust-versions: {sorted(map(str, ours))}")
msrv = ours.pop()

# Walk the resolve graph from the published crates, skipping dev-dependencies.
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
roots = [i for i in ids if packages[i].get("publish") is None]
seen, stack = set(), list(roots)
while stack:
    node = nodes[stack.pop()]
    for dep in node["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        if kinds == {"dev"} or dep["pkg"] in seen:
            continue
        seen.add(dep["pkg"])
        stack.append(dep["pkg"])

bad = []
for pid in sorted(seen):
    p = packages[pid]
    rv = p.get("rust_version")
    if rv and version(rv) > version(msrv):
        bad.append(f"{p['name']} {p['version']} needs Rust {rv}")
if bad:
    sys.exit(f"declared rust-version {msrv}, but:\n  " + "\n  ".join(bad))
print(f"rust-version {msrv}: {len(seen)} dependencies of the published crates declare nothing newer")
