#!/usr/bin/env python3
"""No two modules of a crate import each other, directly or around a longer loop, and no two
folders either.

Reads every `src/**/*.rs` of every workspace crate, takes the paths each file names
(`use crate::…`, `use super::…`, `use self::…`, and `crate::…` paths in code), resolves each to
the file of the deepest module it names, and reports every strongly connected group of more
than one file. A module's use of its own submodules (`mod child; pub use child::Item;`) is how
it exposes its parts and is not counted; a child using its parent's items, and any module
using a sibling or a cousin, is.

Folders too: an import from `a/x.rs` of `b/y.rs` makes the folder `a` import the folder `b`
(the two modules below their nearest common one), so `error.rs -> protocol/ -> store/ ->
error.rs` is a cycle though no two files import each other. Run from the repository root;
exits 1 on a cycle.
"""

import pathlib
import re
import sys

USE = re.compile(r"\buse\s+([^;]+);", re.S)
INLINE = re.compile(r"\bcrate::[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*")
COMMENT = re.compile(r"//[^\n]*")


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    start = tree.find("{")
    if start < 0:
        return [tree.split(" as ")[0].strip()]
    prefix, depth, parts, current = tree[:start], 0, [], ""
    for ch in tree[start + 1 : tree.rfind("}")]:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    parts.append(current)
    return [prefix + p for part in parts if part.strip() for p in expand(part)]


def module_of(src, path):
    """The module path of a source file: src/a/b.rs and src/a/b/mod.rs are ["a", "b"]."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def file_of(src, module):
    """The file of the deepest existing module along `module`."""
    for depth in range(len(module), -1, -1):
        parts = module[:depth]
        for candidate in ([src / "lib.rs", src / "main.rs"] if not parts else
                          [src.joinpath(*parts).with_suffix(".rs"), src.joinpath(*parts, "mod.rs")]):
            if candidate.exists():
                return candidate
    return None


def imports(src, path):
    here = module_of(src, path)
    text = COMMENT.sub("", path.read_text())
    names = [p for tree in USE.findall(text) for p in expand(" ".join(tree.split()))]
    names += INLINE.findall(text)
    for name in names:
        segments = [s for s in name.replace(" ", "").split("::") if s]
        if not segments:
            continue
        if segments[0] == "crate":
            module = segments[1:]
        elif file_of(src, here + segments[:1]) not in (None, file_of(src, here)):
            module = here + segments
        elif segments[0] in ("super", "self"):
            module = list(here)
            while segments and segments[0] in ("super", "self"):
                if segments.pop(0) == "super":
                    module = module[:-1]
            module += segments
        else:
            continue
        target = file_of(src, module)
        if target is None or target == path:
            continue
        if module_of(src, target)[: len(here)] == here:
            continue  # a module using its own submodule
        yield target


def cycles(graph):
    """Strongly connected groups of more than one file (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def folder_graph(src, graph):
    """Each import seen from the nearest module the two files share: an edge between the two
    children of that module that hold them (a folder, or a file). A module using its own
    parent is left to the file-level check."""
    edges = {}
    for path, targets in graph.items():
        here = module_of(src, path)
        for target in targets:
            there = module_of(src, target)
            common = 0
            while common < min(len(here), len(there)) and here[common] == there[common]:
                common += 1
            if common == len(here) or common == len(there):
                continue
            edges.setdefault(tuple(here[: common + 1]), set()).add(tuple(there[: common + 1]))
    return edges


def is_folder(src, module):
    return src.joinpath(*module).is_dir()


def main():
    root = pathlib.Path(".")
    failed = 0
    for src in sorted(p.parent for p in root.glob("**/Cargo.toml") if (p.parent / "src").is_dir()):
        src = src / "src"
        if "target" in src.parts:
            continue
        graph = {path: set(imports(src, path)) for path in src.rglob("*.rs")}
        for group in cycles(graph):
            failed += 1
            print("modules importing each other: " + ", ".join(str(p) for p in group))
        for group in cycles(folder_graph(src, graph)):
            if any(is_folder(src, module) for module in group):
                failed += 1
                names = ", ".join("/".join(m) + ("/" if is_folder(src, m) else ".rs") for m in group)
                print(f"folders importing each other in {src}: {names}")
    print(f"module cycles: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
