"""The PACS side of ``run_pipeline.py --pacs URL --study UID [--series UID]``: DICOMweb with dicomweb-client.

QIDO-RS finds the study's series (the image series with most instances unless ``--series`` names
one), WADO-RS fetches it into a temporary folder (removed at exit), and after the prediction
STOW-RS stores the landmark SR (``data.dicom_sr``) back. Nothing else is contacted.

Credentials never come from the command line: the environment variable :data:`CREDENTIALS_ENV`
or the file given by ``--pacs-credentials FILE`` holds one line, ``user:password`` (HTTP basic)
or ``Bearer TOKEN``. TLS certificates are verified (certifi's store, or ``--pacs-ca-bundle FILE``);
proxy settings and ``~/.netrc`` are ignored (the connection goes to the named server only);
``--pacs-insecure`` turns verification off, with a warning. Problems are ``InputError`` lines
naming the URL or UID: server unreachable, TLS or authentication failure, study or series not
found, store rejected.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pydicom

from data.errors import InputError

CREDENTIALS_ENV = "LANDMARK_PACS_CREDENTIALS"
TIMEOUT_S = 60.0
NON_IMAGE_MODALITIES = {"SR", "PR", "KO", "SEG", "REG", "RTSTRUCT", "RTPLAN", "RTDOSE", "DOC", "OT"}
_T = TypeVar("_T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The DICOM SR / PACS options of ``run_pipeline.py`` (``--series`` is the pipeline's own)."""
    g = parser.add_argument_group("DICOM SR and PACS (DICOMweb)")
    g.add_argument("--dicom-sr", action="store_true",
                   help="also write landmarks_sr.dcm per DICOM scan: a TID 1500 Structured Report")
    g.add_argument("--pacs", metavar="URL",
                   help="DICOMweb base URL: fetch --study (and --series) from it, predict, store the SR back")
    g.add_argument("--study", metavar="UID", help="StudyInstanceUID to fetch with --pacs")
    g.add_argument("--pacs-credentials", type=Path, metavar="FILE",
                   help=f"file with 'user:password' or 'Bearer TOKEN' (default: ${CREDENTIALS_ENV})")
    g.add_argument("--pacs-ca-bundle", type=Path, metavar="FILE", help="CA certificates to verify the PACS with")
    g.add_argument("--pacs-insecure", action="store_true", help="do not verify the PACS's TLS certificate")


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (what messages show)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _read_credentials(file: Path | None) -> str | None:
    if file is not None:
        try:
            lines = [ln.strip() for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except OSError as err:
            raise InputError(file, f"cannot read credentials: {err.strerror}") from None
        if not lines:
            raise InputError(file, "credentials file is empty")
        return lines[0]
    return os.environ.get(CREDENTIALS_ENV) or None


def make_session(url: str, credentials_file: Path | None = None, ca_bundle: Path | None = None,
                 insecure: bool = False) -> Any:
    """A ``requests.Session`` with the credentials (file or environment) and TLS verification set."""
    import requests

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(url, "not an http(s) URL")
    if parts.username or parts.password:
        raise InputError(public_url(url), f"credentials in the URL are refused: use ${CREDENTIALS_ENV} "
                                          "or --pacs-credentials FILE")
    session = requests.Session()
    session.trust_env = False  # no proxy, ~/.netrc or CA settings from the environment: only the PACS named
    secret = _read_credentials(credentials_file)
    if secret:
        if secret.lower().startswith("bearer "):
            session.headers["Authorization"] = "Bearer " + secret[7:].strip()
        elif ":" in secret:
            user, password = secret.split(":", 1)
            session.auth = (user, password)
        else:
            raise InputError(credentials_file or f"${CREDENTIALS_ENV}", "expected 'user:password' or 'Bearer TOKEN'")
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            print(f"warning: {public_url(url)}: credentials sent without TLS (http)", file=sys.stderr)
    if insecure:
        if ca_bundle is not None:
            raise InputError(ca_bundle, "--pacs-ca-bundle and --pacs-insecure exclude each other")
        print(f"warning: {public_url(url)}: TLS certificate verification is off (--pacs-insecure)", file=sys.stderr)
        session.verify = False
    elif ca_bundle is not None:
        if not ca_bundle.is_file():
            raise InputError(ca_bundle, "CA bundle not found")
        session.verify = str(ca_bundle)
    return session


def _short(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 error (``[Errno 111] Connection refused``, ...)."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] [^'\")]+", text) or re.search(r"(certificate verify failed[^'\")]*)", text)
    return (m.group(0) if m else (text.split(": ")[-1] or type(exc).__name__))[:200].strip()


class Pacs:
    """A DICOMweb server (``dicomweb_client.DICOMwebClient``) with one-line errors."""

    def __init__(self, url: str, session: Any, timeout: float = TIMEOUT_S) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.url = public_url(url)
        self.client = DICOMwebClient(url=url.rstrip("/"), session=session, timeout=timeout)
        self.client.set_http_retry_params(retry=False)

    def _call(self, what: str, fn: Callable[[], _T], not_found: tuple[str, str] | None = None) -> _T:
        """Run ``fn`` turning HTTP and connection errors into ``InputError``; 404 -> ``not_found``."""
        import requests

        try:
            return fn()
        except requests.exceptions.SSLError as exc:
            raise InputError(self.url, f"TLS certificate verification failed ({_short(exc)}); "
                                       "give the CA with --pacs-ca-bundle FILE") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise InputError(self.url, f"cannot reach the server ({_short(exc)})") from None
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            if code in (401, 403):
                raise InputError(self.url, f"{what}: access denied (HTTP {code}); check ${CREDENTIALS_ENV} "
                                           "or --pacs-credentials") from None
            if code == 404 and not_found is not None:
                raise InputError(*not_found) from None
            reason = exc.response.reason if exc.response is not None else ""
            raise InputError(self.url, f"{what}: HTTP {code} {reason}".strip()) from None

    def choose_series(self, study: str, series: str | None = None) -> str:
        """The series to fetch: ``series`` (checked to exist) or the image series with most instances."""
        missing = (study, f"study not found on {self.url}")
        found = self._call("QIDO-RS search", lambda: self.client.search_for_series(
            study_instance_uid=study, fields=["NumberOfSeriesRelatedInstances", "Modality"]), missing)
        rows = []
        for item in found or []:
            ds = pydicom.Dataset.from_json(item)
            rows.append((str(ds.get("SeriesInstanceUID", "")), str(ds.get("Modality", "")),
                         int(ds.get("NumberOfSeriesRelatedInstances", 0) or 0)))
        if not rows:
            raise InputError(*missing)
        if series is not None:
            if series not in {r[0] for r in rows}:
                raise InputError(series, f"series not found in study {study} on {self.url}")
            return series
        images = [r for r in rows if r[1] not in NON_IMAGE_MODALITIES]
        if not images:
            raise InputError(study, f"no image series in the study on {self.url}")
        return max(images, key=lambda r: r[2])[0]

    def fetch_series(self, study: str, series: str, folder: Path) -> int:
        """WADO-RS: write every instance of the series into ``folder``; returns their number."""
        folder.mkdir(parents=True, exist_ok=True)

        def fetch() -> int:
            n = 0
            for n, ds in enumerate(self.client.iter_series(study, series), 1):
                pydicom.dcmwrite(folder / f"{n:05d}.dcm", ds, enforce_file_format=True)
            return n

        count = self._call("WADO-RS retrieve", fetch, (series, f"series not found on {self.url}"))
        if count == 0:
            raise InputError(series, f"series has no instances on {self.url}")
        return count

    def store(self, path: str | Path, confirm_s: float = 5.0) -> str:
        """STOW-RS one DICOM file into its study; returns its SOPInstanceUID.

        ``InputError`` when the store is rejected: an HTTP error, a Failed SOP Sequence item, or an
        acknowledged instance that QIDO-RS does not find within ``confirm_s`` seconds (some
        archives, Orthanc's filters among them, acknowledge instances they then discard).
        """
        ds = pydicom.dcmread(path)
        uid, study, series = str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        what = f"STOW-RS store of {uid} rejected"
        response = self._call(what, lambda: self.client.store_instances([ds], study_instance_uid=study))
        failed = list(response.get("FailedSOPSequence", [])) if response is not None else []
        if failed:
            raise InputError(self.url, f"{what} (failure reason {failed[0].get('FailureReason', 'unknown')})")
        refs = (response or {}).get("ReferencedSOPSequence", [])
        if refs and uid not in {str(r.get("ReferencedSOPInstanceUID", "")) for r in refs}:
            raise InputError(self.url, f"{what}: not in the server's answer")
        deadline = time.monotonic() + confirm_s
        while True:
            found = self._call("QIDO-RS check after STOW-RS", lambda: self.client.search_for_instances(
                study_instance_uid=study, series_instance_uid=series, search_filters={"SOPInstanceUID": uid}),
                not_found=(self.url, f"{what}: acknowledged but not stored"))
            if found:
                return uid
            if time.monotonic() > deadline:
                raise InputError(self.url, f"{what}: acknowledged but not stored")
            time.sleep(0.5)


class PacsRun:
    """One ``--pacs`` run: the fetched series in a temporary folder (removed at exit), and the store."""

    def __init__(self, pacs: Pacs, study: str, series: str | None) -> None:
        self.pacs, self.study = pacs, study
        self.series = pacs.choose_series(study, series)
        tmp = tempfile.mkdtemp(prefix="landmark-cascade-pacs-")
        weakref.finalize(self, shutil.rmtree, tmp, ignore_errors=True)
        self.scan = Path(tmp) / self.series  # the case folder is named after the series
        print(f"PACS {pacs.url}: fetching series {self.series} of study {study}", file=sys.stderr)
        count = pacs.fetch_series(study, self.series, self.scan)
        print(f"    {count} instances", file=sys.stderr)

    def store(self, path: str | Path) -> str:
        """Store the SR at ``path`` back to the PACS; returns its SOPInstanceUID."""
        uid = self.pacs.store(path)
        print(f"    -> SR {uid} stored to {self.pacs.url}", file=sys.stderr)
        return uid


def open_from_args(args: argparse.Namespace) -> PacsRun | None:
    """``None`` without ``--pacs``; else check the options, find and fetch the series (``InputError`` on failure)."""
    if args.pacs is None:
        if args.study is not None:
            raise InputError("--study", "needs --pacs URL")
        return None
    if args.scans:
        raise InputError(args.scans[0], "give either scans or --pacs, not both")
    if not args.study:
        raise InputError(public_url(args.pacs), "--pacs needs --study UID")
    session = make_session(args.pacs, args.pacs_credentials, args.pacs_ca_bundle, args.pacs_insecure)
    return PacsRun(Pacs(args.pacs, session), args.study, args.series)
