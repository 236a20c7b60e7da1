"""Adapters that put a kdedge artifact inside other serving stacks (each imports its stack lazily)."""
