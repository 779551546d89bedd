#!/usr/bin/env bash
# Publishes the `caprese` CLI as a self-contained single file for the GPU machine, which has
# no .NET SDK (the native library is built there by scripts/gpu-validate.sh, so the bundle
# carries no native code). Output: build/gpu-bundle/caprese (well under the 64 MiB carry limit).
#   scripts/publish-gpu-bundle.sh && <on the GPU machine> CAPRESE_CLI=build/gpu-bundle/caprese scripts/gpu-validate.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/gpu-bundle
rm -rf "$out"
dotnet publish src/Caprese.Cli/Caprese.Cli.csproj -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:CapreseSkipNativeBuild=true \
  -p:CapreseNativeBuildDir="$PWD/build/native" -o "$out" -nologo -v:minimal
# The native libraries of this machine's build are not what the GPU machine should load.
rm -rf "$out"/runtimes "$out"/libcaprese*.so*
du -sh "$out"
