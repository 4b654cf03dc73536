"""Draw the wiring picture of each supported board and print its bill of materials.

    python hardware/draw_wiring.py                 # docs/hardware/wiring-<board>.png + BOMs
    python hardware/draw_wiring.py --out DIR       # somewhere else
    python hardware/draw_wiring.py --markdown      # also the README's pin map and BOM tables

Everything comes from hardware/boards.py, which reads the pin maps from the firmware's board
definitions: after changing a board file, run this again and commit the pictures.
The picture is a logical diagram: each module on one side of the MCU, one straight labelled
wire per connection (GPIO -> module pin), not the physical pin order of the DevKit.
"""

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boards  # noqa: E402

W, H = 1200, 800
STEP = 38  # vertical distance between two wires
MCU_X = (470, 730)
LEFT_X = (40, 290)
RIGHT_X = (910, 1160)
HEADER = 46  # room for a module's name above its first pin
COLORS = {"scanner": (0, 110, 200), "keypad": (150, 70, 170), "display": (0, 140, 90),
          "buzzer": (200, 110, 0), "led": (200, 40, 40)}
POWER_COLORS = {"power": (220, 0, 0), "ground": (30, 30, 30)}
LEFT = ("scanner", "keypad")
RIGHT = ("display", "buzzer", "led")


def _font(size):
    return ImageFont.load_default(size=size)  # the font bundled with Pillow: same on every host


def _titles(name):
    info = boards.BOARDS[name]
    return {"scanner": f"{info['scanner']} scanner (UART)", "keypad": "4x4 keypad",
            "display": "SSD1306 OLED (I2C)", "buzzer": "buzzer (S8050 + passive)",
            "led": "status LED"}


def _layout(wires, side, top):
    """y of each wire on one side, grouped by module: {module: (box_top, box_bottom, [wire])}."""
    groups, y = {}, top
    for device in side:
        own = [w for w in wires if w["device"] == device]
        box_top = y
        y += HEADER
        for w in own:
            w["y"] = y
            y += STEP
        groups[device] = (box_top, y - STEP // 2, own)
        y += 26
    return groups


def _label(draw, xy, text, font, fill, anchor):
    box = draw.textbbox(xy, text, font=font, anchor=anchor)
    draw.rectangle((box[0] - 3, box[1] - 1, box[2] + 3, box[3] + 1), fill="white")
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


def _gpio_name(gpio):
    return f"GPIO{gpio}" if isinstance(gpio, int) else gpio


def draw(name, path):
    info = boards.BOARDS[name]
    wires = boards.wires(name)
    titles = _titles(name)
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    title, body, small = _font(24), _font(16), _font(14)
    d.text((W // 2, 14), f"{info['title']}  ({name})", font=title, fill="black",
           anchor="mt")

    left = _layout(wires, LEFT, 70)
    right = _layout(wires, RIGHT, 70)
    mcu_top = 60
    mcu_bottom = max(g[1] for g in list(left.values()) + list(right.values())) + 20
    d.rounded_rectangle((MCU_X[0], mcu_top, MCU_X[1], mcu_bottom), radius=10,
                        outline="black", width=3, fill=(235, 235, 235))
    mid = (MCU_X[0] + MCU_X[1]) // 2
    d.text((mid, mcu_top + 10), info["mcu"], font=body, fill="black", anchor="mt")
    d.text((mid, mcu_bottom - 10), f"chip: {info['chip']}", font=small, fill=(90, 90, 90),
           anchor="mb")

    for groups, (x0, x1), outer_edge, mcu_edge in ((left, LEFT_X, LEFT_X[1], MCU_X[0]),
                                                   (right, RIGHT_X, RIGHT_X[0], MCU_X[1])):
        on_left = groups is left
        for device, (top, bottom, own) in groups.items():
            color = COLORS[device]
            d.rounded_rectangle((x0, top, x1, bottom), radius=8, outline=color, width=3,
                                fill=(250, 250, 250))
            d.text(((x0 + x1) // 2, top + 8), titles[device], font=body, fill=color,
                   anchor="mt")
            for w in own:
                y = w["y"]
                wire_color = POWER_COLORS.get(w["kind"], color)
                d.line((outer_edge, y, mcu_edge, y), fill=wire_color, width=3)
                for x in (outer_edge, mcu_edge):
                    d.ellipse((x - 5, y - 5, x + 5, y + 5), fill=wire_color)
                # module pin inside the module's box, GPIO inside the MCU's box
                pin_x = outer_edge - 12 if on_left else outer_edge + 12
                d.text((pin_x, y), w["pin"], font=body, fill="black",
                       anchor="rm" if on_left else "lm")
                gpio_x = mcu_edge + 12 if on_left else mcu_edge - 12
                d.text((gpio_x, y), _gpio_name(w["gpio"]), font=body, fill="black",
                       anchor="lm" if on_left else "rm")
                text = f"{_gpio_name(w['gpio'])} -> {w['pin']}"
                _label(d, ((outer_edge + mcu_edge) // 2, y - 3), text, small, wire_color, "mb")

    notes = [
        "Scanner and OLED on 3.3 V (a 5 V scanner: 5V pin, and divide its TX 10k/20k).",
        "Buzzer: GPIO -> 1 kOhm -> S8050 base, emitter GND, buzzer between 5V and collector.",
        f"LED: GPIO -> 330 Ohm -> LED anode, cathode GND.  Pins: firmware/terminal/boards/"
        f"{name}.py",
    ]
    y = max(mcu_bottom, max(g[1] for g in right.values())) + 14
    y = min(y, H - 22 * len(notes) - 6)
    for line in notes:
        d.text((RIGHT_X[1], y), line, font=small, fill=(60, 60, 60), anchor="ra")
        y += 20
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=boards.REPO / "docs" / "hardware",
                        help="directory for wiring-<board>.png (default: docs/hardware)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the pin map and BOM tables as markdown")
    parser.add_argument("board", nargs="*", help="board names (default: all)")
    args = parser.parse_args(argv)
    for name in args.board or boards.names():
        path = draw(name, args.out / (f"wiring-{name}.png"))
        print("wrote", path)
        print(boards.bom_text(name))
        if args.markdown:
            print(f"\n## Pin map (`{name}`)\n\n{boards.pins_markdown(name)}\n")
            print(f"## Bill of materials (`{name}`)\n\n{boards.bom_markdown(name)}\n")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
