"""One module per study: composes the layers into named steps."""
