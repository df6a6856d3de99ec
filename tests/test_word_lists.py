"""Shipped stimuli and prompt sets: counts, provenance, template expansion."""

from __future__ import annotations

import pytest

from clipbias.data import prompts, word_lists
from clipbias.data.battery import definitions as battery_definitions

# Sentence counts per set: the published SEAT/NRC counts, except the instrument/weapon nouns
# (published 330; ours 25 words x 14 templates = 350, see templates.yaml).
EXPECTED_SENTENCES = {
    "seat/flowers": 350, "seat/insects": 350, "seat/instruments": 350, "seat/weapons": 350,
    "seat/ea-names-32": 256, "seat/aa-names-32": 256, "seat/ea-names-16": 128,
    "seat/aa-names-16": 128, "seat/ea-terms": 195, "seat/aa-terms": 195,
    "seat/young-names": 64, "seat/old-names": 64, "seat/male-names": 64, "seat/female-names": 64,
    "seat/male-terms": 80, "seat/female-terms": 80, "nrc/pleasant": 150, "nrc/unpleasant": 150,
}


def test_every_set_has_the_expected_number_of_sentences():
    assert word_lists.text_set_names() == sorted(EXPECTED_SENTENCES)
    for name, count in EXPECTED_SENTENCES.items():
        s = word_lists.text_set(name)
        assert (s.modality, len(s)) == ("text", count), name
        assert len(set(s.items)) == count, f"{name} has duplicate sentences"


def test_word_counts_match_the_papers():
    assert len(word_lists.words("seat/flowers")) == 25
    assert len(word_lists.words("seat/ea-names-32")) == 32
    assert len(word_lists.words("seat/aa-terms")) == 15
    assert len(word_lists.words("nrc/pleasant")) == len(word_lists.words("nrc/unpleasant")) == 25
    assert "Sierra Leonean American" in word_lists.words("seat/aa-terms")


def test_every_set_and_family_carries_provenance():
    table = word_lists.text_sets_table()
    assert len(table) == len(EXPECTED_SENTENCES)
    for col in ("source", "licence", "template_provenance"):
        assert (table[col].str.len() > 20).all(), col
    assert (table["n_sentences"] == table["n_words"] * table["n_templates"]).all()


def test_valence_templates_are_the_published_ones():
    first = word_lists.text_set("nrc/pleasant").items[:6]
    assert first[0] == "This is the word very positive."
    assert first[-1] == "Those are the word very positive."


def test_expansion_is_word_major_and_bare_words_are_available():
    assert word_lists.expand(["a", "b"], ["{}!", "x {}"]) == ("a!", "x a", "b!", "x b")
    bare = word_lists.text_set("seat/old-names", expanded=False)
    assert bare.items == word_lists.words("seat/old-names")
    names = word_lists.text_set("seat/old-names").items
    assert names[: len(word_lists.templates("name"))] == tuple(
        t.replace("{}", "Ethel") for t in word_lists.templates("name"))


def test_expansion_rejects_bad_templates_and_strings():
    with pytest.raises(ValueError, match="exactly once"):
        word_lists.expand(["a"], ["no placeholder"])
    with pytest.raises(ValueError, match="exactly once"):
        word_lists.expand(["a"], ["{} and {}"])
    with pytest.raises(TypeError):
        word_lists.expand("abc", ["{}"])


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="seat/flowers"):
        word_lists.text_set("seat/flower")
    with pytest.raises(ValueError, match="known families"):
        word_lists.templates("verbs")


def test_targets_of_each_text_test_have_equal_sizes():
    for d in battery_definitions():
        assert len(word_lists.text_set(d.text_x)) == len(word_lists.text_set(d.text_y)), d.text_test


def test_loaded_resources_are_private_copies():
    first = word_lists.load_resource("stimuli", "text_sets.yaml")
    first["sets"]["seat/flowers"]["words"].clear()
    assert len(word_lists.words("seat/flowers")) == 25


def test_berg_prompts_are_11_templates_by_29_concepts():
    table = prompts.berg_prompts()
    assert len(table) == 319 and table["prompt"].is_unique
    assert table["template"].nunique() == 11 and table["concept"].nunique() == 29
    assert table["prompt"].iloc[0] == "This is the face of a good person"
    assert table["prompt"].iloc[10] == "A good"
    assert table["concept"].iloc[11] == "kind"


def test_occupation_lists_and_pairs():
    assert len(prompts.occupations("chuang2023-train")) == 80
    assert len(prompts.occupations("chuang2023-test")) == 20
    assert len(prompts.occupations("bendvlm2024-stereotypes")) == 25
    assert not set(prompts.occupations("chuang2023-train")) & set(prompts.occupations("chuang2023-test"))
    assert prompts.occupation_pairs() == (("librarian", "scientist"), ("nurse", "doctor"),
                                          ("housekeeper", "homeowner"),
                                          ("receptionist", "executive"), ("secretary", "manager"))
    with pytest.raises(ValueError, match="known lists"):
        prompts.occupations("nope")


def test_attribute_prompts():
    gender = prompts.attribute_prompts("gender")
    assert gender == {"female": "a photo of a female person.", "male": "a photo of a male person."}
    race = prompts.attribute_prompts("race")
    assert len(race) == 7 and race["Latino_Hispanic"] == "a photo of a latino hispanic person."
    assert len(prompts.attribute_prompts("age")) == 9
    assert len(prompts.spurious_prompts("gender")) == 6
    with pytest.raises(ValueError, match="no spurious"):
        prompts.spurious_prompts("race")
    assert prompts.representation_labels() == ("Male", "Female")
