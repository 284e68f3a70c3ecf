"""The left pane's tree, kept in step with the frames in place.

Each frame, the nodes already on screen get ``set_label`` when their label
changed (a CPU figure moved), new entries are inserted where they belong and
gone ones removed; the tree is never cleared and rebuilt, so the cursor,
the scroll position and what the user expanded stay put. Only expanded nodes
are asked for their children (``Outline.children``).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Entry, Outline, filtered
from nsscope.tui.outlines.base import KTHREADS


class HostTree(Tree[str]):
    """A ``Tree`` whose nodes are an ``Outline``'s entries; node data is the entry key."""

    def __init__(self, outline: Outline, **kwargs) -> None:
        super().__init__(outline.title, **kwargs)
        self.show_root = False
        self.guide_depth = 3
        self.outline = outline
        self.frame: Frame | None = None
        self.sort = False
        self.filter_text = ""
        #: the pid being followed; its entry is kept even past the process limit
        self.pin: int | None = None
        self._key_nodes: dict[str, TreeNode[str]] = {}
        self._key_entries: dict[str, Entry] = {}
        self._key_labels: dict[str, Text] = {}
        #: nodes the filter expanded, to fold again when the filter is cleared
        self._filter_expanded: set[str] = set()
        self._filter_tree: dict[str | None, list[Entry]] | None = None
        #: keys of nodes that were expanded when a reorder removed them
        self._was_expanded: set[str] = set()
        #: frames applied (for tests and the benchmark)
        self.synced = 0

    def process_label(self, label: str | Text) -> Text:
        # Tree turns a str label into markup (Text.from_markup); ours are plain
        return Text(label) if isinstance(label, str) else label

    # --- what the screen calls

    def show(self, frame: Frame, *, sort: bool | None = None, query: str | None = None) -> None:
        """Bring the tree in line with ``frame`` (and a new sort order or filter)."""
        self.frame = frame
        if sort is not None:
            self.sort = sort
        if query is not None and query != self.filter_text:
            if not query:
                self._fold_filtered()
            self.filter_text = query
        self._sync()

    def entry(self, node: TreeNode[str] | None) -> Entry | None:
        if node is None or node.data is None:
            return None
        return self._key_entries.get(node.data)

    @property
    def cursor_entry(self) -> Entry | None:
        return self.entry(self.cursor_node)

    def node_for(self, key: str) -> TreeNode[str] | None:
        return self._key_nodes.get(key)

    def reveal(self, keys: list[str]) -> bool:
        """Expand down to the last key and put the cursor on it; False if it is not there."""
        node = None
        for key in keys[:-1]:
            node = self._key_nodes.get(key)
            if node is None:
                return False
            if not node.is_expanded:
                node.expand()
                self._sync_node(node)
        target = self._key_nodes.get(keys[-1]) if keys else None
        if target is None:
            return False
        if self.cursor_node is not target:
            self._move_to(target)
        return True

    def _move_to(self, node: TreeNode[str]) -> None:
        # a node's line number is computed when the tree's lines are rebuilt, which
        # Tree does lazily: rebuild first, or the cursor lands on a stale line
        self._tree_lines  # noqa: B018 (property with a side effect)
        self.move_cursor(node, animate=False)

    def toggle_kernel_threads(self) -> None:
        """Unfold every folded row of kernel threads on screen, or fold them all again."""
        rows = [n for key, n in self._key_nodes.items() if key.endswith(f"|{KTHREADS}")]
        unfold = any(not n.is_expanded for n in rows)
        for n in rows:
            if unfold and not n.is_expanded:
                n.expand()
            elif not unfold and n.is_expanded:
                n.collapse()

    def visible_keys(self) -> list[str]:
        """Keys of every node shown, top to bottom (tests check the tree with it)."""
        out: list[str] = []

        def walk(node: TreeNode[str]) -> None:
            for child in node.children:
                out.append(child.data or "")
                if child.is_expanded:
                    walk(child)
        walk(self.root)
        return out

    # --- syncing

    def _children_of(self) -> Callable[[Entry], list[Entry]]:
        assert self.frame is not None
        frame, outline, sort, pin = self.frame, self.outline, self.sort, self.pin
        if self.filter_text:
            tree = self._filter_tree or {}
            return lambda e: tree.get(e.key, [])
        return lambda e: outline.children(frame, e, sort, pin=pin)

    def _sync(self) -> None:
        if self.frame is None:
            return
        cursor_key = self.cursor_node.data if self.cursor_node is not None else None
        if self.filter_text:
            tree, expand = filtered(self.outline, self.frame, self.sort, self.filter_text)
            self._filter_tree = tree
            roots = tree.get(None, [])
        else:
            self._filter_tree = None
            expand = set()
            roots = self.outline.roots(self.frame, self.sort)
        self._sync_level(self.root, roots, self._children_of(), expand)
        if cursor_key is not None:
            node = self._key_nodes.get(cursor_key)
            if node is not None and self.cursor_node is not node:
                self._move_to(node)
        elif self.cursor_line < 0 and self.root.children:
            self.cursor_line = 0
        self.synced += 1

    def _sync_node(self, node: TreeNode[str]) -> None:
        """Fill one node's children now (it was just expanded)."""
        e = self.entry(node)
        if e is None or self.frame is None:
            return
        self._sync_level(node, self._children_of()(e), self._children_of(), set())

    def _sync_level(self, parent: TreeNode[str], entries: list[Entry],
                    children_of: Callable[[Entry], list[Entry]], expand: set[str]) -> None:
        old = list(parent.children)
        old_keys = [n.data for n in old]
        new_keys = [e.key for e in entries]
        if old_keys != new_keys:
            wanted = set(new_keys)
            for n in old:
                if n.data not in wanted:
                    self._forget(n)
                    n.remove()
            kept = [n.data for n in parent.children]
            if kept != [k for k in new_keys if k in set(kept)]:
                # the order changed (sort by throttling): re-add those children
                for n in list(parent.children):
                    self._forget(n, keep_expanded=True)
                    n.remove()
                kept = []
            present = set(kept)
            for i, e in enumerate(entries):
                if e.key in present:
                    continue
                before = i if i < len(parent.children) else None
                node = parent.add(e.label, e.key, before=before, allow_expand=e.expandable,
                                  expand=e.key in self._was_expanded)
                self._was_expanded.discard(e.key)
                self._key_nodes[e.key] = node
                self._key_labels[e.key] = e.label
        for node, e in zip(parent.children, entries, strict=True):
            old_entry = self._key_entries.get(e.key)
            self._key_entries[e.key] = e
            if e.stamp is not None and old_entry is not None and old_entry.stamp == e.stamp:
                pass  # same pieces, same label: not even built
            elif self._key_labels.get(e.key) != e.label:
                self._relabel(node, e.label)
                self._key_labels[e.key] = e.label
            if node.allow_expand != e.expandable:
                node.allow_expand = e.expandable
            if e.key in expand and not node.is_expanded:
                node.expand()
                self._filter_expanded.add(e.key)
            if e.expandable and node.is_expanded:
                self._sync_level(node, children_of(e), children_of, expand)
            elif not e.expandable and node.children:
                for child in list(node.children):
                    self._forget(child)
                node.remove_children()

    def _relabel(self, node: TreeNode[str], label: Text) -> None:
        """``node.set_label`` repainting only the node's own line.

        TreeNode.set_label repaints every visible line below the node too
        (Tree._refresh_node: their guides depend on the node's hover and cursor
        state, not on its label); with "/ (host)" relabelled each second that is
        the whole tree, every second. Textual 8.2.8's own fields, as set_label sets them.
        """
        node._updates += 1
        node._label = self.process_label(label)
        line = node._line
        if self._tree_lines_cached is not None and 0 <= line < len(self._tree_lines_cached):
            self._refresh_line(line)
        else:
            self.refresh()

    def _forget(self, node: TreeNode[str], keep_expanded: bool = False) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if keep_expanded and n.is_expanded and n.data is not None:
                self._was_expanded.add(n.data)
            if n.data is not None:
                self._key_nodes.pop(n.data, None)
                self._key_entries.pop(n.data, None)
                self._key_labels.pop(n.data, None)
            stack.extend(n.children)

    def _fold_filtered(self) -> None:
        keep = set()
        cursor = self.cursor_node
        while cursor is not None:
            if cursor.data is not None:
                keep.add(cursor.data)
            cursor = cursor.parent
        for key in self._filter_expanded - keep:
            node = self._key_nodes.get(key)
            if node is not None and node.is_expanded:
                node.collapse()
        self._filter_expanded.clear()

    # --- events

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.tree is self and not event.node.children:
            self._sync_node(event.node)
