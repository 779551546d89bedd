#!/usr/bin/env bash
# Publishes .NET programs as self-contained single files into build/gpu-bundle/ for the GPU
# machine, which has no .NET SDK (the native library is built there by scripts/gpu-validate.sh,
# so the bundle carries no native libcaprese):
#   cli    build/gpu-bundle/caprese            the `caprese` CLI (for CAPRESE_CLI; the default)
#   peers  build/gpu-bundle/caprese-gpu-peers  the ILGPU-vs-Caprese sparse-FFN comparison,
#                                              bench/Caprese.GpuPeers (for CAPRESE_GPU_PEERS)
# Each is ~40 MB (a whole .NET runtime; not trimmed: trimming breaks ILGPU), and the CLI brings
# ~12 MB of SkiaSharp natives, so both together exceed the 64 MiB carry limit: the script prints
# the bundle's size and fails when it is over. Carry one per GPU run (with third_party/ from
# scripts/prepare-gpu-bundle.sh; scripts/README.md has the whole device call):
#   scripts/publish-gpu-bundle.sh [cli] [peers]
#   <on the GPU machine> CAPRESE_CLI=build/gpu-bundle/caprese scripts/gpu-validate.sh --out "$OUT"
#   <or>                 CAPRESE_GPU_PEERS=build/gpu-bundle/caprese-gpu-peers scripts/gpu-validate.sh --out "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- cli
for what in "$@"; do
  case $what in
    cli | peers) ;;
    *) echo "usage: $0 [cli] [peers]" >&2; exit 2 ;;
  esac
done
out=build/gpu-bundle
rm -rf "$out"
for what in "$@"; do
  project=src/Caprese.Cli/Caprese.Cli.csproj
  [ "$what" = peers ] && project=bench/Caprese.GpuPeers/Caprese.GpuPeers.csproj
  dotnet publish "$project" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:CapreseSkipNativeBuild=true \
    -p:CapreseNativeBuildDir="$PWD/build/native" -o "$out" -nologo -v:minimal
done
# The native libraries of this machine's build are not what the GPU machine should load.
rm -rf "$out"/runtimes "$out"/libcaprese*.so*
du -sh "$out"/*
limit=$((64 * 1024 * 1024))
bytes=$(du -sb "$out" | cut -f1)
echo "gpu bundle ($*): $bytes bytes ($((bytes / 1048576)) MiB) of the $((limit / 1048576)) MiB carry limit"
if [ "$bytes" -gt "$limit" ]; then
  echo "error: $out is over the carry limit: publish fewer programs (scripts/publish-gpu-bundle.sh cli | peers)" >&2
  exit 1
fi
