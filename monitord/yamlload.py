"""YAML parsing with a bound on alias expansion, for every config file monitord reads.

PyYAML shares the node of an anchor between all its aliases, so a 300-byte file of
nested anchors ("billion laughs") composes quickly but expands to billions of nodes in
any code that walks the result as a tree (line indexing, `${ENV}` expansion, model
validation). `load_bounded()` composes the document once (libyaml when available),
counts the aliases and the size of the tree they expand to (memoised per node, so
the count itself is linear), and refuses the file past `MAX_ALIASES` aliases or
`MAX_EXPANDED_NODES` expanded nodes, or with a recursive alias (`&a [*a]`), before
anything walks it. Plain PyYAML (no pydantic): the host agent uses it too.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

__all__ = ["MAX_ALIASES", "MAX_EXPANDED_NODES", "YamlLimitError", "load_bounded"]

MAX_ALIASES: Final = 10_000
MAX_EXPANDED_NODES: Final = 1_000_000


class YamlLimitError(yaml.YAMLError):
    """The document uses too many aliases or expands past the node limit.

    `problem` and `problem_mark` are set like PyYAML's own errors, so callers that
    report `invalid YAML: <problem>` at the mark's line handle it unchanged.
    """

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


# libyaml's parser when PyYAML was built with it (about 10x faster: a reload of
# thousands of targets parses in a thread and should not hold the GIL for long).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _expanded_size(root: yaml.Node) -> int:
    """Number of nodes of the tree `root` stands for once every alias is expanded."""
    sizes: dict[int, int] = {}
    opened: set[int] = set()
    # Iterative post-order walk over distinct nodes (aliases share node objects).
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes or (not done and id(node) in opened):
            continue
        opened.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children += (k, v)
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done or not children:
            if any(id(c) not in sizes for c in children):  # an ancestor: `&a [*a]`
                raise YamlLimitError("an alias refers to a node that contains it", node.start_mark)
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), 1 << 62)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in opened)
    return sizes[id(root)]


def _count_aliases(root: yaml.Node) -> int:
    """How many times a node is reached again (an alias), walking distinct nodes once."""
    seen: set[int] = set()
    again = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            again += 1
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack += (k, v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return again


def load_bounded(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose and construct one YAML document (SafeLoader); return (node, data).

    Raise `yaml.YAMLError` for invalid YAML and `YamlLimitError` for a document whose
    aliases expand past the limits.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        aliases = _count_aliases(node)
        if aliases > MAX_ALIASES:
            raise YamlLimitError(
                f"more than {MAX_ALIASES} aliases (*name): refused", node.start_mark
            )
        if aliases:
            size = _expanded_size(node)
            if size > MAX_EXPANDED_NODES:
                raise YamlLimitError(
                    f"aliases (*name) expand to {size} nodes, more than the limit of"
                    f" {MAX_EXPANDED_NODES}: refused",
                    node.start_mark,
                )
        return node, loader.construct_document(node)
    finally:
        loader.dispose()
