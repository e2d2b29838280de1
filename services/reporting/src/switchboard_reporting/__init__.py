"""Switchboard reporting service: CDRs, live statistics, historical reports, alerts."""
