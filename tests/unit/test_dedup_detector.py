"""The detector on each case syndication produces: copies and look-alikes that are not."""

import unicodedata

import pytest
from datasketch import MinHash

from services.dedup.detector import (
    Comparable,
    LshParams,
    canonical_tokens,
    clean_text,
    compare,
    copies,
    fingerprint,
    index_keys,
    is_copy,
    keys_to_share,
    shingle_hashes,
    shingles,
)

PARAMS = LshParams()

STORY = """Russian forces fired a barrage of missiles at the port city overnight, damaging grain terminals and two civilian ships that were waiting to load wheat, the regional governor said.

Emergency services said three dock workers were injured and that fires at the terminal were put out by morning, while the port authority suspended loading for the day.

The navy said the ships were flagged in Panama and Liberia and that their crews were safe, adding that the attack was the fourth on the port this month.

Shipping insurers have raised premiums for vessels calling at the port since the attacks began, traders said, and some owners have paused their charters.

The governor asked residents to stay in shelters during alerts and said air defense units had shot down most of the drones that accompanied the missiles in Kiev's "southern" region."""

OTHER_SAME_EVENT = """A missile attack on the Black Sea port damaged two cargo vessels on Tuesday, according to Ukraine's navy, which said the ships had arrived to collect wheat.

Officials reported injuries among port staff. Insurance costs for ships heading to the region have climbed sharply, according to brokers in London.

Kyiv called on its partners to send more air defence systems to protect export routes."""

SHORT = """Poland will open a second rail crossing for Ukrainian grain headed to Baltic ports next month, its infrastructure minister said on Friday, after weeks of queues at the border.

The crossing near Chelm will handle up to forty wagons a day, and inspections will move from the border to the destination ports to cut waiting times for exporters."""

OTHER_SHORT = """Moldova's parliament approved a bill on Thursday that tightens controls on foreign funding of political parties ahead of local elections in the autumn.

The speaker said the law answered attempts to buy votes in the breakaway region, which the government blames on networks financed from Moscow through cash couriers."""

# A long newsletter head and tail of this test's own words, around one article.
HEAD = """The Evening Ledger: your briefing from the east of Europe, every weekday at six.

Welcome back. Tonight we look at trade routes, elections and the people keeping both running, with reporting from our bureaus in Warsaw, Chisinau and Vilnius and a reading list from the editors.

Forwarded this message by a friend? Join forty thousand readers who get the Evening Ledger in their inbox every evening, free of charge.

This edition is supported by our members. Membership pays for reporting trips, translators and fact checkers, and you can cancel whenever you like."""
TAIL = """That is it for tonight. The Evening Ledger returns tomorrow at six with more from the region.

You receive this briefing because you signed up on our website. Manage your preferences or leave the list with one click; we never sell or share our readers' addresses.

Corrections, tips and complaints go to the editors, who read everything and reply to as much as they can; corrections appear at the end of the next edition.

Produced by the Evening Ledger team in Warsaw. All rights reserved, reproduction only with permission."""


def wrap(body: str, day: int) -> str:
    return f"Evening Ledger, edition {day}\n\n{HEAD}\n\nTONIGHT'S STORY\n\n{body}\n\n{TAIL}"


def judged(a: str, b: str) -> tuple[float, bool]:
    fa, fb = fingerprint(a, PARAMS), fingerprint(b, PARAMS)
    sim = compare(Comparable.from_fingerprint(fa, PARAMS),
                  Comparable.from_fingerprint(fb, PARAMS), PARAMS)
    return sim.score, is_copy(sim, fa.size, fb.size, PARAMS)


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("ODESA, Ukraine — " + STORY, id="dateline"),
        pytest.param("By Jane Roe and John Doe\n\n" + STORY, id="byline"),
        pytest.param(STORY.replace("\n\nThe navy", "\n\nA ship burns at the terminal. "
                                   "(Photo: Port authority)\n\nThe navy"), id="caption"),
        pytest.param(STORY.replace("\n\nShipping", "\n\nSmoke rises over the grain terminal "
                                   "after the strike on Tuesday morning\n\nShipping"),
                     id="caption-without-credit"),
        pytest.param(STORY + "\n\nSource link", id="source-link"),
        pytest.param("Share this article\n\n" + STORY + "\n\nSign up for our daily newsletter "
                     "here.", id="share-and-newsletter-lines"),
        pytest.param(STORY.rsplit("\n\n", 2)[0], id="last-paragraphs-cut"),
        pytest.param("Dec. 2 (UPI) — " + STORY.rsplit("\n\n", 1)[0], id="wire-dateline-and-cut"),
        pytest.param(STORY.replace(".\n\nEmergency", ". Emergency", 1), id="paragraphs-merged"),
        pytest.param(STORY.replace(", while the port", ".\n\nThe port", 1), id="paragraph-split"),
        pytest.param(STORY.replace("Kiev", "Kyiv").replace("defense", "defence"),
                     id="spelling-swaps"),
        pytest.param(STORY.replace('"', "“", 1).replace('"', "”", 1).replace("'", "’"),
                     id="typographic-quotes"),
        pytest.param(unicodedata.normalize("NFD", STORY).replace(" ", "  ").replace(
            "\n\n", "\n \n"), id="whitespace-and-unicode"),
    ],
)
def test_syndicated_variants_are_copies(variant):
    score, copy = judged(STORY, variant)
    assert copy, f"similarity {score:.2f}"
    assert judged(variant, STORY)[1], "a verdict must not depend on which text came first"


def test_a_short_article_inside_a_long_newsletter_is_a_copy():
    wrapped = wrap(SHORT, 12)
    assert len(wrapped.split()) > 3 * len(SHORT.split())
    assert judged(SHORT, wrapped)[1]
    assert judged(wrapped, SHORT)[1]


def test_a_short_article_inside_a_newsletter_shares_an_anchor_key_with_it():
    # Their signatures have too little in common for an LSH band to meet; the anchors do.
    plain, wrapped = (Comparable.from_fingerprint(fingerprint(t, PARAMS), PARAMS)
                      for t in (SHORT, wrap(SHORT, 12)))
    assert plain.anchors and set(plain.anchors) <= set(wrapped.anchors)
    assert not set(plain.rows) & set(wrapped.rows)
    assert copies(fingerprint(SHORT, PARAMS), fingerprint(wrap(SHORT, 12), PARAMS), PARAMS)


def test_texts_with_several_anchors_must_share_two_keys_to_be_compared():
    long, short = (Comparable.from_fingerprint(fingerprint(t, PARAMS), PARAMS)
                   for t in (STORY, "Kyiv said the talks would resume on Monday."))
    assert len(long.anchors) >= 3 and len(short.anchors) < 3
    assert keys_to_share(long, long) == 2
    assert keys_to_share(long, short) == keys_to_share(short, long) == 1


def test_different_articles_in_one_newsletter_template_are_not_copies():
    score, copy = judged(wrap(SHORT, 12), wrap(OTHER_SHORT, 13))
    assert not copy, f"similarity {score:.2f}"
    fa, fb = (Comparable.from_fingerprint(fingerprint(wrap(t, d), PARAMS), PARAMS)
              for t, d in ((SHORT, 12), (OTHER_SHORT, 13)))
    assert compare(fa, fb, PARAMS).framed


# Two notices written in one office's formulas: the same phrases at the same places.
NOTICE_A = """The head of state sent greetings to the river transport forum held this week in the northern port city.

We greatly value your work and wish you every success.

Barge operators and lock engineers discussed dredging and new rules for winter navigation on the upper reaches.

The message was read out at the opening session.

Delegates from six regions signed an agreement on shared repair yards and a school for young pilots."""

NOTICE_B = """The head of state sent greetings to the veterans of the frontier guard on the anniversary of their service.

We greatly value your work and wish you every success.

Former officers laid wreaths by the old customs house and cadets sang the songs of the service at a concert.

The message was read out at the opening session.

A new museum of the border service will open next spring in the restored barracks near the railway station."""


def test_formulaic_articles_in_one_template_are_not_copies():
    # The shared formula cuts each article into runs shorter than the frame gap; the
    # frame is still found because the runs are counted across it.
    score, copy = judged(wrap(NOTICE_A, 40), wrap(NOTICE_B, 41))
    assert not copy, f"similarity {score:.2f}"


def test_copies_with_an_insert_of_their_own_are_copies():
    # Each outlet put its own caption-like line in a different place: shared text on both
    # sides of unshared text, but in one text only at each place, so no frame.
    parts = paragraphs(STORY)
    one = "\n\n".join([*parts[:1], "Workers clear the debris from a damaged warehouse near "
                         "the grain terminal as smoke still rises over the harbour behind them "
                         "on the morning after the attack", *parts[1:]])
    two = "\n\n".join([*parts[:3], "Crew members of one of the two ships stand on the deck "
                         "of their vessel while they wait for permission to leave the damaged "
                         "port with the help of tugboats", *parts[3:]])
    score, copy = judged(one, two)
    assert copy, f"similarity {score:.2f}"


def test_a_wrapped_article_is_not_a_copy_of_another_days_wrap():
    assert not judged(wrap(SHORT, 12), wrap(STORY, 14))[1]


def test_different_articles_about_the_same_event_are_not_copies():
    score, copy = judged(STORY, OTHER_SAME_EVENT)
    assert not copy and score < 0.3


def _digest(day: int, items: list[str]) -> str:
    leads = [" ".join(paragraphs(text)[0].split(". ")[:1]) for text in items]
    return f"Key events on day {day} of the war\n\n" + "\n\n".join(
        f"{title}: {lead}" for title, lead in zip(("Ports", "Rail", "Politics"), leads,
                                                  strict=False))


def test_a_key_events_digest_is_not_a_copy_of_an_item_it_quotes():
    digest = _digest(300, [STORY, SHORT, OTHER_SHORT])
    for item in (STORY, SHORT, OTHER_SHORT):
        assert not judged(item, digest)[1]
        assert not judged(digest, item)[1]


def test_two_digests_of_different_days_are_not_copies():
    one = _digest(300, [STORY, SHORT])
    two = _digest(301, [OTHER_SAME_EVENT, OTHER_SHORT])
    assert not judged(one, two)[1]


def test_clean_text_removes_dateline_byline_and_boilerplate():
    text = "KYIV, Ukraine (AP) — Something happened.\nBy Jane Roe\nSource link\nAdvertisement"
    assert clean_text(text) == "Something happened."


def test_words_are_cut_alike_in_ascii_and_in_other_text():
    # ASCII text is cut by a translation table, other text by the word pattern.
    assert canonical_tokens("a_b-c d'e f.g 5%x") == ["a_b", "c", "d", "e", "f", "g", "5", "x"]
    assert canonical_tokens("a_b-c d’e f.g 5%x Київ") == ["a_b", "c", "d", "e", "f", "g", "5",
                                                          "x", "киів"]


def test_spelling_variants_become_one_token_sequence():
    assert canonical_tokens("Kiev 5 percent Zelensky") == canonical_tokens(
        "Kyiv 5 per cent Zelenskyy")


def test_lsh_parameters_must_fit():
    with pytest.raises(ValueError, match="multiple"):
        LshParams(num_perm=64, bands=10)
    with pytest.raises(ValueError, match="sketch_mod"):
        LshParams(sketch_mod=3, anchor_mod=16)


def test_empty_text_has_no_keys():
    fp = fingerprint("", PARAMS)
    assert fp.exact == "" and index_keys(Comparable.from_fingerprint(fp, PARAMS), fp.exact) == []


def test_signature_is_datasketchs_minhash_of_the_shingle_hashes():
    # The numpy signature must stay equal to datasketch's MinHash of the same shingle
    # hashes (same seed and scheme), so that the benchmark compares like with like.
    fp = fingerprint(STORY, PARAMS)
    hashes = shingle_hashes(canonical_tokens(STORY), PARAMS.shingle_size)
    reference = MinHash(num_perm=PARAMS.num_perm, seed=PARAMS.seed, hashfunc=int)
    reference.update_batch([int(h) for h in hashes])
    assert (reference.hashvalues.astype("uint32") == fp.signature).all()
    assert fp.exact == fingerprint(STORY, PARAMS).exact
    assert fp.size == len(set(hashes.tolist())) == len(shingles(canonical_tokens(STORY), 5))


def test_shingle_hashes_depend_on_the_words_and_their_order():
    one = shingle_hashes(["a", "b", "c", "d", "e", "f"], 5)
    assert len(one) == 2 and one[0] != one[1]
    assert (shingle_hashes(["a", "b", "c", "d", "e", "f"], 5) == one).all()
    assert shingle_hashes(["b", "a", "c", "d", "e", "f"], 5)[0] != one[0]
    assert len(shingle_hashes(["short"], 5)) == 1
