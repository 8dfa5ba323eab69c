"""TC strings for the tests: published examples, and strings derived from them field by field."""

from __future__ import annotations

from collections.abc import Iterable

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Published in IAB Tech Lab's iabtcf-java decoder tests, with what it decodes to.
IAB_PURPOSES_2_10 = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"  # CMP 675, purpose 1 treatment
IAB_PURPOSES_3_TO_9 = (
    "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA"
)
IAB_ALL_SEGMENTS = IAB_PURPOSES_3_TO_9 + ".IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg="
IAB_VENDOR_RANGES = (
    "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIA"
    "AAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw"
)
# Published in Prebid.js's tests of its TCF utilities: purposes 1-10 granted or not.
PREBID_ODD = "CPh7_cXPh7_cXKMAAAENCZCAAKqAAAAAAAAAAAAAAAAA"  # 1, 3, 5, 7, 9
PREBID_EVEN = "CPh8CeXPh8CeXMgAAAENCZCAAFVAAAAAAAAAAAAAAAAA"  # 2, 4, 6, 8, 10
PREBID_ALL = "CPh8CoIPh8CoINYAAAENCZCAAP_AAAAAAAAAAAAAAAAA"  # 1-10
PREBID_NONE = "CPh8CjOPh8CjOEZAAAENCZCAAAAAAAAAAAAAAAAAAAAA"
# A TCF v1.1 string, published in IAB Tech Lab's iabtcf-es tests.
IAB_V1 = (
    "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9yfk1"
    "-5ctDztp507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA"
)

POLICY_VERSION = (132, 6)
PURPOSES_CONSENT = (152, 24)


def with_field(tc: str, field: tuple[int, int], value: int) -> str:
    """`tc` with one core-segment field (offset, width in bits) set to `value`."""
    core, *rest = tc.split(".")
    bits = "".join(f"{B64.index(c):06b}" for c in core)
    offset, width = field
    bits = bits[:offset] + f"{value:0{width}b}" + bits[offset + width :]
    core = "".join(B64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    return ".".join([core, *rest])


def granting(purposes: Iterable[int], policy_version: int = 4) -> str:
    """A TCF v2.2 string (policy version 4 by default) whose visitor consented to `purposes`."""
    bits = sum(1 << (24 - p) for p in purposes)
    consented = with_field(PREBID_NONE, PURPOSES_CONSENT, bits)
    return with_field(consented, POLICY_VERSION, policy_version)
