"""Seeded corpus of random regular expressions for the structured-output validity suite. Only
bounded quantifiers ({n}, {m,n}, ?) are used so every match has a bounded length; answers are
checked with Python's `re.fullmatch` (the server's grammar treats the whole answer as the match,
with or without ^...$)."""
import random

LITERALS = list("abcxyzQRS019") + ["-", "_", "@", ":", "/", " ", r"\.", r"\+", r"\(", r"\)", r"\$"]
CLASSES = ["[a-z]", "[A-Z]", "[0-9]", "[a-f0-9]", "[aeiou]", "[A-Za-z]", "[xyz_]", "[0-5]",
           r"\d", r"\w", "[^0-9]", "[^a-z ]", "[.,;]", "[-+]"]

MAX_MATCH = 40  # characters; with a few bytes per character at worst, well under max_tokens


class RegexGenerator:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def quantified(self, atom):
        """(text, longest match in characters) of `atom` = (text, longest) with a quantifier."""
        r = self.rng
        text, longest = atom
        kind = r.choice(["", "", "?", "{n}", "{m,n}", "{m,n}"])
        if kind == "{n}":
            n = r.randint(1, 4)
            return "%s{%d}" % (text, n), longest * n
        if kind == "{m,n}":
            lo = r.randint(0, 3)
            hi = lo + r.randint(1, 4)
            return "%s{%d,%d}" % (text, lo, hi), longest * hi
        return text + kind, longest

    def atom(self, depth):
        r = self.rng
        roll = r.random()
        if depth < 2 and roll < 0.2:
            branches = [self.sequence(depth + 1, r.randint(1, 3)) for _ in range(r.randint(2, 3))]
            return "(" + "|".join(b[0] for b in branches) + ")", max(b[1] for b in branches)
        if depth < 2 and roll < 0.3:
            text, longest = self.sequence(depth + 1, r.randint(1, 3))
            return "(" + text + ")", longest
        if roll < 0.65:
            return r.choice(CLASSES), 1
        return r.choice(LITERALS), 1

    def sequence(self, depth, length):
        parts = [self.quantified(self.atom(depth)) for _ in range(length)]
        return "".join(p[0] for p in parts), sum(p[1] for p in parts)

    def regex(self):
        """A regex whose longest match is at most MAX_MATCH characters (longer ones are redrawn)."""
        while True:
            body, longest = self.sequence(0, self.rng.randint(1, 5))
            if longest <= MAX_MATCH:
                return "^" + body + "$" if self.rng.random() < 0.3 else body


def regex_corpus(count, seed=7):
    gen = RegexGenerator(seed)
    return [gen.regex() for _ in range(count)]
