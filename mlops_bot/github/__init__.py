"""GitHub: event payloads, the GitHub port, the PR-comment grammar, job summaries and outputs."""
