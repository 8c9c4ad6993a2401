"""``vigil bench``: CPU and memory per camera, against the simulator in its own process.

- :mod:`vigil.bench.profiles`: every profile, in the registry the CLI's help comes from;
- :mod:`vigil.bench.measure`: how a load is measured (warm-up, CPU, memory, figures);
- :mod:`vigil.bench.load`: what a load is; :mod:`vigil.bench.loads`: vigil's own and the
  bare-demux floor; :mod:`vigil.bench.ffmpeg` and :mod:`vigil.bench.bare`: the reference
  loads (ffmpeg processes, plain PyAV threads);
- :mod:`vigil.bench.live` and :mod:`vigil.bench.retention`: profiles with runs of their own.

"Per camera" is vigil's process CPU (all threads, % of one core) divided by the number of
cameras; the simulator's CPU is measured apart, on its process.
"""
