"""Credentials in camera URLs: found, split, put back and hidden without leaking a character."""

from __future__ import annotations

from siaga.camera_url import has_password, has_user_only, redact_url, split_password, with_password

URL = "rtsp://admin@10.0.0.5:554/Streaming/Channels/101"


def test_url_parts() -> None:
    assert has_user_only(URL) and not has_password(URL)
    assert has_password("rtsp://admin:pw@h/s") and not has_user_only("rtsp://admin:pw@h/s")
    assert not has_user_only("rtsp://h/s") and not has_password("/var/video.mp4")
    # Special characters are percent-encoded, so the URL still parses the same way.
    got = with_password(URL, "p@ss:w/rd#1")
    assert got == "rtsp://admin:p%40ss%3Aw%2Frd%231@10.0.0.5:554/Streaming/Channels/101"
    assert redact_url(got) == "rtsp://***@10.0.0.5:554/Streaming/Channels/101"
    assert split_password(got) == (URL, "p@ss:w/rd#1")
    # A raw "@" in a password: the user part ends at the authority's last "@", nothing leaks.
    raw = "rtsp://admin:p@ss@10.0.0.5/a@b"
    assert redact_url(raw) == "rtsp://***@10.0.0.5/a@b"
    assert split_password(raw) == ("rtsp://admin@10.0.0.5/a@b", "p@ss")
    assert redact_url("rtsp://10.0.0.5/a@b") == "rtsp://10.0.0.5/a@b"  # "@" in the path only
