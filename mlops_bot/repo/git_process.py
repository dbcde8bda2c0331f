"""How mlops-bot runs git: a process per question, and one `git cat-file --batch` kept open for
object reads (`ObjectReader`), with git's refusals turned into errors callers can act on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path

from mlops_bot.errors import UserError

__all__ = ["GitError", "ObjectReader", "run_git", "work_tree"]


class GitError(Exception):
    """A git command that failed, with its exit status and what it said on stderr."""

    def __init__(self, args: list[str], status: int, stderr: str) -> None:
        self.status, self.stderr = status, stderr
        said = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
        super().__init__(f"`git {' '.join(args[:2])}` exited {status}: {said}")


def run_git(root: Path, args: list[str], stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> bytes:
    """git's stdout for `args` run in `root`; GitError when it fails. git's refusal of a
    repository another user owns becomes one sentence with the fix: the planner would
    otherwise read it as a missing commit ("--head <sha> is not a commit")."""
    done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True,
                          env=_environment(env), check=False)
    if done.returncode == 0:
        return done.stdout
    stderr = done.stderr.decode("utf-8", "replace")
    if "dubious ownership" in stderr:
        raise UserError(
            f"git refuses to read {root}: it is owned by another user (\"dubious ownership\"); "
            f"if you trust it, run `git config --global --add safe.directory {root}` as the "
            "user running mlops-bot"
        )
    raise GitError(args, done.returncode, stderr)


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    # English messages, to recognise them; never a prompt for credentials in a job with no one
    # to answer it
    return {**os.environ, "LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0",
            **(extra or {})}


def work_tree(path: Path) -> Path | None:
    """The work tree holding `path` (a folder with `.git`), or a bare repository itself."""
    here = Path(os.path.normpath(os.path.abspath(path)))
    if not here.exists():
        return None
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if _git_dir(dot_git) or (dot_git.is_file() and dot_git.read_bytes().startswith(b"gitdir:")):
            return folder
        if _git_dir(folder):
            return folder
    return None


def _git_dir(folder: Path) -> bool:
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir() \
        and (folder / "refs").is_dir()


class ObjectReader:
    """One `git cat-file --batch` kept open: an object read is a line written and its answer
    read, a fraction of a millisecond, where a git process costs a few."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._process: subprocess.Popen[bytes] | None = None
        self._broken = False
        self._lock = threading.Lock()  # runs and builds in threads may read objects too

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        if "\n" in name or not name:
            return None
        with self._lock:
            process = self._start()
            if process is None or process.stdin is None or process.stdout is None:
                return None
            try:
                process.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
                process.stdin.flush()
                header = process.stdout.readline().split()
                if len(header) != 3 or not header[2].isdigit():
                    if not header:  # the process is gone (git refused the repository)
                        self._stop(broken=True)
                    return None  # missing or ambiguous
                data = process.stdout.read(int(header[2]) + 1)[:-1]  # content, then a line feed
            except OSError:
                self._stop(broken=True)
                return None
        return header[0].decode(), header[1].decode(), data

    def close(self) -> None:
        with self._lock:
            self._stop(broken=False)

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._process is None and not self._broken:
            self._process = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=self._root, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_environment())
        return self._process

    def _stop(self, broken: bool) -> None:
        process, self._process = self._process, None
        self._broken = self._broken or broken
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe the process closed first
                    stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
