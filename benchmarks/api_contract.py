"""What checking API answers against the contract costs at city scale (issue 21).

The summary routes declare central/contract models as response models; FastAPI validates and
serialises what a route returns unless it returns a Response. For N camera summaries (the shape
of a real pass's payload) this times, over real HTTP on uvicorn (the service's ApiServer):

- untyped: the list returned with no response model (the API before the contract: FastAPI
  serialises it itself), the baseline;
- checked: the same list through response_model=list[CameraSummary] (validated, then
  serialised: what the smaller summary routes do);
- to_json: a Response of pydantic_core.to_json(list) (what /summaries/camera and /cameras do:
  the model only documents them, the tests check them against docs/schema);
- json: a JSONResponse (the standard library's json).

Ratios are against the baseline in the same run; absolute times depend on the machine.

    python -m benchmarks.api_contract [--cameras 16400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import httpx
import pydantic_core
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from central.contract import CameraSummary
from central.service import ApiServer


def camera_payload(i: int) -> dict[str, Any]:
    """A camera summary as central publishes it (fields of a real pass)."""
    period = {"from": "2025-06-10T09:40:00+07:00", "to": "2025-06-10T10:00:00+07:00",
              "windows": 20, "people_seen": 120, "masked": 80, "unmasked": 30, "judged": 110,
              "not_judged": 10, "unsuitable_people": 0, "compliance": 0.7273,
              "interval": {"method": "wilson", "level": 0.95, "low": 0.64, "high": 0.8, "n": 110},
              "corrected": None}  # fmt: skip
    return {"schema": "siaga.summary/1", "level": "camera", "code": f"box{i}/cam1",
            "name": f"Kamera {i}", "agent_id": f"box{i}", "camera_id": "cam1",
            "kelurahan_code": "33.74.01.1001", "kecamatan_code": "33.74.01", "registered": True,
            "kelurahan_mismatch": False, "suitable": True, "calibration_version": None,
            "computed_at": "2025-06-10T10:00:00+07:00", "timezone": "Asia/Jakarta",
            "min_people_for_ratio": 20, "include_unsuitable_cameras": False,
            "periods": {"recent": period, "today": period, "7d": period},
            "cameras": {"expected": 1, "reporting": 1},
            "freshness": {"newest_window_end": "2025-06-10T09:59:00+07:00", "age_s": 60.0,
                          "stale_after_s": 300.0}}  # fmt: skip


def app(payloads: list[dict[str, Any]]) -> FastAPI:
    a = FastAPI()

    @a.get("/json")
    def stdlib() -> Any:
        return JSONResponse(payloads)

    @a.get("/to_json")
    def fast() -> Any:
        return Response(pydantic_core.to_json(payloads), media_type="application/json")

    @a.get("/checked", response_model=list[CameraSummary], response_model_exclude_unset=True)
    def checked() -> Any:
        return payloads

    @a.get("/untyped")
    def untyped() -> Any:
        return payloads

    return a


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16_400)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    payloads = [camera_payload(i) for i in range(args.cameras)]
    server = ApiServer(app(payloads), "127.0.0.1", 0)
    server.start()
    try:
        times: dict[str, list[float]] = {"untyped": [], "checked": [], "to_json": [], "json": []}
        with httpx.Client(base_url=server.url, timeout=120) as c:
            for _ in range(args.repeat):
                for name in times:
                    t0 = time.perf_counter()
                    body = c.get(f"/{name}").content
                    times[name].append(time.perf_counter() - t0)
                    assert len(json.loads(body)) == args.cameras
    finally:
        server.stop()
    base = statistics.median(times["untyped"])
    print(f"{args.cameras} camera summaries over HTTP, median of {args.repeat}:")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:8s} {m * 1000:8.0f} ms  ×{m / base:.2f}")


if __name__ == "__main__":
    main()
