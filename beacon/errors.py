"""The root of every error raised by the pure collection logic."""


class BeaconError(Exception):
    """Base class for errors raised by `beacon`."""


class InvalidToken(BeaconError):
    """An e-mail open or click token is forged, tampered with, expired or unknown."""


class InvalidInput(BeaconError):
    """A hit's input has the wrong shape; the message says what is wrong.

    `reason` is the label the collector counts the refusal under (`ashiato_rejected_total`),
    so a dashboard can tell malformed bodies from, say, overflowing numbers.
    """

    def __init__(self, message: str, reason: str = "bad_body") -> None:
        super().__init__(message)
        self.reason = reason
