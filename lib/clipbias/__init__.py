"""clipbias: the library under the executable book "Social Bias in CLIP".

Layers (imports point down only): ``studies`` and ``viz`` use ``interventions`` and ``metrics``,
which use ``embed``, ``zoo`` and ``data``.
"""

__version__ = "0.1.0"
