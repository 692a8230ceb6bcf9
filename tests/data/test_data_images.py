"""open_image: EXIF orientation, mode conversion by pixel value, bomb refusal, one error class."""
import io

import numpy as np
import pytest
from PIL import Image

from gpg_vl.data.images import BadImageCounter, ImageLoadError, open_image, probe_image, resolve_ref


def _png_bytes(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **save)
    return buf.getvalue()


def _pixel(img, xy):
    return img.convert("RGB").getpixel(xy)


def test_exif_orientation_is_applied(tmp_path):
    # 16x8: left half red, right half blue; orientation 6 = rotate 90 degrees clockwise to display,
    # so the upright image is 8x16 with the left (red) half on top.
    img = Image.new("RGB", (16, 8), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    out = open_image(path)
    assert out.mode == "RGB" and out.size == (8, 16)
    r, g, b = out.getpixel((4, 3))
    assert r > 200 and b < 60
    r, g, b = out.getpixel((4, 12))
    assert b > 200 and r < 60
    assert probe_image(path) == (8, 16)  # header-only size agrees with the decoded one


def test_rgba_composites_on_white():
    img = Image.new("RGBA", (2, 1))
    img.putpixel((0, 0), (255, 0, 0, 128))  # half-transparent red
    img.putpixel((1, 0), (0, 0, 0, 0))  # fully transparent black: must become white, not black
    out = open_image(_png_bytes(img))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == pytest.approx((255, 127, 127), abs=1)
    assert out.getpixel((1, 0)) == (255, 255, 255)


def test_la_composites_on_white():
    img = Image.new("LA", (1, 1), (0, 0))  # transparent black
    assert open_image(img).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency_becomes_white():
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)  # index 0 black, index 1 green
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    data = _png_bytes(img, transparency=0)
    reopened = Image.open(io.BytesIO(data))
    assert reopened.mode == "P" and "transparency" in reopened.info
    out = open_image(data)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (0, 200, 0)


def test_palette_without_transparency():
    img = Image.new("P", (1, 1))
    img.putpalette([10, 20, 30] + [0] * 765)
    assert open_image(img).getpixel((0, 0)) == (10, 20, 30)


def test_cmyk_to_rgb():
    img = Image.new("CMYK", (2, 1))
    img.putpixel((0, 0), (0, 255, 255, 0))  # red
    img.putpixel((1, 0), (0, 0, 0, 255))  # black
    out = open_image(img)
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((1, 0)) == (0, 0, 0)


def test_greyscale_and_bilevel():
    assert open_image(Image.new("L", (1, 1), 128)).getpixel((0, 0)) == (128, 128, 128)
    bilevel = Image.new("1", (2, 1), 0)
    bilevel.putpixel((1, 0), 1)
    out = open_image(bilevel)
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 0)) == (255, 255, 255)


@pytest.mark.parametrize("via_png", [False, True])
def test_sixteen_bit_is_scaled_not_clipped(via_png):
    values = np.array([[0, 257 * 100, 65535, 1000]], dtype=np.uint16)
    img = Image.fromarray(values)
    assert img.mode.startswith("I;16")
    ref = _png_bytes(img) if via_png else img  # Pillow may reopen 16-bit PNG as "I" or "I;16"
    out = open_image(ref)
    got = [out.getpixel((x, 0))[0] for x in range(4)]
    assert got == [0, 100, 255, 4]  # clipping would give [0, 255, 255, 255]


def test_mode_i_is_treated_as_sixteen_bit():
    img = Image.fromarray(np.array([[0, 32896, 65535, 70000]], dtype=np.int32), mode="I")
    got = [open_image(img).getpixel((x, 0))[0] for x in range(4)]
    assert got == [0, 128, 255, 255]


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (2000, 2000), 0).save(path)
    with pytest.raises(ImageLoadError, match="exceeds max_pixels=1000000") as info:
        open_image(path, max_pixels=1_000_000)
    assert str(path) in str(info.value)
    # Truncating the pixel data does not change the verdict: only the header was read.
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(ImageLoadError, match="decompression-bomb"):
        probe_image(path, max_pixels=1_000_000)
    assert open_image(Image.new("L", (10, 10)), max_pixels=100).size == (10, 10)


def test_errors_name_the_image(tmp_path):
    with pytest.raises(ImageLoadError, match="missing.png.*file not found"):
        open_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageLoadError, match="junk.png"):
        open_image(junk)
    good = tmp_path / "trunc.png"
    Image.effect_noise((64, 64), 50).convert("RGB").save(good)
    good.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ImageLoadError, match="trunc.png"):
        open_image(good)
    err = ImageLoadError("'x.png'", "file not found").at("train.jsonl", 7)
    assert str(err) == "train.jsonl, row 7: cannot load image 'x.png': file not found"


def test_embedded_dict_and_bytes_refs():
    data = _png_bytes(Image.new("RGB", (3, 2), (1, 2, 3)))
    assert open_image({"bytes": data, "path": "x.png"}).getpixel((0, 0)) == (1, 2, 3)
    assert open_image(data).size == (3, 2)
    with pytest.raises(ImageLoadError, match="not an image reference"):
        open_image(12345)


def test_resolve_ref(tmp_path):
    assert resolve_ref("a/b.png", tmp_path) == str(tmp_path / "a" / "b.png")
    assert resolve_ref("/abs/c.png", tmp_path) == "/abs/c.png"
    assert resolve_ref("file:///abs/d.png") == "/abs/d.png"
    assert resolve_ref({"bytes": None, "path": "e.png"}, tmp_path) == str(tmp_path / "e.png")
    embedded = {"bytes": b"..", "path": "e.png"}
    assert resolve_ref(embedded, tmp_path) is embedded


def test_bad_image_counter_policies():
    err = ImageLoadError("'x.png'", "file not found")
    with pytest.raises(ImageLoadError):
        BadImageCounter("error").record(err)
    counter = BadImageCounter("skip", log_first=1)
    counter.record(err)
    counter.record(err)
    assert counter.skipped == 2 and len(counter.messages) == 1
    assert counter.summary() == "skipped 2 row(s) with bad images"
    with pytest.raises(ValueError, match="on_bad_image"):
        BadImageCounter("ignore")
