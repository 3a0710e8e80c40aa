"""The kesheng command line and application edges."""
