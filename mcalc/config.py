"""The one place for mcalc's configuration: paths, sizes and defaults.

Every value has a default that works on a fresh clone and can be overridden by an
environment variable (named beside each field). Code reads settings through
:func:`get_settings`; tests build their own :class:`Settings`. User data (demo set, store,
runs, models) lives in the clone; caches, which can be rebuilt, live in a per-user folder.
:func:`prepare_tensorflow` sets TensorFlow's environment before it is first imported.
"""

from __future__ import annotations

import ctypes.util
import functools
import glob
import os
import re
import shlex
import sys
import tempfile
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "Settings",
    "get_settings",
    "default_cache_dir",
    "prepare_tensorflow",
    "REPO_ROOT",
    "VIEWS",
    "TIMEPOINTS",
    "AUTH_CHOICES",
    "READS_CHOICES",
    "PathRefused",
    "check_data_path",
    "named_folder",
    "models_folder",
]

#: The clone: user data lives in it by default (mcalc is installed editable, ``pip install -e .``).
REPO_ROOT = Path(__file__).resolve().parent.parent

VIEWS: tuple[str, ...] = ("CC", "MLO")
TIMEPOINTS: tuple[str, ...] = ("prior", "recent")


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mcalc``, or ``~/.cache/mcalc`` (the XDG base directory default)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "mcalc"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Paths and defaults of one mcalc installation.

    Attributes:
        data_dir: dataset to open (real layout folder, manifest CSV or folder holding
            ``manifest.csv``). ``None`` means the synthetic demo set. Env ``MCALC_DATA``.
        demo_dir: where the synthetic demo set lives / is generated. Env ``MCALC_DEMO_DIR``.
        models_dir: the model registry. Env ``MCALC_MODELS``.
        runs_dir: training job folders. Env ``MCALC_RUNS``.
        cache_dir: every cache mcalc writes (decoded images, prediction results, model
            evaluations); safe to delete. Default :func:`default_cache_dir`, outside
            the clone. Env ``MCALC_CACHE``.
        store_dir: readers' annotations and audits. Env ``MCALC_STORE``.
        preview_max_side: longest side, in pixels, of the downsampled overview sent to
            the browser. Env ``MCALC_PREVIEW_MAX_SIDE``.
        default_pixel_spacing_mm: spacing assumed (and flagged) when a file has none.
        demo_cases: number of cases of the generated demo set.
        demo_seed: seed of the generated demo set.
        max_jobs: training jobs run at once by the app's job queue; later ones wait.
            Env ``MCALC_MAX_JOBS``.
        users_file: the accounts (user names, roles, bcrypt password hashes). Env
            ``MCALC_USERS``.
        auth: ``auto`` (sign-in required as soon as a real dataset is in use or accounts
            exist; the synthetic demo alone runs without), ``on`` or ``off`` (the operator
            turns accounts off explicitly; every page says so). Env ``MCALC_AUTH``.
        independent_reads: ``off``, ``on`` (another reader's verdicts and marks on an
            image are hidden from a signed-in reader until they have recorded their own)
            or ``strict`` (hidden from readers throughout); admins see all
            (:mod:`mcalc.access.reads`). Env ``MCALC_INDEPENDENT_READS``.
        data_roots: folders that datasets may be opened from (besides the demo folder and
            ``data_dir``); empty: only those two. Env ``MCALC_DATA_ROOTS``, separated by
            ``os.pathsep`` (``:``).
        warm_tensorflow: the app imports TensorFlow in a background thread when it starts,
            then loads and traces the registry's first model (Predict's default)
            (:mod:`mcalc.models.warmup`). Env ``MCALC_WARM_TF`` (``0`` turns it off).
        fullres_cache_mb: bound of the encoded full-resolution images the app keeps for
            the reading viewer, shared by all sessions (:mod:`mcalc.present.fullres`;
            27 MB per 4096x3328 image in ``raw16``, about 14 MB in ``zlib-delta16``); 0
            keeps none. Env ``MCALC_FULLRES_CACHE_MB``.
        fullres_codec: how full-resolution images travel to the viewer: ``auto`` (the
            default: ``raw16`` for a browser on this machine, ``zlib-delta16`` for any
            other or behind a proxy; :func:`mcalc.present.fullres.codec_for`),
            ``zlib-delta16`` (about 55 % of the values' bytes, encoded in the background
            and inflated in a worker) or ``raw16`` (uint16 as they are: nothing to encode
            nor inflate, twice the bytes; docs/measurements.md). Env
            ``MCALC_FULLRES_CODEC``.
        fullres_prefetch: encode a shown case's images for full resolution in the
            background, before the reader zooms. Env ``MCALC_FULLRES_PREFETCH`` (``0``
            turns it off).
        ray_address: the Ray cluster the Batch page's ``ray`` engine joins (``None``: a
            local instance). Env ``MCALC_RAY_ADDRESS``. The operator's choice, not a page's
            field: Ray trades pickles with its cluster, so joining one someone named could
            run their code in this server's process (Ray's security notes).
        run_log: when set, the app server appends one JSON line per script run (its
            session, start, wall and CPU seconds) to this file, for ``bench/load.py``
            (:func:`pages.server_tuning.log_script_runs`). Env ``MCALC_RUN_LOG``.
        analyses_cache_mb: bound of the finished Predict analyses the app keeps in memory,
            shared by all sessions (:class:`mcalc.explain.runs.SharedAnalyses`); 0 keeps
            none. Env ``MCALC_ANALYSES_CACHE_MB``.
        analyse_ahead: Predict's analyses made before the reader asks, in the background
            (:mod:`mcalc.explain.ahead`): the case Predict opens with, after the warm-up
            (which must be on), and the case after the one on screen; never beside a run
            the reader asked for. Env ``MCALC_ANALYSE_AHEAD`` (``0`` turns it off).
        progress_every: seconds between two progress lines of a command whose standard
            error is not a terminal (a log file, ``nohup``, a batch system, an app job's
            log; on a terminal the bar is redrawn in place); 0 writes none.
            Env ``MCALC_PROGRESS_EVERY``.
    """

    data_dir: Path | None = None
    demo_dir: Path = REPO_ROOT / "data" / "demo"
    models_dir: Path = REPO_ROOT / "models"
    runs_dir: Path = REPO_ROOT / "data" / "runs"
    cache_dir: Path = field(default_factory=default_cache_dir)
    store_dir: Path = REPO_ROOT / "data" / "annotations"
    preview_max_side: int = 1024
    default_pixel_spacing_mm: float = 0.07
    demo_cases: int = 12
    demo_seed: int = 0
    max_jobs: int = 1
    users_file: Path = REPO_ROOT / "data" / "users.yaml"
    auth: str = "auto"
    independent_reads: str = "off"
    data_roots: tuple[Path, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    warm_tensorflow: bool = True
    fullres_cache_mb: int = 256
    fullres_prefetch: bool = True
    fullres_codec: str = "auto"
    run_log: Path | None = None
    ray_address: str | None = None
    analyses_cache_mb: int = 256
    analyse_ahead: bool = True
    progress_every: int = 30

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (for tests and CLI flags)."""
        return replace(self, **changes)


#: Environment variables outside ``MCALC_*`` that :func:`get_settings` reads (the home
#: folder behind ``~`` and the default cache folder).
_SETTINGS_ENV_ALSO = ("HOME", "XDG_CACHE_HOME")
_SETTINGS_LOCK = threading.Lock()
_SETTINGS_MEMO: dict[tuple[tuple[str, str], ...], Settings] = {}


def _settings_env() -> tuple[tuple[str, str], ...]:
    """What of the environment :func:`get_settings` depends on: every ``MCALC_*`` variable
    and :data:`_SETTINGS_ENV_ALSO`, as sorted pairs."""
    return tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith("MCALC_") or k in _SETTINGS_ENV_ALSO
        )
    )


def get_settings() -> Settings:
    """Settings from the environment, over the defaults.

    Made once per state of the environment it reads (every ``MCALC_*`` variable, ``HOME``,
    ``XDG_CACHE_HOME``) and given again while that state lasts: the app asks 20 times and
    more per script run, and building one read some 25 variables and made a dozen paths each
    time (5 ms of a Browse rerun's 88 ms under a profiler, 6 December 2026). A changed
    variable (a test's ``monkeypatch.setenv``, a server started otherwise) makes a new one.
    An invalid value raises every time it is asked for, as before.
    """
    env = _settings_env()
    with _SETTINGS_LOCK:
        hit = _SETTINGS_MEMO.get(env)
    if hit is not None:
        return hit
    made = _settings_from_env()
    with _SETTINGS_LOCK:
        if len(_SETTINGS_MEMO) >= 16:  # tests go through many environments
            _SETTINGS_MEMO.clear()
        _SETTINGS_MEMO[env] = made
    return made


def _settings_from_env() -> Settings:
    base = Settings()
    data = os.environ.get("MCALC_DATA", "").strip()
    run_log = os.environ.get("MCALC_RUN_LOG", "").strip()
    return Settings(
        data_dir=Path(data).expanduser() if data else None,
        demo_dir=_env_path("MCALC_DEMO_DIR", base.demo_dir),
        models_dir=_env_path("MCALC_MODELS", base.models_dir),
        runs_dir=_env_path("MCALC_RUNS", base.runs_dir),
        cache_dir=_env_path("MCALC_CACHE", base.cache_dir),
        store_dir=_env_path("MCALC_STORE", base.store_dir),
        preview_max_side=_env_int("MCALC_PREVIEW_MAX_SIDE", base.preview_max_side),
        demo_cases=_env_int("MCALC_DEMO_CASES", base.demo_cases),
        demo_seed=_env_int("MCALC_DEMO_SEED", base.demo_seed),
        max_jobs=_env_int("MCALC_MAX_JOBS", base.max_jobs),
        users_file=_env_path("MCALC_USERS", base.users_file),
        auth=_env_auth(),
        independent_reads=_env_choice(
            "MCALC_INDEPENDENT_READS", base.independent_reads, READS_CHOICES
        ),
        data_roots=tuple(
            Path(p).expanduser()
            for p in os.environ.get("MCALC_DATA_ROOTS", "").split(os.pathsep)
            if p.strip()
        ),
        warm_tensorflow=os.environ.get("MCALC_WARM_TF", "1").strip().lower()
        not in ("0", "false", "no", "off"),
        fullres_cache_mb=max(0, _env_int("MCALC_FULLRES_CACHE_MB", base.fullres_cache_mb)),
        fullres_prefetch=os.environ.get("MCALC_FULLRES_PREFETCH", "1").strip().lower()
        not in ("0", "false", "no", "off"),
        fullres_codec=_env_choice("MCALC_FULLRES_CODEC", base.fullres_codec, FULLRES_CODECS),
        run_log=Path(run_log).expanduser() if run_log else None,
        ray_address=os.environ.get("MCALC_RAY_ADDRESS", "").strip() or None,
        analyses_cache_mb=max(0, _env_int("MCALC_ANALYSES_CACHE_MB", base.analyses_cache_mb)),
        analyse_ahead=os.environ.get("MCALC_ANALYSE_AHEAD", "1").strip().lower()
        not in ("0", "false", "no", "off"),
        progress_every=max(0, _env_int("MCALC_PROGRESS_EVERY", base.progress_every)),
    )


#: Values of ``MCALC_FULLRES_CODEC`` (``mcalc.present.fullres.CODECS`` and ``auto``).
FULLRES_CODECS: tuple[str, ...] = ("auto", "raw16", "zlib-delta16")


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


#: Values of ``MCALC_INDEPENDENT_READS`` (:mod:`mcalc.access.reads`).
READS_CHOICES: tuple[str, ...] = ("off", "on", "strict")

#: Values of ``MCALC_AUTH``.
AUTH_CHOICES: tuple[str, ...] = ("auto", "on", "off")


def _env_auth() -> str:
    value = os.environ.get("MCALC_AUTH", "").strip().lower() or "auto"
    if value not in AUTH_CHOICES:
        raise ValueError(f"MCALC_AUTH must be one of {', '.join(AUTH_CHOICES)}, got {value!r}")
    return value


def named_folder(path: Path, named_as: str | None, holds: str) -> Path:
    """``path`` when it is a folder, or when nobody named it (``named_as`` None: a default
    folder a first run has not made yet reads as empty). One named by a setting or a flag
    (``MCALC_MODELS``, ``--models``) that is not a folder is refused: a typo read as an
    empty folder (``MCALC_MODELS=/typo python -m mcalc models``: "no models", status 0).

    >>> named_folder(Path("/no/such"), None, "the model registry")
    PosixPath('/no/such')
    >>> named_folder(Path("/no/such"), "MCALC_MODELS", "the model registry")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    mcalc.errors.FolderMissing: MCALC_MODELS names /no/such, which does not exist ...

    Raises:
        FolderMissing: ``named_as`` names a path that does not exist or is not a folder;
            the message says what to do.
    """
    if named_as is None or path.is_dir():
        return path
    from mcalc.errors import FolderMissing

    what = "is a file, not a folder" if path.exists() else "does not exist"
    raise FolderMissing(
        f"{named_as} names {path}, which {what} ({holds} is read from there): correct "
        f"{named_as}, or create the folder (mkdir -p {shlex.quote(str(path))}) to start "
        "an empty one"
    )


#: What each folder setting holds, said when the one named is missing.
FOLDER_HOLDS = {
    "MCALC_MODELS": "the model registry",
    "MCALC_STORE": "readers' annotations and audits",
    "MCALC_RUNS": "training and batch runs",
}


def env_named(var: str) -> str | None:
    """``var`` when the environment sets it (not blank), else None: the folder settings
    that a user typed, as opposed to their defaults."""
    return var if os.environ.get(var, "").strip() else None


def models_folder(given: str | Path | None = None) -> Path:
    """The model registry a command or page reads: ``given`` (``--models DIR``), else
    :class:`Settings`' ``models_dir``; checked by :func:`named_folder` when the user named it
    (the flag, ``MCALC_MODELS``). An existing empty folder is a registry with no model yet.

    Raises:
        FolderMissing: the folder named does not exist or is a file.
    """
    if given:
        return named_folder(Path(given).expanduser(), "--models", FOLDER_HOLDS["MCALC_MODELS"])
    path = get_settings().models_dir
    return named_folder(path, env_named("MCALC_MODELS"), FOLDER_HOLDS["MCALC_MODELS"])


class PathRefused(ValueError):
    """A dataset path outside the allowed data roots."""


def allowed_roots(settings: Settings) -> list[Path]:
    """The folders datasets may be opened from: demo folder, ``data_dir``, ``data_roots``."""
    roots = [settings.demo_dir, *settings.data_roots]
    if settings.data_dir is not None:
        roots.append(settings.data_dir if settings.data_dir.is_dir() else settings.data_dir.parent)
    return [Path(os.path.realpath(r)) for r in roots]


def check_data_path(path: str | Path, settings: Settings) -> Path:
    """The resolved ``path`` if it lies inside an allowed data root; else :class:`PathRefused`.

    Symbolic links and ``..`` are resolved first (``os.path.realpath``), so neither can lead
    out of a root. The error names the roots and the setting that adds one.

    >>> s = Settings(demo_dir=Path("/srv/demo"), data_roots=(Path("/srv/data"),))
    >>> str(check_data_path("/srv/data/x/../y", s))
    '/srv/data/y'
    >>> check_data_path("/srv/data/../etc", s)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    PathRefused: /srv/etc is outside the allowed data folders (/srv/demo, /srv/data); ...
    """
    text = str(path).strip()
    if not text:
        raise PathRefused("no path given: type a dataset folder or manifest CSV")
    if "\x00" in text:  # os.path.realpath raises a bare ValueError for it
        raise PathRefused("the path holds a NUL character: type a dataset folder or manifest CSV")
    real = Path(os.path.realpath(Path(text).expanduser()))
    roots = allowed_roots(settings)
    if any(real == r or r in real.parents for r in roots):
        return real
    shown = ", ".join(str(r) for r in roots)
    raise PathRefused(
        f"{real} is outside the allowed data folders ({shown}); add its folder to "
        f"MCALC_DATA_ROOTS (separated by {os.pathsep!r}) to open it"
    )


@functools.cache
def _nvidia_present() -> bool:
    """Whether an NVIDIA GPU could be used: a device node, or the driver library (WSL2)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or ctypes.util.find_library("cuda") is not None


def prepare_tensorflow(environ: MutableMapping[str, str] | None = None) -> None:
    """Quiet TensorFlow's start-up on a machine without an NVIDIA GPU; call before importing it.

    Without a GPU, TensorFlow's CUDA build logs that it found no driver and that ``cuInit``
    failed, in every process (the app, each training job's log). When no NVIDIA device
    node and no ``libcuda`` exist, this hides CUDA devices (``CUDA_VISIBLE_DEVICES=-1``) and
    raises ``TF_CPP_MIN_LOG_LEVEL`` to 3 (C++ errors then come back as Python exceptions
    only); otherwise it only sets the level to 2. A value the user has set is never changed.
    Idempotent; too late once TensorFlow is imported.

    What that hides with TensorFlow 2.21 on this CPU machine (checked): the CPU-feature
    notice and the ``cuInit`` error. Two lines TensorFlow's libraries write before their
    logging is set up (``port.cc`` "oneDNN custom operations are on" and ``cudart_stub.cc``
    "Could not find cuda drivers", each after "All log messages before
    absl::InitializeLog() ...") ignore the level and still print, once per import of the
    library that writes them; they are harmless.
    """
    env = os.environ if environ is None else environ
    if _nvidia_present():
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


#: The start-up lines :func:`prepare_tensorflow` cannot hide (written by TensorFlow's C++
#: libraries before their logging reads ``TF_CPP_MIN_LOG_LEVEL``), and only those: the
#: notice that precedes them and two info lines (``I`` level) from ``port.cc`` and
#: ``cudart_stub.cc``.
_TF_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR|I\d{4} [\d:.]+ +\d+ (port|cudart_stub)\.cc:\d+\] .*)$"
)


#: Set by :func:`import_tensorflow_quietly` for the processes a command starts (their
#: environment is inherited): a worker process that sees it imports TensorFlow the same way
#: (:func:`import_tensorflow_quietly_if_asked`).
QUIET_TF_ENV = "MCALC_QUIET_TF_STARTUP"


def ask_for_quiet_tensorflow_imports() -> None:
    """Have this process's later :func:`import_tensorflow_quietly_if_asked` and those of
    the processes it starts import TensorFlow quietly (a command whose work runs in worker
    processes: ``predict --all``), as :func:`import_tensorflow_quietly` does when it imports
    up front. Nothing on a machine with an NVIDIA GPU (nothing to hide there)."""
    if not _nvidia_present():
        os.environ[QUIET_TF_ENV] = "1"


def import_tensorflow_quietly_if_asked() -> None:
    """In a worker process (a batch's process pool): :func:`import_tensorflow_quietly` when
    the command that started it did so; its own start-up lines otherwise reached the
    command's stderr, once per worker."""
    if os.environ.get(QUIET_TF_ENV) == "1":
        import_tensorflow_quietly()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with the start-up lines :func:`prepare_tensorflow` cannot hide kept
    off the process's stderr (every other line it writes there is passed on), so that a
    command's own error is the one line on stderr. For a single-threaded process only (the
    command line): stderr's file descriptor is redirected while the import runs. A no-op
    once TensorFlow is imported, on a machine with an NVIDIA GPU, or where the user set
    ``TF_CPP_MIN_LOG_LEVEL`` (read before :func:`prepare_tensorflow` sets it)."""
    if "tensorflow" in sys.modules or _nvidia_present():
        return
    os.environ[QUIET_TF_ENV] = "1"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:  # a failed import's own lines are passed on too, before its exception
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if not _TF_STARTUP_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
