"""Proof, once, that an N+1 cannot land: on a copy of the code with an eager load dropped, both the test suite's
statement counts and the load-test smoke run fail."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

EAGER_LOAD = re.compile(r"\n\s*joinedload\(Task\.created_by\),[^\n]*")
PAGE_READ = re.compile(r"\n    return (await statements\.read\([^\n]*\))\n")  # each task list's
COPIED = ("app", "harness", "loadtests", "migrations", "tests", "pyproject.toml")


def drop_eager_load(source: str) -> str:
    """Reading a task stops joining its creator (lazy="raise" then refuses to load it: an error)."""
    mutated, found = EAGER_LOAD.subn("", source)
    assert found == 1, "the task eager loads changed: update this mutation"
    return mutated


def load_per_row(source: str) -> str:
    """Task lists load each task's creator with a statement of its own: the classic N+1."""
    mutated, found = PAGE_READ.subn(
        r"\n    items, total = \1\n    return [await _with_creator(session, item) for item in items], total\n", source
    )
    assert found == 2, "the task lists changed: update this mutation"
    return mutated + (
        "\n\nasync def _with_creator(session: AsyncSession, item: dict[str, Any]) -> dict[str, Any]:\n"
        '    creator_id = uuid.UUID(item["created_by"]["id"])\n'
        "    creator = (await session.exec(select(User).where(User.id == creator_id))).one()\n"
        '    item["created_by"] = UserRef.model_validate(creator).model_dump(mode="json")\n'
        "    return item\n"
    )


def mutated_copy(tmp_path: Path, mutate: str) -> Path:
    root = tmp_path / "mutant"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "reports", "*.pyc")
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    service = root / "app" / "services" / "tasks.py"
    service.write_text({"drop": drop_eager_load, "per-row": load_per_row}[mutate](service.read_text()))
    return root


def run_in(root: Path, admin_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command on the mutated copy: its own code first on the path, no coverage of it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    env.update(PYTHONPATH=str(root), TEST_DATABASE_URL=admin_url)
    return subprocess.run(
        [sys.executable, *argv], cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("mutate", ["drop", "per-row"])
def test_a_dropped_eager_load_fails_the_tests_and_the_smoke_run(admin_url: str, tmp_path: Path, mutate: str) -> None:
    root = mutated_copy(tmp_path, mutate)
    tests = run_in(
        root, admin_url, "-m", "pytest", "tests/api/test_query_counts.py", "-p", "no:cacheprovider", "--no-cov", "-q"
    )
    assert tests.returncode == 1, tests.stdout[-3000:]
    assert str(root) in run_in(root, admin_url, "-c", "import app; print(app.__path__[0])").stdout
    failed = re.findall(r"FAILED \S+::(\S+)", tests.stdout)
    if mutate == "per-row":
        assert "test_statements_do_not_grow_with_page_size[/api/v1/projects/{p}/tasks]" in failed, tests.stdout[-3000:]
        assert "test_statements_do_not_grow_with_page_size[/api/v1/users/me/tasks]" in failed
    else:
        assert "test_single_reads_are_constant" in failed, tests.stdout[-3000:]

    smoke = run_in(root, admin_url, "-m", "loadtests.run", "--smoke", "--out", str(tmp_path / "smoke"))
    assert smoke.returncode == 1, smoke.stdout[-3000:] + smoke.stderr[-3000:]
    verdict = smoke.stdout
    assert "load test FAILED" in verdict
    if mutate == "per-row":
        # The page of tasks ran a statement per task: the budget, not an error, catches it.
        assert re.search(r"GET /api/v1/projects/\{project_id\}/tasks +\d+ +\d+ .* (\d+)/4\n", verdict), verdict
        failures = (tmp_path / "smoke" / "locust_failures.csv").read_text()
        assert "SQL statements, budget" in failures
    else:
        failures = (tmp_path / "smoke" / "locust_failures.csv").read_text()
        assert "HTTP 500" in failures
