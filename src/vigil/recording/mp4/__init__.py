"""MP4 (ISO/IEC 14496-12) as a segment's close needs it, with no demuxing or muxing:

- :mod:`~vigil.recording.mp4.boxes`: box headers, read and written;
- :mod:`~vigil.recording.mp4.fragments`: a fragmented file's tracks and samples, read
  from its ``moov`` and each fragment's ``trun``;
- :mod:`~vigil.recording.mp4.moov`: the fast-start ``moov`` of those samples (sample tables,
  durations, edits).

:mod:`vigil.recording.faststart` puts them together. Anything they don't understand raises
:class:`ValueError`.
"""
