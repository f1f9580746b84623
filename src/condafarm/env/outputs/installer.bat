@echo off
rem condafarm installer: a render environment that installs itself where you say, with only what Windows ships
rem (cmd.exe and Windows PowerShell 5.1). Usage: THIS_FILE PREFIX
rem   PREFIX: where the environment goes; it must not exist, or be an empty folder.
rem   Exit codes: 2 bad PREFIX (or too long for a binary file that embeds it), 5 PREFIX exists, 1 anything else.
@ORIGIN@
setlocal DisableDelayedExpansion
if "%~1"=="" (
    echo condafarm installer: usage: %~nx0 PREFIX ^(the folder to install the environment in^) 1>&2
    exit /b 2
)
rem Paths reach PowerShell through the environment, never as script text.
set "CONDAFARM_INSTALLER=%~f0"
set "CONDAFARM_PREFIX=%~f1"
powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command "$s=[IO.File]::OpenRead($env:CONDAFARM_INSTALLER);$b=New-Object byte[] @HEADER_LENGTH@;[void]$s.Read($b,0,$b.Length);$s.Close();$t=[Text.Encoding]::UTF8.GetString($b);$m='#'+'condafarm-powershell'+'#';iex $t.Substring($t.IndexOf($m)+$m.Length)"
exit /b %errorlevel%
@RELOCATE@
#condafarm-powershell#
$ErrorActionPreference = 'Stop'
function Fail([string]$message, [int]$code) {
    [Console]::Error.WriteLine("condafarm installer: $message")
    exit $code
}
$oldLength = @OLD_LENGTH@
$binaryFiles = @BINARY_FILES@
$prefix = $env:CONDAFARM_PREFIX.TrimEnd('\')
$utf8 = New-Object Text.UTF8Encoding $false
# the prefix as Windows writes it, and with forward slashes (as the packed environment's was found)
$new = @($utf8.GetBytes($prefix), $utf8.GetBytes($prefix.Replace('\', '/')))
if ($binaryFiles -gt 0 -and $new[0].Length -gt $oldLength) {
    Fail "$binaryFiles binary file(s) embed the prefix: PREFIX may be at most $oldLength bytes long, not $($new[0].Length); choose a shorter path" 2
}
if (Test-Path -LiteralPath $prefix) {
    $item = Get-Item -LiteralPath $prefix -Force
    if (-not $item.PSIsContainer -or ($item.Attributes -band [IO.FileAttributes]::ReparsePoint) -or @(Get-ChildItem -LiteralPath $prefix -Force).Count -gt 0) {
        Fail "$prefix already exists; give a new folder (or an empty one)" 5
    }
}
# Unpacked and relocated next to PREFIX, then renamed into place: PREFIX appears complete or not at all.
$staging = "$prefix.condafarm-installing-$PID"
[void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($staging))
Add-Type -AssemblyName System.IO.Compression.FileSystem
try {
    [IO.Compression.ZipFile]::ExtractToDirectory($env:CONDAFARM_INSTALLER, $staging)
} catch {
    if (Test-Path -LiteralPath $staging) { Remove-Item -LiteralPath $staging -Recurse -Force }
    Fail "$($env:CONDAFARM_INSTALLER) is damaged: its archive did not unpack ($($_.Exception.Message))" 1
}
# Each line: relocate KIND BASE64(PATH) START:END:VARIANT... Binary strings keep their length: the rest of the
# string moves up and NULs fill the end, as conda does.
foreach ($line in $t -split "`r?`n") {
    if (-not $line.StartsWith(':: relocate ')) { continue }
    $fields = $line.Substring(12).Split(' ')
    $relative = $utf8.GetString([Convert]::FromBase64String($fields[1]))
    $path = [IO.Path]::Combine($staging, $relative.Replace('/', '\'))
    $item = Get-Item -LiteralPath $path -Force
    if ($item.PSIsContainer -or ($item.Attributes -band [IO.FileAttributes]::ReparsePoint)) {
        Fail "$path is not a regular file; the installer will not write through it" 1
    }
    $data = [IO.File]::ReadAllBytes($path)
    $result = New-Object IO.MemoryStream
    $position = 0
    foreach ($span in $fields[2..($fields.Length - 1)]) {
        $start, $end, $variant = $span.Split(':') | ForEach-Object { [int]$_ }
        $result.Write($data, $position, $start - $position)
        $result.Write($new[$variant], 0, $new[$variant].Length)
        if ($fields[0] -eq 'binary') {
            $result.Write($data, $start + $oldLength, $end - $start - $oldLength)
            $padding = $oldLength - $new[$variant].Length
            $result.Write((New-Object byte[] $padding), 0, $padding)
        }
        $position = $end
    }
    $result.Write($data, $position, $data.Length - $position)
    [IO.File]::WriteAllBytes($path, $result.ToArray())
}
if (Test-Path -LiteralPath $prefix) { [IO.Directory]::Delete($prefix) }
[IO.Directory]::Move($staging, $prefix)
Write-Output "installed the environment at $prefix"
exit 0
