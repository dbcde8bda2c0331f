"""Google Cloud backends on the GAPIC client libraries (REST transport)."""
