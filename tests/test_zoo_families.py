"""Family rules of Ghate et al. (NAACL 2025) on known open_clip names."""

from __future__ import annotations

import pytest

from clipbias.zoo.families import (
    ARCH_FAMILIES,
    DATASET_FAMILIES,
    arch_family,
    dataset_family,
    dataset_of_tag,
)

KNOWN_ARCHS = {
    "coca_ViT-B-32": "CoCa",
    "coca_ViT-L-14": "CoCa",
    "EVA02-E-14-plus": "EVA",  # EVA wins over "plus"
    "EVA01-g-14": "EVA",
    "nllb-clip-large-siglip": "NLLB-CLIP",  # nllb wins over SigLIP
    "roberta-ViT-B-32": "Hybrid (RoBERTa text)",
    "xlm-roberta-large-ViT-H-14": "Hybrid (RoBERTa text)",
    "convnext_base_w_320": "ConvNeXt",
    "RN50x64": "ResNet",
    "RN101-quickgelu": "ResNet",
    "ViT-SO400M-14-SigLIP-384": "Specialized ViT",
    "ViT-B-16-SigLIP-i18n-256": "Specialized ViT",
    "ViT-B-16-plus-240": "Specialized ViT",
    "ViT-gopt-16-SigLIP2-256": "Specialized ViT",
    "ViT-bigG-14-CLIPA-336": "ViT",
    "ViT-H-14-378-quickgelu": "ViT",
    "ViTamin-L": "ViT",  # the rule is a name prefix, so ViTamin counts as ViT
    "MobileCLIP-S1": "Other",
    "PE-Core-B-16": "Other",
}


@pytest.mark.parametrize(("arch", "family"), KNOWN_ARCHS.items())
def test_arch_family_on_known_names(arch, family):
    assert arch_family(arch) == family


def test_arch_family_is_case_sensitive_as_written():
    assert arch_family("vit-b-32") == "Other"
    assert arch_family("rn50") == "Other"


def test_arch_family_rejects_empty_names():
    with pytest.raises(ValueError, match="non-empty"):
        arch_family("")


def test_arch_families_are_sorted_with_coca_as_reference():
    assert list(ARCH_FAMILIES) == sorted(ARCH_FAMILIES)
    assert ARCH_FAMILIES[0] == "CoCa"
    assert set(KNOWN_ARCHS.values()) <= set(ARCH_FAMILIES)


KNOWN_TAGS = {
    ("RN50", "openai"): ("openai_wit", "openai_wit"),
    ("RN50", "cc12m"): ("cc12m", "cc12m"),
    ("RN101", "yfcc15m"): ("yfcc15m", "yfcc15m"),
    ("ViT-B-32", "laion400m_e32"): ("laion400m", "laion"),
    ("ViT-B-32", "laion2b_s34b_b79k"): ("laion2b", "laion"),
    ("xlm-roberta-large-ViT-H-14", "frozen_laion5b_s13b_b90k"): ("laion5b", "laion"),
    ("convnext_base_w", "laion_aesthetic_s13b_b82k"): ("laion_aesthetic", "laion"),
    ("coca_ViT-L-14", "mscoco_finetuned_laion2b_s13b_b90k"): ("mscoco_finetuned_laion2b", "laion"),
    ("ViT-L-14", "datacomp_xl_s13b_b90k"): ("datacomp1b", "datacomp"),
    ("ViT-B-32-256", "datacomp_s34b_b86k"): ("datacomp1b", "datacomp"),
    ("ViT-L-14-CLIPA", "datacomp1b"): ("datacomp1b", "datacomp"),
    ("ViT-B-16", "datacomp_l_s1b_b8k"): ("datacomp_l", "datacomp"),
    ("ViT-B-32", "datacomp_s_s13m_b4k"): ("datacomp_s", "datacomp"),
    ("ViT-B-32", "commonpool_m_clip_s128m_b4k"): ("commonpool_m", "commonpool"),
    ("ViT-B-32", "commonpool_s_laion_s13m_b4k"): ("commonpool_s", "commonpool"),
    ("ViT-L-14", "commonpool_xl_s13b_b90k"): ("commonpool_xl", "commonpool"),
    ("ViT-L-14", "commonpool_xl_clip_s13b_b90k"): ("commonpool_xl_clip_filtered", "commonpool"),
    # substring matching: the LAION-filtered CommonPool-XL falls in the laion family
    ("ViT-L-14", "commonpool_xl_laion_s13b_b90k"): ("commonpool_xl_laion_filtered", "laion"),
    ("ViT-B-16-SigLIP", "webli"): ("webli", "webli"),
    ("ViT-B-16-SigLIP-i18n-256", "webli"): ("webli_multilingual", "webli"),
    ("ViT-L-14-quickgelu", "dfn2b"): ("dfn2b", "dfn"),
    ("ViT-H-14-quickgelu", "dfn5b"): ("dfn5b", "dfn"),
    ("ViT-B-32-quickgelu", "metaclip_fullcc"): ("metaclip_fullcc", "metaclip"),
    ("EVA02-L-14", "merged2b_s4b_b131k"): ("merged2b", "merged2b"),
    ("nllb-clip-base", "v1"): ("laion_coco_nllb", "laion"),
    ("PE-Core-B-16", "meta"): ("meta", "other"),
}


@pytest.mark.parametrize(("pair", "expected"), KNOWN_TAGS.items())
def test_dataset_of_tag_and_family_on_known_tags(pair, expected):
    dataset = dataset_of_tag(*pair)
    assert (dataset, dataset_family(dataset)) == expected


def test_dataset_family_first_keyword_wins_and_other_is_last():
    assert dataset_family("laion_datacomp") == "laion"
    assert dataset_family("datacomp_laion") == "laion"  # laion is checked before datacomp
    assert dataset_family("unheard_of") == "other"
    assert DATASET_FAMILIES[-1] == "other"
    assert sorted(DATASET_FAMILIES[:-1])[0] == "cc12m"  # the paper's reference level
