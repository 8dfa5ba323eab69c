"""The transparent 1x1 GIF every pixel endpoint answers with."""

# GIF89a, 1x1, one transparent colour: the smallest image every mail client and browser renders.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
assert len(TRANSPARENT_GIF) == 43
