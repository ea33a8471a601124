"""tallyscan: canonical numbers from scanned annual-report tables."""
