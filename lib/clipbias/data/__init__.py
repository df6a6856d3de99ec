"""Stimuli, dataset adapters and manifests, fetchers, and the synthetic world."""
