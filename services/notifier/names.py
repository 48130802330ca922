"""Ukrainian place names and public figures' surnames in every romanisation: pure logic.

Two layers map a folded word to one canonical form, so that a rule for any spelling
finds every other:

* a **gazetteer** of canonical names (oblast centres, frontline and shelled towns, rivers,
  plants, public figures' surnames) with the forms no rule derives: renamed places
  (Bakhmut/Artemivsk/Artyomovsk, Dnipro/Dnipropetrovsk, Kropyvnytskyi/Kirovohrad…) and
  Russian forms whose consonants differ (Mykolaiv/Nikolaev, Kremenchuk/Kremenchug…);
* a **spelling key** for the rest of the romanisations: apostrophes and soft signs
  dropped, ``kh``/``h``/``g`` one sound, ``zh``, ``ch``, ``sh``, ``shch``, ``ts`` one
  letter each, ``w`` as ``v``, ``y``/``j`` as ``i``, ``i`` before a vowel dropped
  (``ye``/``ie``/``e``, ``ya``/``ia``, ``yu``/``iu``), ``-iy``/``-yi``/``-yy``/``-y`` one
  ending, doubled letters single: Lysychansk and Lisichansk, Izium and Izyum, Shoigu and
  Shoygu, Zaporizhzhia and Zaporizhzhya, Pokrovs'k and Pokrovsk have one key. Vowels
  stay, so Zelenska (another person) is not Zelensky. A word takes a name's key only when
  the key has five letters or more and the word is not one of the English words that
  share it (``_NOT_NAMES``).

Given names are not here: the Russian and Ukrainian forms name different people (a rule
for "Vladimir" must not fire on every "Volodymyr Zelenskyy").
"""

from __future__ import annotations

import functools
import re

__all__ = ["GAZETTEER", "GIVEN_NAMES", "canonical_name", "given_name_variants", "skeleton"]

# canonical (Ukrainian romanisation, as folded words) → forms no rule derives. A name
# of two words is written with a space and matched as a phrase of its words, each word
# mapped to the canonical one in its place; so a form of another number of words (Snake
# Island, Krasny Liman) cannot be listed.
GAZETTEER: dict[str, tuple[str, ...]] = {
    # oblast centres, the capital, Crimea
    "kyiv": ("kiev", "kyyiv", "kiyv"), "vinnytsia": ("vinnitsa",), "lutsk": ("lutzk",),
    "dnipro": ("dnepr", "dnipropetrovsk", "dnepropetrovsk", "dnieper", "ekaterinoslav",
               "yekaterinoslav"),
    "donetsk": (), "zhytomyr": ("zhitomir",), "uzhhorod": ("uzhgorod", "ungvar"),
    "zaporizhzhia": ("zaporozhye", "zaporozhe", "zaporizhia"),
    "ivano-frankivsk": ("ivano-frankovsk",),
    "kropyvnytskyi": ("kirovohrad", "kirovograd", "kropyvnytskyy", "yelisavetgrad",
                      "elisavetgrad", "zinovievsk"),
    "luhansk": ("lugansk", "voroshilovgrad"), "lviv": ("lvov", "lwow", "lemberg"),
    "mykolaiv": ("nikolaev", "nikolayev", "mykolayiv"), "odesa": ("odessa",),
    "poltava": (), "rivne": ("rovno",), "sumy": ("sumi",), "ternopil": ("ternopol",),
    "kharkiv": ("kharkov", "charkiw"), "kherson": (), "khmelnytskyi": ("khmelnitsky",
                                                                       "proskurov"),
    "cherkasy": ("cherkassy",), "chernivtsi": ("chernovtsy", "czernowitz"),
    "chernihiv": ("chernigov",), "simferopol": (), "sevastopol": (),
    # towns on the front or under fire
    "bakhmut": ("artemivsk", "artemovsk", "artyomovsk"),
    "avdiivka": ("avdeyevka", "avdeevka"), "sievierodonetsk": ("severodonetsk",),
    "lysychansk": ("lisichansk",), "mariupol": ("zhdanov",), "kramatorsk": (),
    "sloviansk": ("slavyansk", "slovyansk"), "izium": ("izyum", "izum"),
    "kupiansk": ("kupyansk",), "lyman": ("liman",),
    "vuhledar": ("ugledar",), "marinka": ("maryinka", "maryinka"),
    "pokrovsk": ("krasnoarmeysk", "krasnoarmiisk"), "toretsk": ("dzerzhinsk",),
    "chasiv yar": ("chasov yar",), "horlivka": ("gorlovka",), "makiivka": ("makeyevka",
                                                                           "makeevka"),
    "olenivka": ("yelenovka", "elenovka"), "kreminna": ("kremennaya",),
    "rubizhne": ("rubezhnoye", "rubezhnoe"), "popasna": ("popasnaya",),
    "soledar": (), "bucha": (), "irpin": ("irpen",), "hostomel": ("gostomel",),
    "borodianka": ("borodyanka",), "kremenchuk": ("kremenchug",), "nikopol": (),
    "enerhodar": ("energodar",), "nova kakhovka": ("novaya kakhovka",),
    "kakhovka": (), "melitopol": (), "berdiansk": ("berdyansk", "osipenko"),
    "tokmak": (), "robotyne": ("rabotino",), "huliaipole": ("gulyaipole", "gulyai-pole",
                                                           "hulyaipole"),
    "orikhiv": ("orekhov",), "kurakhove": ("kurakhovo",), "selydove": ("selidovo",),
    "myrnohrad": ("dimitrov", "mirnograd"), "vovchansk": ("volchansk",),
    "kostiantynivka": ("konstantinovka",), "druzhkivka": ("druzhkovka",),
    "krasnohorivka": ("krasnogorovka",), "balakliia": ("balakleya",),
    "chuhuiv": ("chuguev", "chuguyev"), "okhtyrka": ("akhtyrka",), "konotop": (),
    "shostka": (), "trostianets": ("trostyanets",), "oleshky": ("aleshki", "tsiurupynsk"),
    "snihurivka": ("snigirevka",), "izmail": ("izmayil", "izmayil"),
    "kryvyi rih": ("krivoy rog", "kryvyy rih", "krivyi rih"), "pavlohrad": ("pavlograd",),
    "bilhorod-dnistrovskyi": ("belgorod-dnestrovsky", "akkerman"),
    "starobilsk": ("starobelsk",), "alchevsk": ("kommunarsk", "voroshilovsk"),
    "sviatohirsk": ("svyatogorsk",), "bilohorivka": ("belogorovka",),
    "chornobyl": ("chernobyl",), "pripyat": ("prypiat",), "donbas": ("donbass",),
    # rivers, islands, plants
    "siverskyi donets": ("seversky donets", "severskiy donets"), "inhulets": ("ingulets",),
    "oskil": ("oskol",), "zmiinyi": ("zmeiny",), "dnister": ("dniester",
                                                                             "dnestr"),
    "pivdennoukrainsk": ("yuzhnoukrainsk",), "podilsk": ("kotovsk",),
    # surnames of public figures
    "zelensky": ("zelenskyy", "zelenskiy", "zelenskii", "zelenskyi", "zelenski",
                 "selenskyj", "zelenskij"),
    "shoigu": ("shoygu",), "gerasimov": ("herasymov",), "peskov": (), "lavrov": (),
    "medvedev": (), "prigozhin": ("prihozhyn",), "kadyrov": (), "budanov": ("budanow",),
    "zaluzhnyi": ("zaluzhny", "zaluzhniy", "zaluzhnyy"), "syrskyi": ("syrsky", "syrskiy",
                                                                     "sirsky"),
    "kuleba": (), "yermak": ("ermak",), "reznikov": ("reznikov",), "umerov": (),
    "shmyhal": ("shmygal",), "klitschko": ("klychko", "klitchko"),
    "podolyak": ("podoliak",), "arestovych": ("arestovich",), "tymoshenko": ("timoshenko",),
    "poroshenko": (), "yanukovych": ("yanukovich",), "kolomoisky": ("kolomoyskyi",
                                                                  "kolomoiskyi"),
    "akhmetov": (), "surovikin": (), "lukashenko": ("lukashenka",), "kiriyenko": (),
    "zakharova": (), "nebenzya": ("nebenzia",), "belousov": ("bilousov",),
    "pushilin": (), "saldo": (), "balitsky": ("balytskyi",), "aksyonov": ("aksenov",
                                                                         "aksionov"),
    "vereshchuk": ("vereshchouk",), "zhovkva": (), "stefanchuk": (), "klymenko": (),
    "sybiha": (), "ushakov": (), "nabiullina": (), "navalny": ("navalnyi", "navalnii"),
}

# Given names in their Ukrainian and Russian forms: the same name, usually different
# people. Matched as written unless a rule asks for variants (rules.given_names).
GIVEN_NAMES: tuple[tuple[str, ...], ...] = (
    ("volodymyr", "vladimir", "wladimir"), ("oleksandr", "alexander", "aleksandr", "alexandr"),
    ("serhiy", "serhii", "sergei", "sergey", "sergiy"), ("andriy", "andrii", "andrei", "andrey"),
    ("mykhailo", "mykhaylo", "mikhail"), ("dmytro", "dmitry", "dmitri", "dmitriy"),
    ("oleksiy", "oleksii", "alexei", "alexey", "aleksei", "aleksey"),
    ("yuriy", "yurii", "yuri", "yury"), ("mykola", "nikolai", "nikolay"),
    ("petro", "pyotr", "petr"), ("ihor", "igor"), ("oleh", "oleg"),
    ("vitaliy", "vitalii", "vitaly"), ("yevhen", "yevgeny", "evgeny", "yevgeniy"),
    ("valeriy", "valerii", "valery"), ("hennadiy", "hennadii", "gennady", "gennadiy"),
    ("anatoliy", "anatolii", "anatoly"), ("kyrylo", "kirill"), ("pavlo", "pavel"),
    ("maksym", "maxim"), ("olena", "elena", "yelena"), ("yuliia", "yulia", "yuliya"),
    ("iryna", "irina"), ("tetiana", "tatiana", "tatyana"), ("nataliia", "natalia", "natalya"),
    ("daria", "darya"), ("hanna", "anna"), ("oleksandra", "alexandra", "aleksandra"),
)
_GIVEN = {name: group for group in GIVEN_NAMES for name in group}


def given_name_variants(word: str) -> tuple[str, ...]:
    """The forms of a folded given name (itself first), or the word alone."""
    group = _GIVEN.get(word)
    return (word, *(g for g in group if g != word)) if group else (word,)


# English words whose skeleton is a name's: never read as that name.
_NOT_NAMES = frozenset({"lemon", "limen"})

_PARTS = re.compile(r"[ -]")
_APOSTROPHES = re.compile(r"['ʹʼ’`]")
_DIGRAPHS = (("shch", "S"), ("sch", "S"), ("kh", "h"), ("gh", "h"), ("zh", "Z"),
             ("ch", "C"), ("sh", "S"), ("ck", "k"), ("tz", "c"), ("ts", "c"), ("g", "h"),
             ("w", "v"), ("x", "ks"), ("q", "k"), ("y", "i"), ("j", "i"))
_GLIDE = re.compile(r"i+(?=[aeou])")
_DOUBLES = re.compile(r"(.)\1+")
MIN_KEY = 5


def skeleton(word: str) -> str:
    """The word with the letters romanisations disagree on made one (see above)."""
    word = _APOSTROPHES.sub("", word)
    for digraph, single in _DIGRAPHS:
        word = word.replace(digraph, single)
    return _DOUBLES.sub(r"\1", _GLIDE.sub("", word))


def _index() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    by_skeleton: dict[str, str] = {}
    for canonical, variants in GAZETTEER.items():
        parts = _PARTS.split(canonical)
        for form in (canonical, *variants):
            # Names of several words are matched word by word (as a phrase).
            form_parts = _PARTS.split(form)
            if len(form_parts) == len(parts):
                for part, canonical_part in zip(form_parts, parts, strict=True):
                    exact.setdefault(part, canonical_part)
            if len(form_parts) > 1:
                continue
            key = skeleton(form)
            if len(key) >= MIN_KEY:
                # The first name to claim a skeleton keeps it; a clash is a test failure.
                by_skeleton.setdefault(key, canonical)
    return exact, by_skeleton


_EXACT, _BY_SKELETON = _index()


@functools.lru_cache(maxsize=262_144)
def canonical_name(word: str) -> str | None:
    """The canonical name a folded word spells, or None."""
    found = _EXACT.get(word)
    if found is not None:
        return found
    if word in _NOT_NAMES or len(word) < MIN_KEY:
        return None
    key = skeleton(word)
    return _BY_SKELETON.get(key) if len(key) >= MIN_KEY else None
