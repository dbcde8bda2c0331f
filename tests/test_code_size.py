"""Every function in mlops_bot fits on a screen or two, every module is small (the house rules).

Measured with ast, as a reviewer would count: a function from its `def` line to its last line
(docstring and nested functions included), a module by its lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlops_bot"
FUNCTION_LIMIT = 80  # lines a function may have
MODULE_LIMIT = 400  # lines a module must stay under


def oversize(root: Path) -> list[str]:
    """One line per function longer than FUNCTION_LIMIT and per module of MODULE_LIMIT lines or
    more under `root`, naming the file, the function and its length."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        shown = path.relative_to(root.parent).as_posix()
        lines = len(source.splitlines())
        if lines >= MODULE_LIMIT:
            found.append(f"{shown}: {lines} lines (a module must stay under {MODULE_LIMIT})")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LIMIT:
                    found.append(f"{shown}:{node.lineno}: {node.name} is {length} lines "
                                 f"(at most {FUNCTION_LIMIT})")
    return found


def test_no_function_over_80_lines_and_no_module_of_400() -> None:
    assert PACKAGE.is_dir()
    found = oversize(PACKAGE)
    if found:
        pytest.fail("split these along their seams:\n" + "\n".join(found), pytrace=False)


def test_the_measure_names_long_functions_and_big_modules(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(79))  # 79 + the def: 80 lines, allowed
    (package / "fits.py").write_text(f"def fits():\n{body}\n" + "\n" * 319)  # 399 lines
    method = "\n".join(f"        x{i} = {i}" for i in range(80))  # 81 with its def
    (package / "sub" / "long.py").write_text(f"class C:\n    def grown(self):\n{method}\n")
    (package / "big.py").write_text("x = 1\n" * 400)
    assert oversize(package) == [
        "pkg/big.py: 400 lines (a module must stay under 400)",
        "pkg/sub/long.py:2: grown is 81 lines (at most 80)",
    ]
