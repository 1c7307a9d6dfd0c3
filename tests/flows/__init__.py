"""Orchestration suite: group definitions, Prefect flows, instance locks."""
