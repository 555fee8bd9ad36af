"""OneDrive transfers through microsoft.onedrive against the emulator: a 20 MB upload, then 200 downloads.

Run: .venv/bin/python bench/onedrive_transfer.py   (starts its own emulator; no database)
The upload goes through an upload session in 5 MiB fragments with a user's delegated token; the downloads follow
the 302 to the pre-authenticated URL and stream to a temporary file, one after the other, as a worker would.
Then the comparison with the floor (issue's `onedrive_transfer_ratio`): BENCH_UPLOADS more uploads of 20 MB (default
10; the issue asks 50) and the same downloads again, each through microsoft.onedrive and by bare `requests` on one
session (upload session and fragment PUTs; GET content following the redirect, streamed), in the same run. Memory:
the process's peak RSS, against what it held before the transfers plus three fragments (flat: nothing held per
file or per byte).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, django_start_sqlite  # noqa: E402

UPLOAD_BYTES = int(os.environ.get("BENCH_UPLOAD_BYTES", 20 * 1000 * 1000))
DOWNLOADS = int(os.environ.get("BENCH_DOWNLOADS", 200))
DOWNLOAD_BYTES = int(os.environ.get("BENCH_DOWNLOAD_BYTES", 500 * 1000))  # a scanned page or a short document
USER = "adele.vance@contoso.onmicrosoft.com"
DEVICE_APP = "7e570001-0000-4000-8000-000000000001"  # public test app: device code, approved by the control API
TARGET_UPLOAD_SECONDS = 5.0  # a 20 MB scan lands within seconds of its delivery
TARGET_DOWNLOAD_MS = 100.0  # printing a page of OneDrive files starts without a noticeable wait
TARGET_PEAK_FRAGMENTS = 2.5  # memory held during the upload, in fragments
UPLOADS = int(os.environ.get("BENCH_UPLOADS", 10))
TARGET_RATIO = 1.5


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _against_floor(handle: object, token: str, source_path: Path, ids: list[str]) -> tuple[float, float]:
    """Seconds for UPLOADS uploads of the scan and the downloads of `ids`: through microsoft.onedrive, then bare."""
    from microsoft import onedrive as od

    size = source_path.stat().st_size
    begin = time.perf_counter()
    for n in range(UPLOADS):
        with source_path.open("rb") as source:
            od.file_upload(token=token, folder_path="/Scans", name=f"portal {n}.pdf", source=source, size=size)
    for item_id in ids:
        with tempfile.TemporaryFile() as target:
            od.file_download(token=token, item_id=item_id, destination=target, max_bytes=DOWNLOAD_BYTES)
    portal = time.perf_counter() - begin

    session = handle.session()  # type: ignore[attr-defined]
    graph = f"{handle.graph_url}/v1.0/me/drive"  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {token}"}
    begin = time.perf_counter()
    for n in range(UPLOADS):
        created = session.post(f"{graph}/root:/Scans/bare {n}.pdf:/createUploadSession", headers=auth, json={})
        created.raise_for_status()
        url = created.json()["uploadUrl"]
        with source_path.open("rb") as source:
            offset = 0
            while offset < size:
                chunk = source.read(od.FRAGMENT_SIZE)
                end = offset + len(chunk) - 1
                session.put(
                    url, data=chunk, headers={"Content-Range": f"bytes {offset}-{end}/{size}"}
                ).raise_for_status()
                offset += len(chunk)
    for item_id in ids:
        with session.get(f"{graph}/items/{item_id}/content", headers=auth, stream=True) as response:
            response.raise_for_status()
            with tempfile.TemporaryFile() as target:
                for block in response.iter_content(1024 * 1024):
                    target.write(block)
    floor = time.perf_counter() - begin
    print(
        f"{UPLOADS} uploads of {size:,} bytes and {len(ids)} downloads: microsoft.onedrive {portal:.2f} s, bare "
        f"requests {floor:.2f} s ({portal / floor:.2f}x)"
    )
    return portal, floor


def delegated_token(handle: object) -> str:
    import msal

    app = msal.PublicClientApplication(
        DEVICE_APP,
        authority=f"{handle.https_url}/organizations",  # type: ignore[attr-defined]
        instance_discovery=False,
        http_client=handle.session(),  # type: ignore[attr-defined]
    )
    flow = app.initiate_device_flow(scopes=["Files.ReadWrite"])
    handle.control.approve_device_code(flow["user_code"], USER)  # type: ignore[attr-defined]
    return str(app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)["access_token"])


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    work = Path(tempfile.mkdtemp(prefix="bench-onedrive-"))
    with start_emulator(SEED, work / "emulator") as handle:
        os.environ.update(portal_environment(handle, SEED))
        django_start_sqlite(work, migrate=False)  # it stores nothing: Django only for the settings
        run(handle, work)


def run(handle: object, work: Path) -> None:
    from microsoft import onedrive as od

    token = delegated_token(handle)
    source_path = work / "scan.pdf"
    with source_path.open("wb") as target:
        for offset in range(0, UPLOAD_BYTES, 1024 * 1024):
            target.write(os.urandom(min(1024 * 1024, UPLOAD_BYTES - offset)))

    with source_path.open("rb") as source:
        tracemalloc.start()
        begin = time.perf_counter()
        item = od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=UPLOAD_BYTES)
        upload_seconds = time.perf_counter() - begin
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert item.size == UPLOAD_BYTES
    print(f"upload: {UPLOAD_BYTES:,} bytes in {upload_seconds:.2f} s, peak memory {peak:,} bytes")

    ids = [
        handle.control.onedrive_put_file(USER, f"/Bench/file {n}.pdf", size=DOWNLOAD_BYTES, seed=n)["id"]  # type: ignore[attr-defined]
        for n in range(DOWNLOADS)
    ]
    begin = time.perf_counter()
    for item_id in ids:
        with tempfile.TemporaryFile(dir=work) as target:
            od.file_download(token=token, item_id=item_id, destination=target, max_bytes=DOWNLOAD_BYTES)
    download_ms = (time.perf_counter() - begin) * 1000 / DOWNLOADS
    print(f"downloads: {DOWNLOADS} files of {DOWNLOAD_BYTES:,} bytes, {download_ms:.1f} ms each")

    rss_before = _peak_rss_mb()
    portal, floor = _against_floor(handle, token, source_path, ids)
    rss = _peak_rss_mb()
    print(f"peak RSS {rss:.0f} MB (before the transfers {rss_before:.0f} MB)")

    print(f"RESULT onedrive_upload_20mb {upload_seconds:.2f} s target {TARGET_UPLOAD_SECONDS}")
    print(f"RESULT onedrive_transfer_ratio {portal / floor:.2f} x target {TARGET_RATIO}")
    print(f"RESULT onedrive_peak_rss_mb {rss:.0f} MB target {rss_before + 3 * od.FRAGMENT_SIZE / 1e6:.0f}")
    print(f"RESULT onedrive_upload_peak_memory {peak / od.FRAGMENT_SIZE:.2f} fragments target {TARGET_PEAK_FRAGMENTS}")
    print(f"RESULT onedrive_download_each {download_ms:.1f} ms target {TARGET_DOWNLOAD_MS}")


if __name__ == "__main__":
    main()
