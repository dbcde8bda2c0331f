# The mlops-bot GitHub Action image. It needs nothing from the runner beyond the workspace and the
# GITHUB_* files, which Actions mounts into the container.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git reads the commit range; Debian's security updates are taken as they come rather than pinned,
# since pinned Debian versions disappear from the archive when patched.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/mlops-bot
# The dependencies get their own layer (installed through a placeholder package and README), so
# a change to the code or the README reinstalls only mlops-bot itself. The sklearn extra: the
# deploy job loads and smoke-tests scikit-learn models in this process.
COPY pyproject.toml constraints.txt ./
RUN mkdir mlops_bot && touch mlops_bot/__init__.py README.md \
    && pip install --no-cache-dir --constraint constraints.txt ".[sklearn]" \
    && pip uninstall --yes mlops-bot \
    && rm -rf build mlops_bot mlops_bot.egg-info README.md
COPY README.md ./
COPY mlops_bot ./mlops_bot
COPY action ./action
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build

# The runner's user on GitHub-hosted runners is uid 1001: matching it lets the action write to
# the workspace and the GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files the runner owns.
RUN useradd --uid 1001 --create-home --shell /usr/sbin/nologin mlops-bot
USER 1001

ENTRYPOINT ["python", "/opt/mlops-bot/action/entrypoint.py"]
