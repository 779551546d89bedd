# Caprese build driver for Windows/PowerShell: a thin mirror of build.sh (the build logic
# lives in CMake and MSBuild). Usage: ./build.ps1 [build|run [ARGS]|test]
param([string]$Command = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot

$CapreseCuda = if ($env:CAPRESE_CUDA) { $env:CAPRESE_CUDA } else { "AUTO" }
$BuildDir = if ($env:CAPRESE_BUILD_DIR) { $env:CAPRESE_BUILD_DIR } else { "build/native" }
$Configuration = if ($env:CONFIGURATION) { $env:CONFIGURATION } else { "Release" }
$Jobs = [Environment]::ProcessorCount
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"

function Invoke-Step([string]$Name, [scriptblock]$Body) {
  Write-Host "`n==> $Name"
  & $Body
  if ($LASTEXITCODE -ne 0) { throw "$Name failed (exit $LASTEXITCODE)" }
}

function Build-Native {
  Invoke-Step "native: configure ($BuildDir, CAPRESE_CUDA=$CapreseCuda)" { cmake -S . -B $BuildDir -DCMAKE_BUILD_TYPE=Release -DCAPRESE_CUDA=$CapreseCuda }
  Invoke-Step "native: build (-j$Jobs)" { cmake --build $BuildDir -j $Jobs --config Release }
}

function Build-Managed([string]$Target = "Caprese.sln") {
  $full = (Resolve-Path $BuildDir).Path
  Invoke-Step "managed: dotnet build $Target ($Configuration)" { dotnet build $Target -c $Configuration -p:CapreseSkipNativeBuild=true "-p:CapreseNativeBuildDir=$full" -nologo -v:minimal }
}

switch ($Command) {
  "build" { Build-Native; Build-Managed }
  "test" {
    Build-Native; Build-Managed
    Invoke-Step "native tests (ctest)" { ctest --test-dir $BuildDir --output-on-failure -C Release }
    Invoke-Step "managed tests (dotnet test)" { dotnet test Caprese.sln -c $Configuration --no-build -nologo }
    Write-Host "(the packaging consumer tests are bash-only: tests/consumers/run-consumer-tests.sh)"
  }
  "run" {
    # Only the CLI: the tests' and benchmarks' peers (TorchSharp) are large downloads it does not need.
    Build-Native; Build-Managed "src/Caprese.Cli/Caprese.Cli.csproj"
    $cliArgs = if ($Rest) { $Rest } else { @("demo") }
    Invoke-Step "caprese $cliArgs" { dotnet "src/Caprese.Cli/bin/$Configuration/net10.0/caprese.dll" @cliArgs }
  }
  "cuda-toolkit" { throw "The CUDA toolkit script targets Debian 12; on Windows install the CUDA Toolkit from NVIDIA." }
  default { Write-Error "usage: ./build.ps1 [build|run [ARGS]|test]"; exit 2 }
}
