# The runner image nektos/act runs our workflows' jobs in (`-P ubuntu-latest=<this image>`): what
# the steps of mlops-bot's workflows use on a GitHub-hosted runner, built locally (no registry).
# tests/support/act.py builds it, tagged by the hash of this file, so it is built once per change.
FROM python:3.11-slim

# git: our checkout stand-in; bash: `run:` steps; nodejs: the node actions (act runs
# `using: node20` actions with the runner's `node`); docker.io for its client: ci.yml's test job
# runs the container tests against the host's engine, through the socket act mounts, as a hosted
# runner's user (in the docker group) does.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git bash nodejs docker.io \
    && rm -rf /var/lib/apt/lists/*

# GitHub-hosted runners run jobs as uid 1001 (`runner`); act copies the workspace as the image's
# user, and git in the action's container (also uid 1001) refuses a workspace it does not own.
RUN useradd --uid 1001 --create-home --shell /bin/bash runner
USER 1001
ENV PATH=/home/runner/.local/bin:$PATH
