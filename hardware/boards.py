"""The supported terminal boards as data: parts and prices here, pin maps from the firmware.

The pin maps are not repeated: they are read from the firmware's board definitions
(`firmware/terminal/boards/<name>.py`, the BOARD dicts the terminal boots with), so the
README's tables, the wiring pictures (draw_wiring.py) and the firmware cannot disagree.

Prices are approximate single-unit retail prices in EUR incl. VAT, as typically seen at hobby
distributors and online marketplaces in 2024-2025: estimates, not quotes.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "firmware") not in sys.path:
    sys.path.insert(0, str(REPO / "firmware"))

from terminal.boards import load  # noqa: E402


def _part(name, qty, unit_eur, note=""):
    return {"part": name, "qty": qty, "unit_eur": unit_eur, "note": note}


_COMMON_PARTS = [
    _part("SSD1306 0.96in 128x64 OLED, I2C", 1, 4.0),
    _part("4x4 membrane keypad", 1, 2.0),
    _part("passive buzzer, S8050 NPN, LED, 1 kOhm + 330 Ohm resistors, 1N4148", 1, 2.0),
    _part("perfboard or jumper wires, pin headers", 1, 2.0),
    _part("enclosure, ABS box about 120 x 80 x 40 mm", 1, 4.0),
    _part("USB power supply 5 V 1 A with cable", 1, 4.0),
]

# Per board: what it is, how MicroPython is flashed onto it, what the modules are called, and
# the parts list. "flash" is the MicroPython 1.29 download (micropython.org/download/<board>/).
BOARDS = {
    "esp32_gm65": {
        "title": "ESP32 DevKitC + GM65",
        "chip": "esp32",
        "mcu": "ESP32 DevKitC (WROOM-32)",
        "scanner": "GM65",
        "flash": {"micropython_board": "ESP32_GENERIC", "variant": "",
                  "esptool_chip": "esp32", "offset": "0x1000"},
        "power": {"scanner": "3V3", "display": "3V3"},
        "parts": [
            _part("ESP32 DevKitC (ESP32-WROOM-32, 4 MB flash)", 1, 6.0,
                  "clones ~6, Espressif's own ~10"),
            _part("GM65 QR/barcode scanner module with cable", 1, 18.0,
                  "Waveshare's module ~30"),
        ] + _COMMON_PARTS,
    },
    "esp32s3_gm805": {
        "title": "ESP32-S3 DevKitC-1 + GM805",
        "chip": "esp32s3",
        "mcu": "ESP32-S3 DevKitC-1 (N8R8)",
        "scanner": "GM805",
        "flash": {"micropython_board": "ESP32_GENERIC_S3", "variant": "SPIRAM_OCT",
                  "esptool_chip": "esp32s3", "offset": "0x0"},
        "power": {"scanner": "3V3", "display": "3V3"},
        "parts": [
            _part("ESP32-S3 DevKitC-1 N8R8 (8 MB flash, 8 MB octal PSRAM)", 1, 12.0,
                  "clones ~9, Espressif's own ~15"),
            _part("GM805 QR/barcode scanner module with cable", 1, 22.0,
                  "GM805-S / GM805-L"),
        ] + _COMMON_PARTS,
    },
}


def names():
    return list(BOARDS)


def firmware_board(name):
    """The firmware's BOARD dict, as the terminal loads it at boot."""
    return load(name)


def bom_total(name):
    return round(sum(p["qty"] * p["unit_eur"] for p in BOARDS[name]["parts"]), 2)


def wires(name):
    """Every connection of the board: dicts {device, gpio, pin, kind}, in drawing order.

    gpio is an int for a GPIO, or "3V3" / "5V" / "GND" for power; pin is the module's pin.
    """
    board = firmware_board(name)
    power = BOARDS[name]["power"]
    out = []

    def add(device, gpio, pin, kind):
        out.append({"device": device, "gpio": gpio, "pin": pin, "kind": kind})

    scanner = board["scanner"]
    add("scanner", power["scanner"], "VCC", "power")
    add("scanner", "GND", "GND", "ground")
    add("scanner", scanner["tx"], "RX", "signal")  # ESP32 TX -> module RX
    add("scanner", scanner["rx"], "TX", "signal")  # module TX -> ESP32 RX
    keypad = board["keypad"]
    for i, gpio in enumerate(keypad["rows"]):
        add("keypad", gpio, f"R{i + 1}", "signal")
    for i, gpio in enumerate(keypad["cols"]):
        add("keypad", gpio, f"C{i + 1}", "signal")
    display = board["display"]
    add("display", power["display"], "VCC", "power")
    add("display", "GND", "GND", "ground")
    add("display", display["sda"], "SDA", "signal")
    add("display", display["scl"], "SCL", "signal")
    add("buzzer", board["buzzer"]["pin"], "B (1k)", "signal")
    add("led", board["led"]["pin"], "A (330R)", "signal")
    return out


def gpios(name):
    """All GPIO numbers the board uses, with repeats if a pin were used twice."""
    return [w["gpio"] for w in wires(name) if isinstance(w["gpio"], int)]


def pin_rows(name):
    """The pin map as table rows: (device, signal, GPIO, notes)."""
    board = firmware_board(name)
    s, d, k = board["scanner"], board["display"], board["keypad"]
    rows = [
        (f"QR scanner (UART{s['uart']}, {s['baud']} 8N1)", "module TX -> MCU RX",
         str(s["rx"]), "3.3 V logic only"),
        ("", "MCU TX -> module RX", str(s["tx"]), ""),
        (f"OLED SSD1306 (I2C{d['i2c']}, {d['freq'] // 1000} kHz, 0x{d['addr']:02X})",
         "SDA", str(d["sda"]), "module boards carry their pull-ups"),
        ("", "SCL", str(d["scl"]), ""),
        ("keypad rows (outputs, idle high)", "R1 R2 R3 R4",
         " ".join(str(n) for n in k["rows"]), ""),
        ("keypad columns (inputs, internal pull-up)", "C1 C2 C3 C4",
         " ".join(str(n) for n in k["cols"]), ""),
        ("buzzer (PWM)", "transistor base via 1 kOhm", str(board["buzzer"]["pin"]),
         "passive buzzer"),
        ("status LED", "anode via 330 Ohm", str(board["led"]["pin"]),
         "active low" if board["led"].get("invert") else "active high"),
    ]
    return rows


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pins_markdown(name):
    return _table(("device", "signal", "GPIO", "notes"), pin_rows(name))


def _eur(value):
    return (f"{value:.2f}").rstrip("0").rstrip(".")


def bom_markdown(name):
    rows = []
    for p in BOARDS[name]["parts"]:
        rows.append((p["part"] + (" (" + p["note"] + ")" if p["note"] else ""), p["qty"],
                     _eur(p["unit_eur"]), _eur(p["qty"] * p["unit_eur"])))
    rows.append(("**total per terminal (approx.)**", "", "", f"**{_eur(bom_total(name))}**"))
    return _table(("part", "qty", "approx. unit EUR", "approx. EUR"), rows)


def bom_text(name):
    """The BOM as a plain-text table, for the terminal."""
    parts = BOARDS[name]["parts"]
    width = max(len(p["part"]) for p in parts)
    lines = [f"{BOARDS[name]['title']} ({name}): approximate EUR, incl. VAT"]
    lines.append(f"  {'part':<{width}} {'qty':>4} {'unit':>8} {'total':>8}")
    for p in parts:
        total = p["qty"] * p["unit_eur"]
        lines.append(f"  {p['part']:<{width}} {p['qty']:>4d} {p['unit_eur']:>8.2f} {total:>8.2f}")
    lines.append(f"  {'total per terminal':<{width}} {'':>4} {'':>8} {bom_total(name):>8.2f}")
    return "\n".join(lines)
