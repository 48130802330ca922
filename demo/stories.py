"""Write the demo feeds: a few invented wire stories, some republished by other outlets.

The texts are fiction written for this project. Run ``python demo/stories.py`` to
regenerate ``demo/feeds/*.xml`` after editing them.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

GRID = """Russian forces launched a combined attack of missiles and drones on the power grid of the Kharkiv region overnight, knocking out electricity for about 180,000 households, the regional governor said on Tuesday.

Air defence units shot down 41 of the 55 drones and six of the ten cruise missiles, the air force said, but several missiles hit a thermal power plant and two substations on the eastern edge of the city.

Repair crews restored power to hospitals and water pumping stations within hours, while the grid operator introduced rolling blackouts across four regions to keep the system stable.

The energy minister said the attack was the ninth on the country's generation capacity this month and asked partners for more air defence systems before temperatures fall further."""

TALKS = """Negotiators from Ukraine and the United States met in Geneva on Monday for a second day of talks on a revised ceasefire plan, the foreign ministry in Kiev said.

The delegations worked through a draft on security guarantees and a monitoring mission that would watch any truce along the current line of contact, according to two officials familiar with the talks.

President Zelenskyy said in his evening address that the text was closer to something Ukraine could sign, but that questions of territory would have to be settled by the leaders themselves.

A Kremlin spokesman said Moscow had not yet received the new draft and would study it once it arrived from Washington."""

FRONT = """Russian troops captured the village of Novoselivka west of Pokrovsk after weeks of assaults, the defence ministry in Moscow said, a claim Ukrainian commanders disputed.

A spokesman for the Ukrainian army group in the area said infantry had withdrawn to prepared positions north of the village to avoid encirclement, and that heavy fighting continued along the front line.

Military bloggers on both sides reported that Russian units had used motorcycles and light vehicles to cross open fields under drone cover, a tactic that has cost them many men but gained ground.

Analysts said the advance threatened a supply road that Ukrainian forces use to bring ammunition to the town."""

REFINERY = """Ukrainian long-range drones hit an oil refinery in Russia's Samara region overnight, causing a large fire at a primary processing unit, the regional governor said on Wednesday.

Videos shared by residents showed flames and thick smoke rising above the plant, which processes about seven million tonnes of crude oil a year and supplies fuel to the Volga region.

Ukraine's general staff confirmed the strike and said it was part of a campaign against the refineries that fund Russia's war effort.

Fuel prices at Russian filling stations have risen for six weeks in a row as repeated attacks take refineries offline for repairs."""

HARVEST = """Farmers in the Poltava region began the sugar beet harvest a week earlier than usual after a dry and warm autumn, the regional agriculture department said.

Yields were slightly lower than last year, but sugar content was high, which processors welcomed after two difficult seasons.

Local officials said new storage facilities built with a regional development grant would let farms keep more of the crop until prices improve in the spring."""

# (feed, item id, title, text, extra lines added by the republishing outlet)
ITEMS = {
    "wire-a": [
        ("grid", "Missile and drone attack cuts power in Kharkiv region", GRID),
        ("talks", "Ukraine and US hold second day of Geneva talks", TALKS),
        ("front", "Russia claims village near Pokrovsk", FRONT),
    ],
    "daily-b": [
        # Syndicated copy: new headline, dateline, caption and newsletter line inserted.
        ("grid-copy", "Blackouts after overnight strikes on Kharkiv power plant",
         "KHARKIV, Ukraine — " + GRID.replace(
             "\n\nRepair crews",
             "\n\nA repair crew works at a damaged substation. (Photo: Daily B staff)\n\n"
             "Repair crews")
         + "\n\nSign up for our morning newsletter to get the day's war news."),
        ("refinery", "Drones set Samara refinery ablaze", REFINERY),
        ("harvest", "Poltava farmers start early beet harvest", HARVEST),
    ],
    "regional-c": [
        # Syndicated copy with its last paragraph cut and a byline added.
        ("talks-copy", "Geneva talks on ceasefire draft go into second day",
         "By Regional C staff\n\n" + TALKS.rsplit("\n\n", 1)[0] + "\n\nSource link"),
        ("refinery-copy", "", REFINERY),  # republished without a headline
    ],
}

BASE = "http://127.0.0.1:{port}"


def _html(text: str) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))


def rss2(feed: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f"<item><title>{escape(title)}</title>"
        f"<link>https://{feed}.example/news/{slug}?utm_source=rss&amp;utm_medium=feed</link>"
        f"<guid>https://{feed}.example/news/{slug}</guid>"
        f"<pubDate>Tue, 06 Jan 2026 0{i}:00:00 GMT</pubDate>"
        f"<description>{escape(_html(text))}</description></item>"
        for i, (slug, title, text) in enumerate(items)
    )
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{feed}</title><link>https://{feed}.example/</link>"
            f"<description>Demo feed</description><language>en</language>{entries}"
            "</channel></rss>\n")


def atom(feed: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f"<entry><title>{escape(title)}</title>"
        f'<link href="https://{feed}.example/{slug}.html#top"/>'
        f"<id>urn:{feed}:{slug}</id><updated>2026-01-06T1{i}:00:00Z</updated>"
        f'<content type="html">{escape(_html(text))}</content></entry>'
        for i, (slug, title, text) in enumerate(items)
    )
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{feed}</title><id>urn:{feed}</id><updated>2026-01-06T12:00:00Z</updated>"
            f"{entries}</feed>\n")


def rss1(feed: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f'<item rdf:about="https://{feed}.example/a/{slug}">'
        f"<title>{escape(title)}</title><link>https://{feed}.example/a/{slug}?ref=rdf</link>"
        f"<description>{escape(text)}</description>"
        f"<dc:date>2026-01-06T0{i + 5}:30:00Z</dc:date></item>"
        for i, (slug, title, text) in enumerate(items)
    )
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="https://{feed}.example/"><title>{feed}</title>'
            f"<link>https://{feed}.example/</link><description>Demo feed</description>"
            f"</channel>{entries}</rdf:RDF>\n")


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "wire-a.xml").write_text(rss2("wire-a", ITEMS["wire-a"]), encoding="utf-8")
    (directory / "daily-b.xml").write_text(atom("daily-b", ITEMS["daily-b"]), encoding="utf-8")
    (directory / "regional-c.xml").write_text(rss1("regional-c", ITEMS["regional-c"]),
                                              encoding="utf-8")


if __name__ == "__main__":
    write(Path(__file__).with_name("feeds"))
