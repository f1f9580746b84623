"""Which worker hosts build which conda platform: the table the build bundles, `submit` and the worker share."""

from __future__ import annotations

import platform
import sys

#: The OpenJD `attr.worker.os.family` and `attr.worker.cpu.arch` of the hosts that build each conda platform
#: natively (the deadline-cloud-samples' conda_platform_host_requirements.yaml says the same).
PLATFORM_HOSTS = {
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "arm64"),
    "win-64": ("windows", "x86_64"),
    "win-arm64": ("windows", "arm64"),
    "osx-64": ("macos", "x86_64"),
    "osx-arm64": ("macos", "arm64"),
}
#: The platform built for an OS when nothing says otherwise.
DEFAULT_PLATFORM = {"linux": "linux-64", "windows": "win-64", "macos": "osx-arm64"}
_OS_FAMILY = {"linux": "linux", "win32": "windows", "darwin": "macos"}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def platform_for(os_family: str, cpu_arch: str) -> str | None:
    """The conda platform a host of this OS family and CPU architecture builds natively, if any."""
    return next((p for p, host in PLATFORM_HOSTS.items() if host == (os_family, cpu_arch)), None)


def host_os_and_arch() -> tuple[str, str]:
    """This host's OS family and CPU architecture, in OpenJD's attribute values."""
    machine = platform.machine().lower()
    return _OS_FAMILY.get(sys.platform, sys.platform), _ARCH.get(machine, machine)


def check_native_platform(conda_platform: str) -> None:
    """Refuse to build `conda_platform` on a host that does not run it: the job landed on the wrong host."""
    from ..errors import UsageError

    if conda_platform not in PLATFORM_HOSTS:
        raise UsageError(f"CondaPlatform {conda_platform!r} is not one of {', '.join(PLATFORM_HOSTS)}")
    os_family, arch = host_os_and_arch()
    wanted_os, wanted_arch = PLATFORM_HOSTS[conda_platform]
    if (os_family, arch) != (wanted_os, wanted_arch):
        raise UsageError(
            f"CondaPlatform {conda_platform} is built on {wanted_os} {wanted_arch} hosts but this host is "
            f"{os_family} {arch}: submit the build_{wanted_os} bundle with CpuArch={wanted_arch} "
            "(`condafarm submit` sets both from the platform)"
        )
