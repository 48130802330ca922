"""Accent folding and word tokens shared by dedup, classifier and notifier."""

import random
import unicodedata

from wirewatch.text import fold, words


def reference_fold(text: str) -> str:
    """The definition, one character at a time."""
    for char, plain in (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("–", "-"), ("—", "-")):
        text = text.replace(char, plain)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def test_fold_examples():
    assert fold("Zelenskyy’s Kyïv") == "zelenskyy's kyiv"
    assert fold("ÉCOLE naïve café — Straße") == "ecole naive cafe - strasse"
    assert fold("Plain ASCII, Kept As Is") == "plain ascii, kept as is"
    assert fold("Київ") == "ки\u0456в"  # Cyrillic stays Cyrillic; ї loses its diaeresis


def test_fold_agrees_with_its_definition_on_mixed_scripts():
    rnd = random.Random(7)
    alphabet = [chr(c) for c in [*range(32, 127), *range(0xC0, 0x250), *range(0x300, 0x370),
                                 *range(0x400, 0x500), 0x2019, 0x2018, 0x2BC, 0x2013, 0x2014,
                                 0xFB01, 0x1E9E, 0x2160]]
    for _ in range(500):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 120)))
        assert fold(text) == reference_fold(text)


def test_words_split_on_punctuation_and_apostrophes():
    assert words("Russia’s strikes on Kharkiv, Odesa!") == ["russia", "s", "strikes", "on",
                                                           "kharkiv", "odesa"]
