"""Scanning a picture: the QR code in an image file, read with a real decoder (zxing-cpp), as
the terminal's camera or scanner module would read the printed code."""

from pathlib import Path

MAX_IMAGE_BYTES = 20_000_000


class QrError(ValueError):
    pass


def decode_file(path: str | Path) -> str:
    """The text of the (first) QR code in the image; QrError when there is none."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise QrError(f"{path}: larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
        with Image.open(path) as image:
            image.load()
            found = zxingcpp.read_barcodes(image.convert("L"),
                                           formats=zxingcpp.BarcodeFormat.QRCode)
    except (OSError, UnidentifiedImageError) as err:
        raise QrError(f"{path}: not a readable image ({err})") from err
    texts = [result.text for result in found if result.valid and result.text]
    if not texts:
        raise QrError(f"{path}: no QR code found")
    return texts[0]
