"""GitHub: event payloads, the GitHub port, job summaries and outputs."""
