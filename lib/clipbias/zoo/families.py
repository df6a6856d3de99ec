"""Upstream-factor rules: architecture family, pretraining dataset and dataset family of a model.

The family rules follow Ghate et al. (NAACL 2025), who grouped 131 CLIP models into families so
that a mixed-effects regression of bias on upstream factors converges:

- :func:`arch_family` applies their architecture rules to the open_clip config name, first
  match wins (``coca*`` CoCa, ``EVA*`` EVA, ``nllb*`` NLLB-CLIP, contains ``roberta`` hybrid,
  contains ``convnext`` ConvNeXt, ``RN*`` ResNet, contains ``SO400M``/``SigLIP``/``plus``
  specialised ViT, ``ViT*`` ViT, otherwise Other). Matching is case-sensitive, as written.
- :func:`dataset_of_tag` names the dataset a pretrained tag was trained on, using the
  paper's vocabulary (``openai_wit``, ``laion2b``, ``commonpool_m``, ...).
- :func:`dataset_family` takes the first family keyword contained in that name. The paper's
  keyword list also holds ``webli_multilingual``, ``laion_aesthetic``,
  ``mscoco_finetuned_laion2b`` and the filtered CommonPool-XL names, but each of those contains
  an earlier keyword (``webli`` or ``laion``), so they never win; they are left out here.
"""

from __future__ import annotations

import re

__all__ = [
    "ARCH_FAMILIES",
    "DATASET_FAMILIES",
    "arch_family",
    "dataset_family",
    "dataset_of_tag",
]

#: Architecture families, alphabetical (the first is the regression's reference level).
ARCH_FAMILIES: tuple[str, ...] = (
    "CoCa",
    "ConvNeXt",
    "EVA",
    "Hybrid (RoBERTa text)",
    "NLLB-CLIP",
    "Other",
    "ResNet",
    "Specialized ViT",
    "ViT",
)

#: Dataset family keywords in matching order (first contained keyword wins), then "other".
DATASET_FAMILIES: tuple[str, ...] = (
    "laion",
    "metaclip",
    "openai_wit",
    "datacomp",
    "webli",
    "commonpool",
    "dfn",
    "yfcc15m",
    "cc12m",
    "merged2b",
    "other",
)

# (pattern on the pretrained tag, dataset name); first match wins. Anchored at the tag start.
_TAG_DATASETS: tuple[tuple[str, str], ...] = (
    (r"openai$", "openai_wit"),
    (r"(frozen_)?laion5b", "laion5b"),
    (r"mscoco_finetuned_laion2b", "mscoco_finetuned_laion2b"),
    (r"laion_aesthetic", "laion_aesthetic"),
    (r"laion400m", "laion400m"),
    (r"laion2b", "laion2b"),
    (r"laion80m", "laion80m"),
    (r"datacomp_xl|datacomp1b|datacomp_s\d+b", "datacomp1b"),
    (r"datacomp_l_", "datacomp_l"),
    (r"datacomp_m_", "datacomp_m"),
    (r"datacomp_s_", "datacomp_s"),
    (r"datacompdr", "datacompdr"),
    (r"commonpool_xl_clip", "commonpool_xl_clip_filtered"),
    (r"commonpool_xl_laion", "commonpool_xl_laion_filtered"),
    (r"commonpool_xl", "commonpool_xl"),
    (r"commonpool_l_", "commonpool_l"),
    (r"commonpool_m_", "commonpool_m"),
    (r"commonpool_s_", "commonpool_s"),
    (r"metaclip2_worldwide", "metaclip2_worldwide"),
    (r"metaclip_400m", "metaclip_400m"),
    (r"metaclip_fullcc", "metaclip_fullcc"),
    (r"metaclip_altogether", "metaclip_altogether"),
    (r"dfndr2b", "dfndr2b"),
    (r"dfn2b", "dfn2b"),
    (r"dfn5b", "dfn5b"),
    (r"merged2b", "merged2b"),
    (r"yfcc15m", "yfcc15m"),
    (r"cc12m", "cc12m"),
)

# NLLB-CLIP text towers are trained on LAION-COCO captions translated by NLLB (tags "v1", "mrl").
_NLLB_DATASET = "laion_coco_nllb"


def arch_family(arch: str) -> str:
    """Return the architecture family of an open_clip config name by Ghate et al.'s rules.

    >>> [arch_family(a) for a in ("coca_ViT-B-32", "EVA02-L-14", "ViT-B-16-plus-240", "RN50")]
    ['CoCa', 'EVA', 'Specialized ViT', 'ResNet']
    >>> arch_family("MobileCLIP-S1")
    'Other'
    """
    if not isinstance(arch, str) or not arch:
        raise ValueError(f"arch must be a non-empty string, got {arch!r}")
    if arch.startswith("coca"):
        return "CoCa"
    if arch.startswith("EVA"):
        return "EVA"
    if arch.startswith("nllb"):
        return "NLLB-CLIP"
    if "roberta" in arch:
        return "Hybrid (RoBERTa text)"
    if "convnext" in arch:
        return "ConvNeXt"
    if arch.startswith("RN"):
        return "ResNet"
    if any(key in arch for key in ("SO400M", "SigLIP", "plus")):
        return "Specialized ViT"
    if arch.startswith("ViT"):
        return "ViT"
    return "Other"


def dataset_of_tag(arch: str, tag: str) -> str:
    """Return the pretraining dataset of an open_clip ``arch``/``tag`` pair, in the paper's names.

    The tag usually states the dataset (``laion2b_s34b_b79k`` is LAION-2B); exceptions: SigLIP
    ``-i18n`` configs are trained on multilingual WebLI, ``openai`` means OpenAI's WIT, DataComp
    XL tags mean DataComp-1B, and NLLB-CLIP tags (``v1``, ``mrl``) mean LAION-COCO-NLLB. A tag
    that matches no rule is returned unchanged.

    >>> dataset_of_tag("ViT-B-32", "commonpool_m_clip_s128m_b4k")
    'commonpool_m'
    >>> dataset_of_tag("ViT-B-16-SigLIP-i18n-256", "webli")
    'webli_multilingual'
    """
    if arch.startswith("nllb"):
        return _NLLB_DATASET
    if tag == "webli" and "i18n" in arch:
        return "webli_multilingual"
    for pattern, name in _TAG_DATASETS:
        if re.match(pattern, tag):
            return name
    return tag


def dataset_family(dataset: str) -> str:
    """Return the dataset family: the first family keyword that ``dataset`` contains, else "other".

    Works on a dataset name (:func:`dataset_of_tag`) or directly on a pretrained tag; note
    that substring matching puts ``commonpool_xl_laion_filtered`` and ``laion_aesthetic`` in the
    ``laion`` family, as in the paper.

    >>> [dataset_family(d) for d in ("laion2b", "commonpool_xl_laion_filtered", "dfn5b", "meta")]
    ['laion', 'laion', 'dfn', 'other']
    """
    if not isinstance(dataset, str):
        raise ValueError(f"dataset must be a string, got {dataset!r}")
    for keyword in DATASET_FAMILIES[:-1]:
        if keyword in dataset:
            return keyword
    return "other"
