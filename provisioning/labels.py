"""Printable label sheets: per terminal its device id, its model and its claim code, as text and
as a QR code the partner admin scans to claim the terminal. A4 pages at 200 dpi, 2 x 7 labels,
written as PNG (one file per page) and/or one PDF.
"""

from dataclasses import dataclass
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from protocol import tokens

DPI = 200
PAGE = (int(210 / 25.4 * DPI), int(297 / 25.4 * DPI))  # A4 portrait
COLS, ROWS = 2, 7
MARGIN = int(8 / 25.4 * DPI)


@dataclass(frozen=True)
class Label:
    device_id: str
    claim_code: str
    model: str = ""


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fitting(draw, text: str, size: int, room: int):
    font = _font(size)
    while size > 8 and draw.textlength(text, font=font) > room:
        size -= 2
        font = _font(size)
    return font


def qr_image(text: str, box: int) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(text)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image().convert(
        "L").resize((box, box), Image.NEAREST)


def _draw_label(page: Image.Image, label: Label, x: int, y: int, w: int, h: int) -> None:
    draw = ImageDraw.Draw(page)
    draw.rectangle([x, y, x + w - 1, y + h - 1], outline=180, width=2)  # cutting guide
    pad = h // 12
    box = h - 2 * pad
    claim = tokens.format_claim_code(label.claim_code)
    page.paste(qr_image(claim, box), (x + pad, y + pad))
    tx = x + box + 2 * pad
    room = x + w - pad - tx
    big, small = _fitting(draw, label.device_id, h // 8, room), _font(h // 12)
    draw.text((tx, y + pad), label.device_id, fill=0, font=big)
    draw.text((tx, y + pad + h // 6), label.model, fill=0, font=small)
    draw.text((tx, y + h - pad - h // 4), "Code d'activation", fill=0, font=small)
    draw.text((tx, y + h - pad - h // 8), claim, fill=0, font=big)


def render_pages(labels: list[Label]) -> list[Image.Image]:
    w = (PAGE[0] - 2 * MARGIN) // COLS
    h = (PAGE[1] - 2 * MARGIN) // ROWS
    pages = []
    per_page = COLS * ROWS
    for start in range(0, max(len(labels), 1), per_page):
        page = Image.new("L", PAGE, 255)
        for i, label in enumerate(labels[start:start + per_page]):
            row, col = divmod(i, COLS)
            _draw_label(page, label, MARGIN + col * w, MARGIN + row * h, w, h)
        pages.append(page)
    return pages


def write_sheets(labels: list[Label], out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """labels.pdf (all pages) and/or labels-<n>.png; returns the files written."""
    out_dir = Path(out_dir)
    pages = render_pages(labels)
    written = []
    if "pdf" in formats:
        path = out_dir / "labels.pdf"
        pages[0].save(path, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
        written.append(path)
    if "png" in formats:
        for n, page in enumerate(pages, 1):
            path = out_dir / f"labels-{n}.png"
            page.save(path, "PNG", dpi=(DPI, DPI))
            written.append(path)
    return written
