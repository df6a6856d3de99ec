"""Model catalog (upstream factors) and model loading."""
