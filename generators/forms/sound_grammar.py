"""English syllables and rhyme as GBNF, for servers that run a grammar but no Muse code
(llama.cpp's ``grammar`` field, vLLM's structured outputs).

A grammar cannot count syllables or compare sounds, but it can choose among listed words:

- Haiku: every word comes from a list of common words with a known syllable count (CMUdict,
  as ``english.word_syllables`` counts them), and a run of N syllables is one trie of those
  words in which a word of K syllables leads on to a run of N-K (``m5 ::= ...``, "sea" then
  ``c4``, "over" then ``c3``), so the syllables sum to N. A word may start with a capital
  (a line's first word, a name); a line may close with one mark, never ends on a weak word
  ("the", "of": ``rules.WEAK_ENDINGS``).
- Rhyme: before the request, each rhyme group of the scheme gets one sound, drawn by the row's
  seed from the biggest CMUdict rhyme classes of common words (single rhymes: one stressed
  vowel, then consonants only, as in day/way, night/light) (different groups, different
  sounds), and each line of the group ends on a word of that class: a bounded free part, a space,
  then the class's words. The lines of one group get disjoint shares of the class, so no line
  "rhymes" with its partner by repeating its word.

Word lists are alternations factored into a letter trie, so a grammar engine keeps a few dozen
open alternatives at a word's start instead of thousands.
"""

from __future__ import annotations

import random
from collections import defaultdict
from functools import cache

from generators.forms.english import rhyme_parts, word_syllables
from generators.forms.rules import WEAK_ENDINGS
from generators.forms.spec import FormSpec

COMMON_WORDS = 6000  # the most frequent English words (wordfreq) the word lists draw from
HAIKU_WORDS = 2000  # of which haiku lines use these: a 39 KB grammar (3000 words: 57 KB, slower)
MAX_WORD_SYLLABLES = 4
RHYME_CLASSES = 30  # the biggest rhyme classes of common words a group's sound is drawn from
RHYME_CLASS_WORDS = 40  # words kept per class (the commonest)
_EN_WORD = "[A-Za-z]{1,14} ( ['-] [A-Za-z]{1,10} )?"
_SEP = '[,;]? " "'
_END = "[,;.!?]?"
# Not offered by Muse's grammar even when common: slurs, profanity, chat shorthand.
_EXCLUDED = frozenset(
    "fuck fucking fucked shit shitty damn bitch bitches ass asshole sex sexy porn nude naked "
    "kill killed killing rape dick cock pussy cunt fag nigga nigger hell bastard crap piss "
    "lol lmao omg wtf btw idk tho gonna wanna gotta yeah ok okay im dont cant wont didnt "
    # names, abbreviations and foreign words among the biggest rhyme classes
    "usa dna nba cia fbi bbc ltd dvd http ceo nfl cbs aka pre est las des del min bro gay jews "
    "jay jose thai sri lee tennessee marie wright pete joe kate moore corps ted fred kent san "
    "japan iran dan jan ann anne jake blake cole berlin michelle jane wayne ukraine maine spain "
    "july anime yea premier premiere debut "
    # short abbreviations and names a haiku line showed ("A far away past lies inc")
    "dr de re co st al la tom ex ed los van inc ad ben mr mrs tv uk vs pm etc non app".split()
)


@cache
def common_words() -> tuple[str, ...]:
    """The ``COMMON_WORDS`` commonest English words CMUdict knows, plain letters, commonest
    first."""
    import pronouncing
    from wordfreq import top_n_list

    pronouncing.init_cmu()
    known: dict[str, list[str]] = pronouncing.lookup
    found = (w for w in top_n_list("en", COMMON_WORDS) if w.isascii() and w.isalpha())
    return tuple(
        w for w in found if w in known and w not in _EXCLUDED and (len(w) > 1 or w in "ai")
    )


def trie(words: list[str], either_case: bool = False) -> str:
    """A GBNF alternation matching exactly ``words``, factored by shared prefixes; with
    ``either_case`` a word's first letter may also be a capital (a line's first word)."""
    return trie_to(dict.fromkeys(words, ""), either_case)


def trie_to(ends: dict[str, str], either_case: bool = False) -> str:
    """A GBNF alternation matching each word of ``ends`` followed by the rule it names (empty:
    nothing follows), factored by shared prefixes, so words that lead on to different rules
    still share one trie (``either_case``: as ``trie``)."""
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for word, then in sorted(ends.items()):
        if word:
            groups[word[0]][word[1:]] = then
    return " | ".join(_branch(head, rests, either_case) for head, rests in groups.items())


def _branch(head: str, rests: dict[str, str], either_case: bool) -> str:
    lead = f"[{head}{head.upper()}]" if either_case else f'"{head}"'
    if len(rests) == 1:
        [(rest, then)] = rests.items()
        if rest:
            lead = f'{lead} "{rest}"' if either_case else f'"{head}{rest}"'
        return f"{lead} {then}".rstrip()
    done = rests.pop("", None)
    inner = trie_to(rests)
    if done is None:
        return f"{lead} ( {inner} )"
    return f"{lead} ( {inner} )?" if not done else f"{lead} ( {inner} | {done} )"


@cache
def _syllable_classes() -> dict[int, tuple[str, ...]]:
    classes: dict[int, list[str]] = defaultdict(list)
    for word in common_words()[:HAIKU_WORDS]:
        count = word_syllables(word)
        if count <= MAX_WORD_SYLLABLES:
            classes[count].append(word)
    return {count: tuple(ws) for count, ws in classes.items()}


def _haiku_line_rule(count: int, rules: dict[str, str]) -> str:
    """Add the rule for a run of words of ``count`` syllables (``mN``), and what it needs;
    return its name. The run is ONE trie over every listed word that fits: a word of K < N
    syllables leads on to ``cN-K`` (a separator, then a run of N-K), a word of N ends it (never
    "the", "of": ``WEAK_ENDINGS``). One trie keeps about 50 alternatives open at a word's start
    where a class per syllable count kept four times as many, and llama.cpp checks each against
    the whole vocabulary whenever it resamples: 1.24x the decode speed on SmolLM2's GGUF."""
    name = f"m{count}"
    if name in rules:
        return name
    rules[name] = ""  # taken, while the runs it leads on to are added
    ends: dict[str, str] = {}
    for syllables, words in _syllable_classes().items():
        for word in words:
            if syllables < count:
                rest = _haiku_line_rule(count - syllables, rules)
                rules[f"c{count - syllables}"] = f"{_SEP} {rest}"
                ends[word] = f"c{count - syllables}"
            elif syllables == count and word not in WEAK_ENDINGS and word != "i":
                ends[word] = ""
    rules[name] = trie_to(ends, either_case=True)
    return name


@cache
def haiku_gbnf(spec: FormSpec) -> str:
    """A haiku whose lines have exactly ``spec.syllables`` syllables, by construction."""
    rules: dict[str, str] = {}
    lines = [_haiku_line_rule(count, rules) for count in spec.syllables]
    body = ' "\\n" '.join(f"{line} {_END}" for line in lines)
    return "\n".join([f"root ::= {body}", *(f"{k} ::= {v}" for k, v in sorted(rules.items()))])


@cache
def rhyme_classes() -> tuple[tuple[str, ...], ...]:
    """The ``RHYME_CLASSES`` biggest CMUdict rhyme classes among common words (a word's sound
    from its last stressed vowel on), each its ``RHYME_CLASS_WORDS`` commonest words."""
    classes: dict[str, list[str]] = defaultdict(list)
    for word in common_words():
        if len(word) < 3 or word in WEAK_ENDINGS:
            continue
        for part in rhyme_parts(word):
            if _single_rhyme(part):
                classes[part].append(word)
    biggest = sorted(classes.values(), key=len, reverse=True)[:RHYME_CLASSES]
    return tuple(tuple(ws[:RHYME_CLASS_WORDS]) for ws in biggest)


def _single_rhyme(part: str) -> bool:
    """A rhyming part with a primary stress on its one vowel (``EY1``, ``AY1 T``)."""
    vowels = [p for p in part.split() if p[-1].isdigit()]
    return len(vowels) == 1 and vowels[0].endswith("1")


def rhyme_sounds(spec: FormSpec, seed: int) -> dict[str, tuple[str, ...]]:
    """Per rhyme letter of the scheme that more than one line shares, its class of words:
    drawn by ``seed``, a different class per letter."""
    letters = sorted({ch for ch in spec.rhyme if ch != "." and spec.rhyme.count(ch) > 1})
    drawn = random.Random(seed).sample(rhyme_classes(), len(letters))
    return dict(zip(letters, drawn, strict=True))


def _line_ends(spec: FormSpec, seed: int) -> list[list[str]]:
    """Per line, the words it may end on (empty: any word). The lines of one letter share its
    class out in turn, so two of them never end on the same word."""
    sounds = rhyme_sounds(spec, seed)
    ends: list[list[str]] = []
    for index in range(spec.max_lines):
        letter = spec.rhyme[index] if index < len(spec.rhyme) else "."
        if letter not in sounds:
            ends.append([])
            continue
        share, turns = spec.rhyme[:index].count(letter), spec.rhyme.count(letter)
        ends.append(list(sounds[letter][share::turns]))
    return ends


def rhyme_gbnf(spec: FormSpec, seed: int) -> str:
    """A poem of ``spec.max_lines`` lines whose rhyming lines end on the seed's sounds."""
    low, high = spec.line_chars
    rules = [f"word ::= {_EN_WORD}", f"sep ::= {_SEP}"]
    free = f"word ( sep word ){{{low - 1},{high - 1}}} {_END}"
    bounded = f"word ( sep word ){{{max(low - 2, 0)},{high - 2}}}"
    names = []
    for index, ends in enumerate(_line_ends(spec, seed)):
        name = f"line{index}"
        names.append(name)
        if not ends:
            rules.append(f"{name} ::= {free}")
            continue
        rules.append(f"{name} ::= {bounded} {_SEP} e{index} {_END}")
        rules.append(f"e{index} ::= {trie(ends)}")
    sep = '"\\n" "\\n"?' if spec.stanza_breaks else '"\\n"'
    return "\n".join([f"root ::= {f' {sep} '.join(names)}", *rules])


def forced_by_grammar(spec: FormSpec) -> bool:
    """Whether this module carries the form's English sound rules (syllables or rhyme)."""
    if spec.chinese or spec.slogan or spec.min_lines != spec.max_lines:
        return False
    return bool(spec.syllables) or any(spec.rhyme.count(ch) > 1 for ch in spec.rhyme if ch != ".")


def sound_gbnf(spec: FormSpec, seed: int) -> str:
    """The grammar that forces ``spec``'s syllables or rhyme (``forced_by_grammar``)."""
    return haiku_gbnf(spec) if spec.syllables else rhyme_gbnf(spec, seed)
