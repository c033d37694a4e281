"""The environments' Git repository on the node's Git server, and working copies that commit to it."""

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.node import config
from harness.paths import REPO_ROOT

REPOSITORY = "bosun.git"


class GitopsError(RuntimeError):
    """One line saying what failed."""


def repository_url() -> str:
    """The served repository as pods (Argo CD) and the node reach it."""
    return f"{config.git_base_url()}/{REPOSITORY}"


def git(*args: str, cwd: Path | None = None) -> str:
    # safe.directory: the served repositories belong to root, the Git server reads them as nobody.
    result = subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise GitopsError(f"gitops: git {args[0]} failed: {last}")
    return result.stdout


def serve_repository(served: Path) -> Path:
    """The environments' repository below the Git server's folder: this checkout's HEAD as `main`, made once
    (after that it is the environments' Git, changed by commits)."""
    bare = served / REPOSITORY
    if not (bare / "HEAD").is_file():
        git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    if not has_main(bare):  # also when a first push was interrupted
        git("push", "--quiet", str(bare), "HEAD:refs/heads/main", cwd=REPO_ROOT)
    return bare


def has_main(bare: Path) -> bool:
    return subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "--verify", "-q", "refs/heads/main"],
                          cwd=bare, capture_output=True).returncode == 0  # fmt: skip


@dataclass(frozen=True)
class WorkingCopy:
    """A clone of the served repository that commits and pushes to `main`, as a developer's would."""

    folder: Path

    @classmethod
    def clone(cls, bare: Path, folder: Path) -> "WorkingCopy":
        git("clone", "--quiet", str(bare), str(folder))
        for key, value in (("user.name", "Bosun release"), ("user.email", "release@bosun.invalid")):
            git("config", key, value, cwd=folder)
        return cls(folder)

    def read_yaml(self, path: str) -> Any:
        return yaml.safe_load((self.folder / path).read_text())

    def replace(self, path: str, old: str, new: str) -> None:
        """Change one exact line's text in a file (comments and layout stay as written)."""
        file = self.folder / path
        text = file.read_text()
        if text.count(old) != 1:
            raise GitopsError(f"gitops: {path} holds {old!r} {text.count(old)} times, not once")
        file.write_text(text.replace(old, new))

    def commit(self, message: str) -> str:
        """Commit every change and push it to main; the new commit's hash."""
        git("commit", "--quiet", "--all", "--message", message, cwd=self.folder)
        git("pull", "--quiet", "--rebase", cwd=self.folder)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.folder)
        return git("rev-parse", "HEAD", cwd=self.folder).strip()

    def revert(self, commit: str) -> str:
        """Revert one commit and push; the new commit's hash."""
        git("pull", "--quiet", "--rebase", cwd=self.folder)
        git("revert", "--no-edit", commit, cwd=self.folder)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.folder)
        return git("rev-parse", "HEAD", cwd=self.folder).strip()
