#!/usr/bin/python3
"""Loupe's Aravis helper: opens one GenICam camera (GigE Vision, USB3 Vision, or Aravis's fake
camera) with the settings Loupe passes as JSON in argv[1], and streams what happens on stdout:
one JSON line per event, a frame's line followed by its raw pixel bytes. Lines on stdin are
commands: "trigger" fires TriggerSoftware. It exits (and Loupe opens it again) when the camera
stops answering. Why Python: Aravis's GObject API through PyGObject gives the trigger, the
frame ids and the buffer status, which the GStreamer element does not."""
import json
import sys
import threading
import time

import gi

gi.require_version("Aravis", "0.8")
from gi.repository import Aravis  # noqa: E402

out = sys.stdout.buffer
lock = threading.Lock()


def emit(event, data=b""):
    line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    with lock:
        out.write(line)
        if data:
            out.write(data)
        out.flush()


def main():
    settings = json.loads(sys.argv[1])
    Aravis.enable_interface("Fake")  # the built-in fake camera, "Fake_1", for tests without a network
    device = settings.get("device")
    try:
        camera = Aravis.Camera.new(device)
    except Exception as error:  # noqa: BLE001
        emit({"t": "error", "message": f"cannot open camera {device or '(first found)'}: {error}"})
        return 2
    if camera.is_gv_device():
        # As root, Aravis would read the stream through a packet socket, which sees nothing on
        # loopback; the plain UDP socket works everywhere, with an automatic buffer size.
        camera.gv_set_stream_options(Aravis.GvStreamOption.PACKET_SOCKET_DISABLED)
        camera.gv_set_packet_size(settings.get("packetSize", 1400))
    mode = settings["mode"]
    if settings.get("pixelFormat"):
        camera.set_pixel_format_from_string(settings["pixelFormat"])
    roi = settings.get("roi")
    if roi:
        camera.set_region(roi.get("x", 0), roi.get("y", 0), roi["width"], roi["height"])
    if settings.get("exposureUs") is not None:
        if camera.is_exposure_auto_available():
            camera.set_exposure_time_auto(Aravis.Auto.OFF)
        camera.set_exposure_time(settings["exposureUs"])
    if settings.get("gain") is not None:
        if camera.is_gain_auto_available():
            camera.set_gain_auto(Aravis.Auto.OFF)
        camera.set_gain(settings["gain"])
    if mode == "software":
        camera.set_trigger("Software")
    elif mode == "hardware":
        camera.set_trigger(settings.get("triggerSource", "Line1"))
    else:
        camera.clear_triggers()
        if settings.get("frameRate"):
            camera.set_frame_rate(settings["frameRate"])
    x, y, width, height = camera.get_region()
    pixel_format = camera.get_pixel_format_as_string()
    payload = camera.get_payload()
    stream = camera.create_stream(None, None)
    if camera.is_gv_device():
        stream.set_property("socket-buffer", Aravis.GvStreamSocketBuffer.AUTO)
    for _ in range(8):
        stream.push_buffer(Aravis.Buffer.new_allocate(payload))
    camera.start_acquisition()
    time.sleep(0.2)  # the stream thread is ready before the first trigger is taken
    emit({"t": "open", "id": camera.get_device_id() if hasattr(camera, "get_device_id") else device, "model": camera.get_model_name(), "width": width, "height": height, "pixelFormat": pixel_format})

    failed = []

    def commands():
        for line in sys.stdin:
            if line.strip() == "trigger":
                try:
                    camera.software_trigger()
                except Exception as error:  # noqa: BLE001
                    failed.append(str(error))
                    return
        failed.append("stdin closed")

    threading.Thread(target=commands, daemon=True).start()

    last_id = None
    last_beat = 0.0
    while not failed:
        buffer = stream.timeout_pop_buffer(200_000)
        now = time.monotonic()
        if now - last_beat > 0.5:
            # A heartbeat that asks the camera something: a camera unplugged stops answering.
            try:
                camera.get_pixel_format()
            except Exception as error:  # noqa: BLE001
                emit({"t": "error", "message": f"camera stopped answering: {error}"})
                return 3
            emit({"t": "beat"})
            last_beat = now
        if buffer is None:
            continue
        status = buffer.get_status()
        frame_id = buffer.get_frame_id()
        if status == Aravis.BufferStatus.SUCCESS:
            gap = 0 if last_id is None or frame_id <= last_id else frame_id - last_id - 1
            data = buffer.get_data()
            emit({"t": "frame", "id": frame_id, "width": buffer.get_image_width(), "height": buffer.get_image_height(), "pixelFormat": pixel_format, "missed": gap, "bytes": len(data)}, data)
            last_id = frame_id
        else:
            emit({"t": "dropped", "id": frame_id, "status": status.value_nick})
            last_id = frame_id
        stream.push_buffer(buffer)
    emit({"t": "error", "message": failed[0]})
    camera.stop_acquisition()
    return 1


if __name__ == "__main__":
    sys.exit(main())
