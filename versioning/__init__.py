"""Workflow specs in Git: history, rollback, diff and A/B tests (see the versioning issue)."""
