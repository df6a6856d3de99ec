"""One module per study: composes the layers into named steps.

Every study module follows the study contract (:mod:`clipbias.studies._contract`): ``Params``,
``Result``, ``run(params, *, progress=True)`` and ``glue_values(result)``. Import a study by its
module (``from clipbias.studies import pipeline_check``); this package imports none of them itself,
so importing it stays cheap.
"""

from clipbias.studies._contract import (
    NOTEBOOK_OF,
    StudyParams,
    derive_seed,
    notebook_of,
    params_from,
    study_names,
)

__all__ = ["NOTEBOOK_OF", "StudyParams", "derive_seed", "notebook_of", "params_from", "study_names"]
