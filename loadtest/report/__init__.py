"""Outputs that read the aggregate: the summary JSON and the end-of-run console table."""
