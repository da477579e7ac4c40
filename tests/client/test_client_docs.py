"""docs/client.md is a notebook that runs: every ``python`` block is executed, in order, in
one namespace, against a fresh ``labelwright serve``, and what it shows must match the
``text`` block after it.

A block shows what a notebook cell would: what it prints, then the value of its last line
if that is an expression (``pprint``-ed, as IPython does). ``...`` in an output matches
anything (ids, times) and runs of white space compare equal (``doctest``'s ELLIPSIS and
NORMALIZE_WHITESPACE). A block with no output after it must show nothing. The page's server
address, ``http://127.0.0.1:8000``, is the test server's.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import pprint
import re
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import LiveServer

# One server and one scene per module: keep its tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("client-docs")

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
PAGE_URL = "http://127.0.0.1:8000"
_CELL = re.compile(r"^```python\n(?P<code>.*?)^```\n(?:\n?^```text\n(?P<out>.*?)^```\n)?",
                   re.S | re.M)


def cells(text: str) -> list[tuple[int, str, str | None]]:
    """(line number, code, expected output or None) of each python block."""
    return [(text.count("\n", 0, m.start()) + 1, m["code"], m["out"])
            for m in _CELL.finditer(text)]


def run_cell(code: str, namespace: dict[str, Any]) -> str:
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is not None:
        tree.body.pop()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<docs/client.md>", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<docs/client.md>", "eval"),
                         namespace)
            if value is not None:
                print(pprint.pformat(value, width=88, sort_dicts=False))
    return out.getvalue()


def test_the_page_has_cells_with_outputs() -> None:
    found = cells(DOC.read_text())
    assert len(found) >= 10
    assert sum(out is not None for _, _, out in found) >= 8


def test_docs_client_md_runs_as_written(live: LiveServer, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    for line, code, want in cells(DOC.read_text()):
        got = run_cell(code.replace(PAGE_URL, live.url), namespace).replace(live.url, PAGE_URL)
        want = want or ""
        if not checker.check_output(want, got, flags):
            pytest.fail(f"docs/client.md line {line}: the cell shows\n{got}\ninstead of\n"
                        f"{want}", pytrace=False)
