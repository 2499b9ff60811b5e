#!/usr/bin/env python3
"""The target graph, told three times, must agree:

  1. Package.swift: each target's dependencies and plugins (`swift package dump-package`),
  2. ARCHITECTURE.md: the chart under "## Targets and dependency arrows", one line per
     target, `T <── A, B` where T depends on A and B (a line starting with blanks and
     no arrow continues the one above; "(...)" is a comment; a line without an arrow
     names targets without dependencies), in dependency order: every name after an
     arrow is a target named on an earlier line,
  3. the sources: the package modules each target imports are exactly the ones it
     declares (plugins aside, which are used, not imported).

Prints every difference and exits 1 if there is one. Run from anywhere:
    python3 .ci/check_targets.py
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARROW = "<──"
IMPORT = re.compile(r"^\s*(?:@testable\s+|@_exported\s+)?import\s+"
                    r"(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?(\w+)")


def declared_graph():
    dump = json.loads(subprocess.check_output(["swift", "package", "dump-package"], cwd=ROOT))
    targets = {}
    for t in dump["targets"]:
        deps = set()
        for dep in t.get("dependencies", []):
            for kind, value in dep.items():   # byName / target / product: [name, ...]
                deps.add(value[0])
        plugins = {usage["plugin"][0] for usage in t.get("pluginUsages") or [] if "plugin" in usage}
        default = "Tests" if t["type"] == "test" else "Sources"
        targets[t["name"]] = {"type": t["type"], "deps": deps, "plugins": plugins,
                              "path": os.path.join(ROOT, t.get("path") or os.path.join(default, t["name"]))}
    return targets


def drawn_graph(known):
    text = open(os.path.join(ROOT, "ARCHITECTURE.md"), encoding="utf-8").read()
    section = text.split("## Targets and dependency arrows", 1)
    if len(section) != 2:
        sys.exit("ARCHITECTURE.md: no '## Targets and dependency arrows' section")
    block = re.search(r"```\n(.*?)```", section[1], re.S)
    if not block:
        sys.exit("ARCHITECTURE.md: no chart (a ``` block) in 'Targets and dependency arrows'")
    arrows, order, seen, target, continued = set(), [], set(), None, False
    for line in block.group(1).splitlines():
        line = re.sub(r"\([^)]*\)", "", line)   # comments
        if ARROW in line:
            left, right = line.split(ARROW, 1)
            target = left.split()[-1]
        elif continued and line[:1].isspace():
            right = line
        else:
            seen.update(n for n in re.findall(r"\w+", line) if n in known)
            target, continued = None, False
            continue
        names = [n.strip() for n in right.split(",") if n.strip()]
        arrows.update((target, n) for n in names)
        order += [f"ARCHITECTURE.md draws {target} {ARROW} {n} before {n}'s own line" for n in names if n not in seen]
        seen.add(target)
        continued = right.rstrip().endswith(",")
    return arrows, order


def imports(path):
    found = set()
    for directory, _, files in os.walk(path):
        for name in files:
            if name.endswith(".swift"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    for line in f:
                        m = IMPORT.match(line)
                        if m:
                            found.add(m.group(1))
    return found


def main():
    targets = declared_graph()
    problems = []

    declared = {(t, d) for t, info in targets.items() for d in info["deps"] | info["plugins"]}
    drawn, order = drawn_graph(targets.keys())
    problems += order
    for t, d in sorted(declared - drawn):
        problems.append(f"ARCHITECTURE.md does not draw {t} {ARROW} {d} (declared in Package.swift)")
    for t, d in sorted(drawn - declared):
        problems.append(f"ARCHITECTURE.md draws {t} {ARROW} {d}, which Package.swift does not declare")

    for t, info in sorted(targets.items()):
        if info["type"] in ("system", "plugin"):
            continue
        used = imports(info["path"]) & targets.keys()
        for m in sorted(used - info["deps"]):
            problems.append(f"{t} imports {m} without declaring it in Package.swift")
        for m in sorted(info["deps"] - used):
            problems.append(f"{t} declares {m} in Package.swift but imports it nowhere")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"target graph: {len(targets)} targets, {len(declared)} arrows; "
          "Package.swift, ARCHITECTURE.md and the imports agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
