"""Where the repository's files are, for tests that read them (charts, the Dockerfile, the load tests)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
