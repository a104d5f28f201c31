"""Cameras per box: the real agent on N live streams, decoding included.

What a city pays for is boxes, and a box's capacity is cameras per core. This runs what a
technician would: N H.264 streams served in real time over HTTP MPEG-TS by ffmpeg on loopback
(`ffmpeg -re -stream_loop -1 -i CLIP -c copy -f mpegts -listen 1 http://127.0.0.1:PORT`, one
process per stream, packets copied, never re-encoded; their CPU is reported apart), one agent
daemon (`python -m siaga agent run`) with N cameras, detect_fps = 5, a real Mosquitto on
loopback, for N = 4, 8, 12, 16, … until the agent fails to hold 95 % of detect_fps on every
camera (then the gap to the last good N is halved; the sweep ends at its second failure).

Streams: the 1280×720 25 fps clip `$SIAGA_SHARED/video/gituatu_nomask.mp4` as is (a camera's main
stream), and substreams made from it once by ffmpeg into a temporary folder (640×360 at 25 fps,
`--variants 360p25`; any `<height>p<fps>`).

Per N, over a measured interval after a warm-up: the agent's CPU (cores, /proc) in all and per
camera, split by stage (decode, convert, preprocess, inference, track) where the agent's metrics
endpoint has `siaga_agent_stage_cpu_seconds_total` (agents before issue 18 do not: their total
alone is given); detect fps reached per camera; frames read per second (a stream the capture
cannot keep up with reads fewer than 25); frames dropped where the agent counts them; inference
ms; RSS; the ffmpeg servers' CPU; what else the machine ran meanwhile ("other", cores); and the
cameras the agent's status calls overloaded. The bare model's rate (`session.run` on a prepared
frame, one thread) is measured in the same run, at its start and its end.

The floor (`floor.py`, after the sweeps; `--no-floor` skips it): at each largest N a
configuration of the tree under test held, a minimal agent on fresh servers of the same streams
decodes every frame, converts the sampled ones and runs the model on as many frames a second as
that configuration inferred, and does nothing else. Its CPU per camera is the least any agent
with this decoder and model could pay on this machine; 1 / floor is the ceiling of cameras per
core, reported beside the agent (x_floor) and, with a baseline, against the baseline's cameras
per core (ceiling_vs_before: the most any agent could gain over it here).

`--compare TREE` runs a baseline source tree's agent in the same invocation, next to each of
this tree's configurations it shares (each `--gates` setting of `--compare-variants`):

    git archive b3aaa38 | tar -x -C /tmp/siaga_before
    python -m benchmarks.cameras_per_box --compare /tmp/siaga_before [--measure-s 30] [--quick]

RTSP (`--variants 720p25/rtsp`): Debian's rtsp-server-perl relays streams ffmpeg publishes to
it, packets copied, over RTP on UDP (it refuses interleaved TCP, so the agent runs with
OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;udp). It is not in `make sysdeps`; the variant
says so when the server is missing. MediaMTX, the usual test server, has no Debian package.

Columns: cores per camera split by stage, and "rest": the agent's CPU no stage's thread
accounts for (onnxruntime's thread pool spinning between runs, the publisher, the interpreter).

Writes out/bench/cameras_per_box.json and .md (the sizing table for docs/deployment.md) and
prints a table. Every step is bounded (start-up 60 s, `--budget-min` for the whole run), and
every server, agent and broker is stopped on exit, error, Ctrl-C or SIGTERM.
"""
