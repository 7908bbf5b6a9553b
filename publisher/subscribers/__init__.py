"""Subscribers on apoa-findings: each a functions-framework HTTP function behind a push
subscription (Slack, Microsoft Teams, GitHub issues, the dashboard sink)."""
