"""Rendering results for people (terminal tables, Markdown), apart from the decisions."""
