# Text helpers for the terminal's screen: its 8x8 framebuf font has ASCII only.

_FOLD = {
    "à": "a", "â": "a", "ä": "a", "ç": "c", "é": "e", "è": "e", "ê": "e", "ë": "e",
    "î": "i", "ï": "i", "ô": "o", "ö": "o", "ù": "u", "û": "u", "ü": "u", "ÿ": "y",
    "À": "A", "Â": "A", "Ä": "A", "Ç": "C", "É": "E", "È": "E", "Ê": "E", "Ë": "E",
    "Î": "I", "Ï": "I", "Ô": "O", "Ö": "O", "Ù": "U", "Û": "U", "Ü": "U", "€": "E",
    "œ": "oe", "Œ": "OE", "’": "'", "«": '"', "»": '"', "\u00a0": " ",
}


def ascii_fold(text):
    """French text to what the screen can draw; unknown non-ASCII becomes '?'."""
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        else:
            out.append(_FOLD.get(ch, "?"))
    return "".join(out)


def wrap(text, width):
    """Greedy word wrap to lines of at most `width` characters (long words are cut)."""
    lines = []
    line = ""
    for word in text.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line = line + " " + word
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def format_cents(cents):
    """1234 -> '12,34 EUR' without floats (the board's floats are single precision)."""
    sign = "-" if cents < 0 else ""
    cents = -cents if cents < 0 else cents
    frac = cents % 100
    return sign + str(cents // 100) + "," + ("0" if frac < 10 else "") + str(frac) + " EUR"
