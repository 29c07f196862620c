"""Benchmarks: timing, device ceilings, the provider registry and providers, sweeps, the CLI."""
