"""Model monitoring: drift and skew statistics, the local request log's reader, the report."""
