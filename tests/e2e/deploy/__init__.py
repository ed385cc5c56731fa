"""Harness for the offline end-to-end deploy test (tests/e2e/test_deploy_offline.py)."""
