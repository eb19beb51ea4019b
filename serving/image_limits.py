"""In-graph limits on image sizes, checked before any pixel is decoded, allocated or cast.

A 243 KB PNG can declare 16,000 × 16,000 pixels (0.77 GB of uint8, 3 GB as float32), and a 61-byte
TensorProto can declare a uint8 [1, 20000, 20000, 3] tensor with no values. Both servers (TF Serving
and `serving.server`) run the exported graph, so the limit belongs in the graph: `hash_bytes` reads
the size from each image's header (JPEG SOF via `tf.image.extract_jpeg_shape`; PNG IHDR, GIF logical
screen, BMP info header from their bytes) and `serving_default` reads `tf.shape`; an image over
`max_pixels` fails with INVALID_ARGUMENT naming the limit before it is decoded or cast.
"""

import tensorflow as tf

DEFAULT_MAX_PIXELS = 1 << 24  # 16,777,216 = 4096 × 4096: any camera photo, not a bomb
# Decoded, an image of the limit is 48 MiB of uint8 and 192 MiB as float32: bounded per request.

# What `tf.io.decode_image` checks to recognise a format (its own prefixes), in `_KINDS` order.
_UNKNOWN, _JPEG, _PNG, _GIF, _BMP = range(5)
_HEADER_BYTES = 32  # the sizes of all four formats lie in the first 26 bytes
# GIF: `decode_gif` decodes every frame at the size of the first frame's image descriptor (not the
# logical screen's). Every image descriptor (0x2C) but the first follows a block terminator (0x00),
# so 1 + the count of b"\x00\x2c" bounds the frame count (LZW data can hold the pair too: about
# one spurious frame per 64 KiB, which only matters for GIFs near the limit).
_GIF_FRAME_MARK = b"\x00\x2c"
_GIF_EXTENSION, _GIF_IMAGE = 0x21, 0x2C


def _header(data):
    """The first 32 bytes of `data` as int64 [32], zero-padded when it is shorter."""
    head = tf.strings.substr(data, 0, _HEADER_BYTES)
    head = tf.strings.substr(tf.strings.join([head, b"\0" * _HEADER_BYTES]), 0, _HEADER_BYTES)
    return tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)


def _big_endian(header, start, count):
    value = tf.constant(0, tf.int64)
    for i in range(count):
        value = value * 256 + header[start + i]
    return value


def _little_endian(header, start, count):
    value = tf.constant(0, tf.int64)
    for i in reversed(range(count)):
        value = value * 256 + header[start + i]
    return value


def _byte(data, position):
    """The byte of `data` at `position` as int64 (0 past the end)."""
    position = tf.minimum(position, tf.cast(tf.strings.length(data), tf.int64))
    piece = tf.strings.join([tf.strings.substr(data, position, 1), b"\0"])
    return tf.cast(tf.io.decode_raw(piece, tf.uint8)[0], tf.int64)


def _gif_first_frame(data, header):
    """(height, width) of the first image descriptor: after the header, the global colour table and
    any extension blocks (each a label and sub-blocks ending with a 0 length), as giflib reads them."""
    packed = header[10]
    table = tf.where(packed >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), packed % 8), 0)
    length = tf.cast(tf.strings.length(data), tf.int64)

    def walking(position, in_extension):
        return tf.logical_and(
            position < length, tf.logical_or(in_extension, tf.equal(_byte(data, position), _GIF_EXTENSION))
        )

    def step(position, in_extension):
        # In an extension, skip one sub-block (a 0 length ends it); else enter one (0x21, its label).
        size = _byte(data, position)
        return (
            tf.where(in_extension, position + size + 1, position + 2),
            tf.logical_or(tf.logical_not(in_extension), size > 0),
        )

    descriptor, _ = tf.while_loop(walking, step, (13 + table, tf.constant(False)))
    is_image = tf.equal(_byte(data, descriptor), _GIF_IMAGE)
    width = _byte(data, descriptor + 5) + 256 * _byte(data, descriptor + 6)
    height = _byte(data, descriptor + 7) + 256 * _byte(data, descriptor + 8)
    return tf.where(is_image, height, 0), tf.where(is_image, width, 0)


def _signed32(value):
    return tf.where(value >= 1 << 31, value - (1 << 32), value)


def image_kind(data):
    """0 unknown, 1 JPEG, 2 PNG, 3 GIF, 4 BMP: the prefixes `tf.io.decode_image` dispatches on."""
    prefix3 = tf.strings.substr(data, 0, 3)
    prefix2 = tf.strings.substr(data, 0, 2)
    kind = tf.constant(_UNKNOWN)
    for code, magic in ((_BMP, None), (_GIF, b"GIF"), (_PNG, b"\x89PN"), (_JPEG, b"\xff\xd8\xff")):
        matches = tf.equal(prefix2, b"BM") if magic is None else tf.equal(prefix3, magic)
        kind = tf.where(matches, code, kind)
    return kind


def declared_size(data):
    """(kind, height, width, frames) an encoded image declares, all int64, without decoding it.

    Unknown formats give (0, 0, 0, 0). Header fields are unsigned (BMP's are signed: their absolute
    value is taken, a negative height meaning top-down rows).
    """
    kind = image_kind(data)
    header = _header(data)

    def unknown():
        return tf.constant([0, 0, 0], tf.int64)

    def jpeg():
        shape = tf.image.extract_jpeg_shape(data, output_type=tf.int64)
        return tf.stack([shape[0], shape[1], tf.constant(1, tf.int64)])

    def png():  # 8-byte signature, IHDR length and type, then width and height (big-endian)
        return tf.stack([_big_endian(header, 20, 4), _big_endian(header, 16, 4), tf.constant(1, tf.int64)])

    def gif():  # every frame is decoded at the first frame's size
        frames = tf.cast(tf.size(tf.strings.split(data, sep=_GIF_FRAME_MARK)), tf.int64)
        height, width = _gif_first_frame(data, header)
        return tf.stack([height, width, frames])

    def bmp():  # BITMAPINFOHEADER: width at 18, height at 22 (signed little-endian)
        width = tf.abs(_signed32(_little_endian(header, 18, 4)))
        height = tf.abs(_signed32(_little_endian(header, 22, 4)))
        return tf.stack([height, width, tf.constant(1, tf.int64)])

    size = tf.switch_case(kind, [unknown, jpeg, png, gif, bmp])
    return tf.cast(kind, tf.int64), size[0], size[1], size[2]


_MESSAGE = "image of {} x {} pixels{} is over the limit of {} pixels (max_pixels, set at export)"


def over_limit_message(height, width, max_pixels, suffix=""):
    """The refusal's text (a tf.string); `declared_pixels_message` is the same text in Python."""
    number = tf.strings.as_string
    parts = _MESSAGE.split("{}")
    values = [number(height), number(width), suffix, number(tf.cast(max_pixels, tf.int64))]
    pieces = [parts[0]]
    for value, part in zip(values, parts[1:]):
        pieces += [value, part]
    return tf.strings.join(pieces)


def declared_pixels_message(height, width, max_pixels):
    """`over_limit_message` in Python: the local server's check of a TensorProto's declared shape."""
    return _MESSAGE.format(height, width, "", max_pixels)


def _within(height, width, frames, max_pixels):
    # float64: a hostile header can declare 2^32 × 2^32, which overflows int64.
    total = tf.cast(height, tf.float64) * tf.cast(width, tf.float64) * tf.cast(frames, tf.float64)
    return total <= tf.cast(max_pixels, tf.float64)


def check_encoded(data, max_pixels):
    """The assertion op that refuses `data` (one encoded image) over `max_pixels` or of unknown format."""
    kind, height, width, frames = declared_size(data)
    known = tf.debugging.Assert(
        kind > _UNKNOWN,
        ["Unknown or unsupported image file format: hash_bytes accepts JPEG, PNG, GIF and BMP"],
    )
    frames_note = tf.where(
        kind == _GIF, tf.strings.join([" (up to ", tf.strings.as_string(frames), " frames)"]), ""
    )
    with tf.control_dependencies([known]):
        return tf.debugging.Assert(
            _within(height, width, frames, max_pixels),
            [over_limit_message(height, width, max_pixels, suffix=frames_note)],
        )


def check_images(images, max_pixels):
    """The assertion op that refuses uint8 images [B, H, W, C] whose H × W is over `max_pixels`.

    It reads only the shape, so a hollow tensor is refused before anything is cast or resized.
    """
    shape = tf.shape(images, out_type=tf.int64)
    height, width = shape[1], shape[2]
    return tf.debugging.Assert(
        _within(height, width, 1, max_pixels),
        [over_limit_message(height, width, max_pixels)],
    )
