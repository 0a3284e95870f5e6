"""Shared test configuration: the crashcompat pytest plugin (lab + sessions) is loaded by its entry point."""
