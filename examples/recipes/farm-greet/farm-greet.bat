@echo off
<nul set /p="farm-greet 1.0: "
type "%~dp0..\share\farm-data\greeting.txt"
