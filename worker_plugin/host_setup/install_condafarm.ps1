# Install condafarm on a Windows worker host for every job user.
#
# Customer-managed fleets: run once per host in an elevated PowerShell:
#   powershell -ExecutionPolicy Bypass -File install_condafarm.ps1
# Service-managed fleets (Windows): paste this file as the fleet's host configuration script.
#
# It creates a virtual environment at $env:CONDAFARM_HOME (default C:\ProgramData\condafarm), pip-installs
# $env:CONDAFARM_PIP_SPEC into it (default: condafarm; a wheel path or URL works too), adds its Scripts folder
# to the machine PATH so job users find condafarm.exe and condafarm-worker.exe, and runs both once.
# Re-running upgrades in place. Needs Python 3.10+ (the py launcher or python on PATH).
$ErrorActionPreference = "Stop"

$Home_ = if ($env:CONDAFARM_HOME) { $env:CONDAFARM_HOME } else { Join-Path $env:ProgramData "condafarm" }
$Spec = if ($env:CONDAFARM_PIP_SPEC) { $env:CONDAFARM_PIP_SPEC } else { "condafarm" }

function Say($Text) { Write-Output "install_condafarm: $Text" }

function Find-Python {
    $candidates = @()
    if ($env:CONDAFARM_PYTHON) { $candidates += , @($env:CONDAFARM_PYTHON) }
    $candidates += , @("py", "-3"), @("python3"), @("python")
    foreach ($candidate in $candidates) {
        $exe = $candidate[0]
        $rest = @($candidate | Select-Object -Skip 1)
        if (-not (Get-Command $exe -ErrorAction SilentlyContinue)) { continue }
        & $exe @rest -c "import sys, venv; sys.exit(sys.version_info < (3, 10))" 2>$null
        if ($LASTEXITCODE -eq 0) { return , $candidate }
    }
    return $null
}

$Python = Find-Python
if (-not $Python) {
    throw "install_condafarm: Python 3.10 or newer is needed; install it (or set CONDAFARM_PYTHON) and run this again"
}
$Exe = $Python[0]
$PyArgs = @($Python | Select-Object -Skip 1)
Say "using $($Python -join ' '); installing $Spec into $Home_"

$VenvPython = Join-Path $Home_ "Scripts\python.exe"
if (-not (Test-Path $VenvPython)) {
    & $Exe @PyArgs -m venv $Home_
    if ($LASTEXITCODE -ne 0) { throw "install_condafarm: could not create $Home_" }
}
& $VenvPython -m pip install --quiet --upgrade pip
$Extra = if ($env:CONDAFARM_PIP_ARGS) { $env:CONDAFARM_PIP_ARGS -split " " } else { @() }
& $VenvPython -m pip install --quiet --upgrade @Extra $Spec
if ($LASTEXITCODE -ne 0) { throw "install_condafarm: pip could not install $Spec" }

$Scripts = Join-Path $Home_ "Scripts"
$MachinePath = [Environment]::GetEnvironmentVariable("Path", "Machine")
if (($MachinePath -split ";") -notcontains $Scripts) {
    [Environment]::SetEnvironmentVariable("Path", "$Scripts;$MachinePath", "Machine")
    Say "added $Scripts to the machine PATH (restart the worker agent service to pick it up)"
}
$env:Path = "$Scripts;$env:Path"

& (Join-Path $Scripts "condafarm.exe") --version
& (Join-Path $Scripts "condafarm-worker.exe") --version
Say "done: job users run condafarm and condafarm-worker from $Scripts"
