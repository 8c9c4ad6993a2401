"""Cameras at runtime: each camera's supervisor, its inputs and their reader threads, and the
manager that starts, stops, adds and removes cameras.

The threads a camera has, who starts them and when each stops:

- ``vigil-cam-{camera}-{roles}``: one per input and start
  (:class:`~vigil.camera.reader.InputReader`). It opens the input with PyAV, demuxes,
  publishes packets to the input's hub and reconnects with backoff. It stops when its
  ``stop_event`` is set; one blocked in a connect or DNS past ``STOP_TIMEOUT`` (2 s) is
  abandoned: its hub token is revoked, so it publishes and reports nothing more, and it
  ends at its own timeout.
- ``vigil-cam-{camera}-recorder``: one per recording camera
  (:class:`~vigil.recording.recorder.Recorder`). It cuts the record input's packets into
  segments, and stops when the input's hub closes (the camera stops), after closing its
  segment.
- ``vigil-detect-{camera}``: one per detecting camera
  (:class:`~vigil.pipeline.detector.Detector`). It decodes the detect input, runs motion,
  stores events and triggers the recorder; it stops on ``stop()`` or when its hub closes.
- ``vigil-live-{camera}``: only while MJPEG or snapshot viewers watch a ``live`` input that
  detection doesn't decode (:class:`~vigil.streaming.live_decoder.LiveDecoder`, started by
  :mod:`vigil.camera.live_view`). It stops when the last such viewer leaves, or the camera
  stops.
- ``vigil-retire``: a short timer per finished connection
  (:func:`~vigil.camera.reader.retire`). It closes the connection's container 10 s after
  its reader let it go, then ends.

Shared by every camera: ``vigil-monitor`` (the manager's: it samples figures and runs the
stall watchdogs and the governor once a second, and stops with the manager), and the
analysis pool (``vigil-analysis_N``, :mod:`vigil.media.pools`: motion and JPEG encodes,
daemon threads). WebRTC viewers have no thread: their relay runs on the live input's
reader thread.
"""
