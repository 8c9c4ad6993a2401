"""Live view: the shared JPEG feed (MJPEG, snapshots) and WebRTC packet passthrough.

- :mod:`vigil.streaming.live`: one JPEG encode per frame, shared by every viewer, made only
  while someone watches;
- :mod:`vigil.streaming.live_decoder`: decodes a ``live`` input that detection doesn't decode;
- :mod:`vigil.streaming.mjpeg`: the ``multipart/x-mixed-replace`` response;
- :mod:`vigil.streaming.webrtc`: H.264 packets to WebRTC viewers, with no re-encode.
"""
