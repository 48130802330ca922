"""Three texts where copying is not transitive (test code only): an outlet's version with
a long passage of its own, and a newsletter that quotes the original whole, are each a
copy of the original and not of each other."""

from __future__ import annotations

__all__ = ["EXTENDED", "NEWSLETTER", "ORIGINAL"]

ORIGINAL = ("The regional governor said two villages near the border lost power after "
            "shelling damaged a substation late on Sunday, and repair crews were waiting "
            "for the fighting to ease before they could reach the site.\n\n"
            "Schools in the district will teach online until Wednesday, the education "
            "department said, and a humanitarian hub in the town centre is handing out "
            "water, blankets and phone chargers to residents.")
EXTENDED = ORIGINAL.replace("\n\n", "\n\nLocal officials said it was the third time this "
                            "month that the line had been cut, and that a backup generator "
                            "promised by the energy ministry in the spring had still not "
                            "been delivered to the hospital.\n\n", 1)
NEWSLETTER = "\n\n".join([
    "The Border Bulletin, a weekly letter from the eastern regions for our readers.",
    "This week our correspondents travelled along the frontier, spoke to farmers about "
    "the harvest and to teachers about the new school year, and followed the repairs to "
    "roads and bridges that were damaged during the spring.",
    "Readers can write to us with questions and tips at any time; we answer in the "
    "next letter and publish corrections at its end.",
    "THE STORY OF THE WEEK", ORIGINAL, "ALSO IN THIS LETTER",
    "A visit to a bakery that never closed, a new bus line to the regional capital, and "
    "the volunteers who repair generators for schools and hospitals.",
    "The Border Bulletin is free. Forward it to a friend who might like it, and thank "
    "you for reading us every week."])
