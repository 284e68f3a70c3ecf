"""cli/table.render: util-linux-style columns, every untrusted cell escaped."""

from __future__ import annotations

from nsscope.cli import table


def test_columns_are_padded_numbers_right_and_the_last_is_free():
    out = table.render(("PID", "NAME", "PATH"), [[1, "init", "/"], [12345, "x", "/a/b/c"]],
                       (True, False, False), width=0)
    assert out.split("\n") == ["  PID NAME PATH", "    1 init /", "12345 x    /a/b/c"]


def test_hostile_cells_are_escaped_wherever_they_are():
    evil = "\x1b]0;pwned\x07"
    out = table.render(("A", "B"), [["ok", evil], [evil, "ok"]], width=0)
    assert "\x1b" not in out and "\x07" not in out
    assert out.split("\n")[1].endswith("\\x1b]0;pwned\\x07")
    # a backslash-x in a cell cannot fake an escape; one split over two cells is no escape
    out = table.render(("A", "B"), [["a\\", "x1b"], ["\\x1b", "b"]], width=0)
    assert out.split("\n")[1:] == ["a\\      x1b", "\\x5cx1b b"]


def test_a_short_row_is_laid_out_as_far_as_it_goes_and_width_cuts():
    out = table.render(("A", "B", "C"), [["1", "22", "333"], ["4"]], (True, True, False),
                       width=0)
    assert out.split("\n") == ["A  B C", "1 22 333", "4"]
    assert table.render(("A", "B"), [["1", "x" * 50]], width=10).split("\n")[1] == "1 " + "x" * 8
    assert table.render(("A",), []) == "A"
