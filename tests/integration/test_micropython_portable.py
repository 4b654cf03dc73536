"""The portable test modules (tests/micropython/test_*.py) on the real MicroPython binary: pytest
runs them on CPython where they are, and here runner.py runs every one of their test functions
on the binary; each function is reported as a test of its own."""

import ast
import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PORTABLE = REPO / "tests" / "micropython"
pytestmark = pytest.mark.micropython


def functions_of(module: Path) -> list[str]:
    tree = ast.parse(module.read_text())
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


CASES = [(module.stem, name) for module in sorted(PORTABLE.glob("test_*.py"))
         for name in functions_of(module)]


@pytest.fixture(scope="session")
def run_portable(run_micropython, tmp_path_factory):
    """Runs one module on the binary (once a session) and returns its output lines."""

    @functools.cache
    def run(module):
        scratch = tmp_path_factory.mktemp(module)
        proc = run_micropython("tests/micropython/runner.py", str(scratch), module, timeout=600)
        return proc.stdout.splitlines(), proc.stderr

    return run


@pytest.mark.parametrize("module,function", CASES, ids=[f"{m}.{f}" for m, f in CASES])
def test_passes_on_micropython(run_portable, module, function):
    lines, stderr = run_portable(module)
    name = f"{module}.{function}"
    for line in lines:
        if line.startswith("INFO "):
            print(line)  # what the module measured (memory, timing): pytest -rA or -s
    failed = [line for line in lines if line.startswith(f"FAIL {name} ")
              or line.startswith(f"FAIL {module}.<import> ")]
    assert not failed, "\n".join(failed)
    assert f"PASS {name}" in lines, "\n".join(lines[-20:]) + stderr
