"""Entities, statuses, resolution rules, media-tag rules and access rules: pure Python, no I/O."""
