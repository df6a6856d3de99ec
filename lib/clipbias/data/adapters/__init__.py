"""Dataset adapters: each reads one dataset in the layout in which it is distributed and returns a
:class:`clipbias.data.manifest.Manifest`. When the data is absent they raise
:class:`DatasetNotFoundError` (a ``FileNotFoundError``) saying what to download, from where and
where to put it under :func:`clipbias.paths.data_root`.

Column vocabulary (the one place it is written down; every adapter uses these names):

============== ==========================================================================
column         meaning
============== ==========================================================================
item_id        unique id (a relative image path, a caption id, an OASIS theme, ...)
split          ``train``, ``val``, ``val2017``, ... or ``all`` when the dataset has no split
image_path     image file relative to the manifest's ``root`` (image datasets)
caption        text of the item (caption sets: the caption; per-image rows: the first one)
captions       JSON list of all captions of an image (COCO, ``unit="image"``)
gender         perceived gender, lower case: ``female`` / ``male`` (FairFace, UTKFace); caption
               sets add ``both`` / ``none`` (read from gendered words); FACET adds
               ``non-binary`` / ``none`` (not annotated)
image_gender   caption rows: the gender of the caption's image
race           the dataset's own race labels (FairFace: 7, e.g. ``Latino_Hispanic``; UTKFace:
               ``White``, ``Black``, ``Asian``, ``Indian``, ``Others``)
age            FairFace's age bins (``0-2``, ``3-9``, ..., ``60-69``, ``more than 70``);
               UTKFace's ages are binned the same way; FACET's own groups ``young`` /
               ``middle`` / ``older`` (or ``none``)
skin_tone      mean perceived Monk Skin Tone index, 1 (lightest) to 10, NaN if unannotated (FACET)
skin_group     ``light`` (skin_tone at most 5.5) / ``dark`` / empty (FACET)
age_years      age in years where the dataset gives it (UTKFace)
label          class id (class-folder sets: the folder name, e.g. an ImageNet wnid)
concept        human-readable concept: class name, iEAT category, OASIS theme, FACET person
               class (``class1``)
test           iEAT test folder (``insect-flower``, ``race``, ...)
category       the dataset's own coarse category (OASIS: Animal, Object, Person, Scene)
valence        mean valence rating (OASIS ``Valence_mean``, 1-7)
valence_group  ``pleasant`` / ``unpleasant`` for the selected valence extremes
arousal        mean arousal rating (OASIS)
boxes          JSON list of ``[x0, y0, x1, y1]`` person boxes in pixels (COCO instances)
box            JSON ``[x0, y0, x1, y1]`` of the item's person box in ``source_image`` (FACET)
source_image   the image a person crop was cut from, relative to the dataset folder (FACET)
occupations    JSON list of occupation terms found in the captions (COCO, on request)
image_id       caption rows: id of the captioned image
service_test   FairFace's own flag of its balanced service-test subset (bool)
============== ==========================================================================
"""

from clipbias.data.adapters.base import IMAGE_EXTENSIONS, DatasetNotFoundError, list_images
from clipbias.data.adapters.coco import (
    caption_gender,
    combine_genders,
    find_terms,
    load_coco_captions,
)
from clipbias.data.adapters.facet import load_facet
from clipbias.data.adapters.fairface import load_fairface
from clipbias.data.adapters.folder_csv import load_folder_csv
from clipbias.data.adapters.ieat import load_ieat
from clipbias.data.adapters.imagenet import load_class_folders, read_class_names
from clipbias.data.adapters.oasis import load_oasis
from clipbias.data.adapters.sources import DatasetSource, get_source, source_names
from clipbias.data.adapters.utkface import age_bin, load_utkface

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetNotFoundError",
    "DatasetSource",
    "age_bin",
    "caption_gender",
    "combine_genders",
    "find_terms",
    "get_source",
    "list_images",
    "load_class_folders",
    "load_coco_captions",
    "load_facet",
    "load_fairface",
    "load_folder_csv",
    "load_ieat",
    "load_oasis",
    "load_utkface",
    "read_class_names",
    "source_names",
]
