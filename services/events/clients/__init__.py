"""Typed clients of the other services events calls: users (reviews' author names)."""
