"""Tuning: tasks, the search, compile-ahead, dispatch (local / Ray), the merging store, the CLI."""
