"""The orchestration behind each command: event -> plan -> act through backends -> report."""
