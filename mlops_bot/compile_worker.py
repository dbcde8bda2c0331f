"""The compile worker: compiles a batch of pipelines inside one pipeline environment.

This file is a self-contained script, not a part of mlops-bot that runs in mlops-bot: its source
is read from the package and run as `python -I -B -c <source>` by the interpreter of the
pipeline's environment (compile_pool.py), so it imports only the standard library, kfp and PyYAML
(which kfp depends on), whatever versions that environment has. Never import mlops_bot here.

Protocol: one JSON document on stdin, read once kfp is imported (so a worker can start before
its jobs are known), `{"root": <checkout>, "jobs": [{"id", "definition", "function"}]}` (paths
relative to root); one JSON line per event on stdout: `{"kfp": version}` first, then for each
job `{"started": id}` and `{"id", "spec"}` or `{"id", "error": {"file", "line", "message",
"module"}}`. Everything the team's code prints goes to stderr.

Team code is loaded as safely as a Python process allows:
- the working directory is `root` (the clean checkout of the commit), `sys.argv` the file alone;
- repository folders go on `sys.path` after the installed packages, so a folder named `docker/`
  or `kfp/` never replaces the installed package of that name;
- `SystemExit` (a module-level argparse) and any exception become that job's error with the
  innermost file and line of the repository it passed through;
- what one job's module level changes (the working directory, argv, the environment, sys.path,
  the modules it loaded from the repository) is undone before the next job starts.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from typing import Any

_OUTPUT_TAIL = 1500  # characters of what a failing job printed, kept in its error
_JOB_MARK = "\0mlops-bot-compile-job "  # compile_pool.py reads a job's output from there


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything written to fd 1 (prints, subprocesses) goes to stderr
    sys.stdout = sys.stderr
    sys.dont_write_bytecode = True  # the checkout may be the user's working tree
    # kfp before the request: a worker started ahead of its jobs (compile_pool.WarmWorkers) has
    # paid its start-up by the time they are known.
    import kfp
    import kfp.compiler
    import kfp.dsl

    request = json.loads(sys.stdin.read())
    with open(os.devnull) as null:
        os.dup2(null.fileno(), 0)  # input() in team code ends, instead of reading the protocol
    protocol.write(json.dumps({"kfp": kfp.__version__}) + "\n")
    root = os.path.realpath(request["root"])
    os.chdir(root)
    for job in request["jobs"]:
        protocol.write(json.dumps({"started": job["id"]}) + "\n")
        os.write(2, f"{_JOB_MARK}{job['id']}\n".encode())  # where its output starts
        protocol.write(json.dumps(dict(_compile_job(root, job), id=job["id"])) + "\n")


def _compile_job(root: str, job: dict[str, Any]) -> dict[str, Any]:
    definition = os.path.join(root, job["definition"])
    folder = os.path.dirname(definition)
    output = _Tee()
    with _restored(root):
        sys.argv[:] = [definition]
        # After the installed packages: repository folders never shadow them.
        sys.path[:] = [*sys.path, folder, root]
        importlib.invalidate_caches()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                module = _load(definition)
                return {"spec": _compile(getattr(module, job["function"]))}
        except SystemExit as exit_:
            return {"error": _error(exit_, root, job["definition"], output.getvalue(),
                                    f"the module exited (SystemExit({exit_.code!r})) while "
                                    "being loaded: module-level code must not parse arguments "
                                    "or exit; move it under `if __name__ == \"__main__\":`")}
        except Exception as error:  # one pipeline's bug is its own error, never the batch's
            return {"error": _error(error, root, job["definition"], output.getvalue())}


class _Tee(io.StringIO):
    """What a job prints: kept for its error, and passed on to stderr, where mlops-bot finds it
    when the job ends the worker before it can report."""

    def write(self, text: str) -> int:
        os.write(2, text.encode(errors="replace"))
        return super().write(text)


@contextlib.contextmanager
def _restored(root: str) -> Iterator[None]:
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    saved_environ, saved_modules = dict(os.environ), set(sys.modules)
    try:
        yield
    finally:
        # Decide before deleting anything: a namespace package's path is recomputed from its
        # parent, which must still be there.
        drop = [name for name in set(sys.modules) - saved_modules
                if _loaded_from(sys.modules[name], root)]
        for name in drop:
            del sys.modules[name]
        sys.path[:], sys.argv[:] = saved_path, saved_argv
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(root)
        sys.stdout = sys.stderr


def _loaded_from(module: Any, root: str) -> bool:
    locations = [getattr(module, "__file__", None) or ""]
    try:
        locations += [str(p) for p in getattr(module, "__path__", None) or []]
    except Exception:  # a broken namespace path: treat it as the repository's
        return True
    return any(loc and os.path.realpath(loc).startswith(root + os.sep) for loc in locations)


def _load(definition: str) -> Any:
    name = "_mlops_bot_definition_" + str(abs(hash(definition)))
    spec = importlib.util.spec_from_file_location(name, definition)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(pipeline_func: Any) -> str:
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="mlops-bot-compile-") as tmp:
        target = os.path.join(tmp, "pipeline.yaml")
        compiler.Compiler().compile(pipeline_func=pipeline_func, package_path=target)
        with open(target) as handle:
            return handle.read()


def _error(error: BaseException, root: str, definition: str, printed: str,
           message: str | None = None) -> dict[str, Any]:
    """The innermost line of the repository's code the error passed through, and what it was."""
    file, line = definition, None
    if isinstance(error, SyntaxError) and error.filename:
        file, line = _relative(error.filename, root), error.lineno
        message = f"syntax error: {error.msg}"
    else:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if os.path.realpath(f.filename).startswith(root + os.sep)]
        if frames:
            file, line = _relative(frames[-1].filename, root), frames[-1].lineno
    if message is None:
        message = f"{type(error).__name__}: {error}"
    printed = printed.strip()
    if printed and not isinstance(error, ModuleNotFoundError):
        message += "\n    it printed: " + printed[-_OUTPUT_TAIL:].replace("\n", "\n    ")
    module = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    shadowed = _shadowed(error, root, os.path.dirname(os.path.join(root, definition)))
    if shadowed:
        message, module = message + ": " + shadowed, None
    return {"file": file, "line": line, "message": message, "module": module}


def _shadowed(error: BaseException, root: str, folder: str) -> str | None:
    """Why an import of the repository's own folder found an installed package instead."""
    name = getattr(error, "name", None) if isinstance(error, ImportError) else None
    top = (name or "").split(".")[0]
    installed = getattr(sys.modules.get(top), "__file__", None) or ""
    if not top or not installed or os.path.realpath(installed).startswith(root + os.sep):
        return None
    for base in (folder, root):
        mine = os.path.join(base, top)
        if os.path.isdir(mine) or os.path.isfile(mine + ".py"):
            return (f"the repository's {_relative(mine, root)} has the name of the installed "
                    f"package {top} ({os.path.dirname(installed)}), which is imported instead: "
                    "repository folders never replace installed packages; rename the folder")
    return None


def _relative(filename: str, root: str) -> str:
    path = os.path.realpath(filename)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else filename


if __name__ == "__main__":
    main()
