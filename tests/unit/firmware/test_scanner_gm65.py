"""GM65-family scanner: CRC, command frames, replies, line assembly, and the driver at boot
against the SimUART module twin. Frame bytes come from the worked examples of the Grow GM65
manual (chapter 8) and Waveshare's barcode scanner manual (appendix B)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.drivers import scanner_gm65 as gm
from terminal.drivers.sim import SimClock, SimUART


def hx(text):
    return bytes.fromhex(text)


def test_crc16_xmodem_check_value():
    assert gm.crc16_xmodem(b"123456789") == 0x31C3
    assert gm.crc16_xmodem(b"") == 0


@pytest.mark.parametrize("body,crc", [
    ("07 01 00 0A 01", 0xEE8A),  # manual: read zone bit 0x000A
    ("08 01 00 0A 3E", 0x4CCF),  # manual: write 0x3E to 0x000A
    ("09 01 00 00 00", 0xDEC8),  # manual: save to EEPROM
    ("00 01 00", 0x3331),  # reply "success"
    ("00 01 3E", 0xE4AC),  # reply to the read above
    ("07 01 00 2A 02", 0xD80F),  # Waveshare: query the baud rate
])
def test_crc_matches_the_manuals_examples(body, crc):
    assert gm.crc16_xmodem(hx(body)) == crc


def test_command_frames():
    assert gm.read_frame(0x000A) == hx("7E 00 07 01 00 0A 01 EE 8A")
    assert gm.write_frame(0x000A, b"\x3e") == hx("7E 00 08 01 00 0A 3E 4C CF")
    assert gm.save_frame() == hx("7E 00 09 01 00 00 00 DE C8")
    assert gm.read_frame(gm.REG_BAUD, 2) == hx("7E 00 07 01 00 2A 02 D8 0F")
    assert gm.baud_frame(9600) == hx("7E 00 08 02 00 2A 39 01 A7 EA")
    trigger = gm.trigger_frame()
    assert trigger[:7] == hx("7E 00 08 01 00 02 01")
    assert trigger[7:] == gm.crc16_xmodem(trigger[2:7]).to_bytes(2, "big")
    # The module takes AB CD in place of the CRC: "no check".
    assert gm.trigger_frame(check=False) == hx("7E 00 08 01 00 02 01 AB CD")
    assert gm.baud_frame(115200)[6:8] == hx("1A 00")  # low byte first


def test_bad_commands_are_refused():
    for call in (lambda: gm.baud_frame(12345), lambda: gm.read_frame(0, 0),
                 lambda: gm.build_frame(0x05, 0, b"\x00"), lambda: gm.write_frame(0x10000, b"1"),
                 lambda: gm.write_frame(0, b""), lambda: gm.LineAssembler(b"")):
        with pytest.raises(gm.ScannerError):
            call()


def test_reply_parsing():
    assert gm.parse_reply(hx("02 00 00 01 00 33 31")) == (0, b"\x00", 7)
    assert gm.parse_reply(hx("02 00 00 01 3E E4 AC")) == (0, b"\x3e", 7)
    assert gm.parse_reply(hx("41 02 00 00 01 00 33 31"), 1) == (0, b"\x00", 8)
    for partial in ("", "02", "02 00", "02 00 00 01", "02 00 00 01 00 33"):
        assert gm.parse_reply(hx(partial)) is None
    for bad in ("03", "02 01", "02 00 00 01 00 33 32"):
        with pytest.raises(gm.ScannerError):
            gm.parse_reply(hx(bad))
    body = b"\x00\x00" + bytes(range(256))  # length byte 00 means 256 bytes
    crc = gm.crc16_xmodem(body)
    reply = b"\x02\x00" + body + bytes([crc >> 8, crc & 0xFF])
    assert gm.parse_reply(reply) == (0, bytes(range(256)), 262)


def test_lines_across_every_chunk_boundary():
    data = b"CARD-123\rhttps://x.fr/v/2DZHB6PQ\r"
    for cut in range(len(data) + 1):
        lines = gm.LineAssembler()
        assert lines.feed(data[:cut]) + lines.feed(data[cut:]) == \
            ["CARD-123", "https://x.fr/v/2DZHB6PQ"]


def test_crlf_terminator_split_between_chunks():
    lines = gm.LineAssembler(b"\r\n")
    assert lines.feed(b"ABC\r") == []
    assert lines.feed(b"\nDEF\r\n") == ["ABC", "DEF"]


def test_line_cleanup():
    lines = gm.LineAssembler()
    # Stray LF (module set to CRLF), empty lines, non-ASCII bytes shown as '?'.
    assert lines.feed(b"\nAB\r\r\r\x01C\xc3\xa9\r") == ["AB", "?C??"]


def test_over_long_line_is_dropped_and_counted():
    lines = gm.LineAssembler(max_line=8)
    assert lines.feed(b"12345678\r") == ["12345678"]
    assert lines.feed(b"123456789") == []  # too long already: skipped up to its end
    assert lines.feed(b"0000\rOK\r") == ["OK"]
    assert lines.feed(b"x" * 100 + b"\rNEXT\r") == ["NEXT"]
    assert lines.overflows == 2


def test_stream_separates_replies_from_scans():
    stream = gm.ScannerStream()
    data = b"AB" + hx("02 00 00 01 00 33 31") + b"C\rD\x02E\r"
    for cut in range(len(data) + 1):
        stream = gm.ScannerStream()
        lines = stream.feed(data[:cut]) + stream.feed(data[cut:])
        assert lines == ["ABC", "D?E"] and stream.replies == [(0, b"\x00")]


def test_a_held_fragment_is_released_as_data():
    stream = gm.ScannerStream()
    assert stream.feed(b"XY\x02\x00\x00\x09") == [] and stream.hold
    assert stream.flush() == [] and not stream.hold
    assert stream.feed(b"\r") == ["XY????"]


def scanner(uart, **kw):
    clock = SimClock()  # waits advance simulated time: an absent module costs no real time
    return gm.GM65Scanner(uart, clock=clock.ticks_ms, sleep=clock.sleep_ms, **kw)


def test_boot_sets_the_mode_saves_and_checks():
    uart = SimUART(settings=0xD6)
    s = scanner(uart, mode="command")
    assert s.configure() == "ok" and s.state == "ok"
    assert uart.regs[0] == 0xD5 and uart.flash[0] == 0xD5  # continuous -> command, saved
    frames = [(f[0], f[1]) for f in uart.frames]
    # settings read, mode written, tail read (CR already), saved, both read back
    assert frames == [(gm.READ, 0), (gm.WRITE, 0), (gm.READ, 0x60), (gm.SAVE, 0),
                      (gm.READ, 0), (gm.READ, 0x60)]
    uart.frames.clear()
    assert scanner(uart, mode="command").configure() == "ok"
    assert [f[0] for f in uart.frames] == [gm.READ] * 4  # nothing to change, no flash wear


def test_tail_register_frames():
    assert gm.write_frame(gm.REG_TAIL, b"\x80")[:7] == hx("7E 00 08 01 00 60 80")
    assert gm.read_frame(gm.REG_TAIL) == hx("7E 00 07 01 00 60 01") + gm.crc16_xmodem(
        hx("07 01 00 60 01")).to_bytes(2, "big")
    assert gm.TAILS == {b"\r": 0x80, b"\r\n": 0xA0, b"\t": 0xC0}


def test_boot_writes_the_cr_tail_keeps_the_other_bits_saves_and_reads_it_back():
    uart = SimUART(tail=b"\r\n")  # a module left on CRLF
    uart.regs[gm.REG_TAIL] |= 0x05  # other bits of the zone (prefix, suffix...) stay as they are
    s = scanner(uart)
    assert s.configure() == "ok", s.error
    assert uart.regs[gm.REG_TAIL] == 0x85 and uart.flash[gm.REG_TAIL] == 0x85  # CR, saved
    assert gm.write_frame(gm.REG_TAIL, b"\x85") in bytes(uart.written)
    assert [f[:2] for f in uart.frames][-2:] == [(gm.READ, 0), (gm.READ, gm.REG_TAIL)]
    uart.scan("2DZHB6PQ")
    assert uart.rx.endswith(b"2DZHB6PQ\r") and s.poll() == "2DZHB6PQ" and s.poll() is None
    uart.power_cycle()
    assert uart.tail == b"\r"


def test_a_tail_that_does_not_read_back_is_a_fault():
    class Stubborn(SimUART):  # acknowledges the write, keeps its CRLF
        def _execute(self, kind, address, data):
            if kind == gm.WRITE and address == gm.REG_TAIL:
                return self._reply(b"\x00")
            return SimUART._execute(self, kind, address, data)

    s = scanner(Stubborn(tail=b"\r\n"))
    assert s.configure() == "fault" and s.error == "scanner tail is 0xa0"


def test_the_host_terminator_chooses_the_tail_and_others_leave_it_alone():
    uart = SimUART()
    assert scanner(uart, terminator=b"\r\n").configure() == "ok"
    assert uart.regs[gm.REG_TAIL] == 0xA0 and uart.tail == b"\r\n"
    uart = SimUART(tail=b"\n")  # LF: no register value says it
    assert scanner(uart, terminator=b"\n").configure() == "ok"
    assert all(f[1] != gm.REG_TAIL for f in uart.frames) and uart.tail == b"\n"


def test_a_board_can_name_another_tail_register():
    uart = SimUART()
    s = scanner(uart, tail=(0x0061, 0x03, {b"\r": 0x01}))
    assert s.configure() == "ok" and uart.regs[0x61] == 0x01 and uart.regs[gm.REG_TAIL] == 0x80


def test_trigger_in_command_mode_and_poll():
    uart = SimUART(settings=0xD5)
    s = scanner(uart, mode="command")
    assert s.configure() == "ok"
    uart.scan("2DZHB6PQ")
    assert s.poll() is None  # waits for the trigger
    s.trigger()
    assert s.poll() == "2DZHB6PQ"  # the trigger's acknowledgement was swallowed
    assert s.poll() is None


def test_speed_change_and_power_cycle():
    uart = SimUART()
    s = scanner(uart, baud=115200)
    assert s.configure() == "ok" and uart.module_baud == 115200 == uart.host_baud
    uart.power_cycle()  # saved: the module comes back at 115200
    uart.init(baudrate=9600)
    uart.frames.clear()
    s2 = scanner(uart, baud=115200)
    assert s2.configure() == "ok" and [f[0] for f in uart.frames] == [gm.READ] * 4
    uart.scan("HELLO")
    assert s2.poll() == "HELLO"


def test_module_at_the_factory_speed_is_found():
    uart = SimUART(baud=9600)
    uart.init(baudrate=57600)
    assert scanner(uart, baud=57600).configure() == "ok" and uart.module_baud == 57600


def test_absent_and_faulty_modules():
    s = scanner(SimUART(absent=True))
    assert s.configure() == "absent" and "no reply" in s.error
    assert s.poll() is None

    class Broken(SimUART):
        def write(self, data):
            raise OSError(5, "EIO")
    s = scanner(Broken())
    assert s.configure() == "fault"

    class Refuses(SimUART):
        def _reply(self, data):  # answers with a non-zero type: refused
            body = bytes([1, len(data)]) + bytes(data)
            crc = gm.crc16_xmodem(body)
            self._send(b"\x02\x00" + body + bytes([crc >> 8, crc & 0xFF]))
    s = scanner(Refuses())
    assert s.configure() == "fault" and "refused" in s.error


def test_no_check_frames_are_accepted_by_the_module():
    uart = SimUART()
    s = scanner(uart, check=False)
    assert s.configure() == "ok"
    assert bytes(uart.written[7:9]) == gm.NO_CHECK


def test_module_ignores_a_bad_crc():
    uart = SimUART()
    uart.write(hx("7E 00 07 01 00 0A 01 11 22"))
    assert uart.rx == b"" and uart.bad_frames == 1


def test_scans_split_in_small_chunks():
    uart = SimUART(chunk=3)
    s = scanner(uart)
    assert s.configure() == "ok"
    uart.scan("https://example.fr/c/ABCDEFGH")
    got = [s.poll() for _ in range(20)]
    assert [g for g in got if g] == ["https://example.fr/c/ABCDEFGH"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300))
def test_random_bytes_only_give_none_tuples_or_scanner_errors(data, start):
    try:
        result = gm.parse_reply(data, min(start, len(data)))
    except gm.ScannerError:
        return
    assert result is None or (isinstance(result, tuple) and len(result) == 3)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=12), st.sampled_from([b"\r", b"\n", b"\r\n"]))
def test_random_streams_give_bounded_printable_lines(chunks, terminator):
    stream = gm.ScannerStream(terminator, max_line=64)
    for chunk in chunks:
        for line in stream.feed(chunk):
            assert 0 < len(line) <= 64 and all(" " <= ch <= "~" for ch in line)
    for line in stream.flush():
        assert len(line) <= 64
    assert len(stream.hold) <= gm.MAX_REPLY


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=10))
def test_driver_poll_never_raises_on_garbage(chunks):
    uart = SimUART()
    s = scanner(uart)
    s.configure()
    for chunk in chunks:
        uart.feed(chunk)
        line = s.poll()
        assert line is None or isinstance(line, str)
    assert s.state == "ok"
