# A bounded log that survives reboots, kept gentle on flash.
#
# Layout: two segment files, log0.txt and log1.txt, each holding at most max_lines/2 lines
# after a header "#<generation> <dropped>". New lines are appended to the current segment;
# when it is full the other (older) segment is rewritten empty with the next generation and
# becomes current, so the oldest half is dropped in one step. Lines are buffered in RAM and
# appended in batches of `flush_every` (one open/append/close per batch rather than per line:
# every littlefs commit rewrites a block), so a power cut loses at most flush_every - 1 lines;
# call flush() before a planned restart. A torn append leaves a last line without its
# newline, which the loader skips. `dropped` counts lines lost from the ring plus lines that
# could not be written. Only the unwritten lines stay in RAM: tail() reads the segments back
# from flash (a full ring of 200 lines would otherwise hold up to 30 KB of the board's heap).

from terminal import store

MAX_LINE = 120


def _clean(text):
    text = str(text)[:MAX_LINE]
    out = []
    for ch in text:
        c = ord(ch)
        # Newlines would split a record; control characters and lone surrogates are refused
        # by the command_res encoder.
        out.append("?" if c < 0x20 or c == 0x7F or 0xD800 <= c <= 0xDFFF else ch)
    return "".join(out)


def _read_segment(path):
    data = store.read(path)
    if not data:
        return -1, 0, []
    try:
        text = data.decode()
    except Exception:  # not UTF-8: the segment is corrupt
        return -1, 0, []
    parts = text.split("\n")
    complete = parts[:-1]  # the piece after the last newline is a torn write (or empty)
    if not complete or not complete[0].startswith("#"):
        return -1, 0, []
    try:
        head = complete[0][1:].split()
        gen, dropped = int(head[0]), int(head[1])
    except Exception:
        return -1, 0, []
    return gen, dropped, [line[:MAX_LINE] for line in complete[1:]]


class RingLog:
    def __init__(self, root, max_lines=200, flush_every=8):
        store.ensure_dir(root)
        self.max_lines = max(2, max_lines)
        self.half = self.max_lines // 2
        self.flush_every = max(1, flush_every)
        self._paths = (root + "/log0.txt", root + "/log1.txt")
        self._pending = []
        self._load()

    def _load(self):
        g0, d0, l0 = _read_segment(self._paths[0])
        g1, d1, l1 = _read_segment(self._paths[1])
        if g0 < 0 and g1 < 0:
            self.gen, self.cur, self.dropped, self._count = 0, 0, 0, 0
            self._start_segment()
            return
        if g1 > g0:
            self.gen, self.cur, self.dropped, self._count = g1, 1, d1, len(l1)
        else:
            self.gen, self.cur, self.dropped, self._count = g0, 0, d0, len(l0)

    def _start_segment(self):
        store.write_atomic(self._paths[self.cur], "#%d %d\n" % (self.gen, self.dropped))
        self._count = 0

    def add(self, text, ts=None):
        line = _clean(text if ts is None else "%d %s" % (ts, text))
        self._pending.append(line)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self):
        pending, self._pending = self._pending, []
        batch = []
        try:
            while pending:
                if self._count >= self.half:
                    # The other segment holds the oldest lines: they leave the ring now.
                    _, _, lost = _read_segment(self._paths[1 - self.cur])
                    self.dropped += len(lost)
                    self.gen += 1
                    self.cur = 1 - self.cur
                    self._start_segment()
                room = self.half - self._count
                batch, pending = pending[:room], pending[room:]
                with open(self._paths[self.cur], "a") as f:
                    f.write("\n".join(batch) + "\n")
                self._count += len(batch)
                batch = []
        except OSError:
            self.dropped += len(batch) + len(pending)  # flash full or failing: count, never raise

    def tail(self, n):
        """The last n lines (at most max_lines), oldest first: flash, then what is unwritten."""
        if n <= 0:
            return []
        g0, _, l0 = _read_segment(self._paths[0])
        g1, _, l1 = _read_segment(self._paths[1])
        lines = (l0 + l1) if g1 > g0 else (l1 + l0)
        lines += self._pending
        return lines[-min(n, self.max_lines):]
