"""Backends: small Protocols the flows act through, with local and gcp implementations.

Flows never construct a backend themselves: `mlops_bot.backends.factory.backends_for` builds the
set chosen by `mlops.yaml` and the flows receive it, so tests and other front ends can pass their
own.
"""
