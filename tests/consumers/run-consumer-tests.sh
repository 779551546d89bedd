#!/usr/bin/env bash
# Consumer tests: use Caprese the way outside projects do.
#   1. cmake --install BUILD_DIR into a temporary prefix;
#   2. a C program finds it with find_package(caprese), runs a matmul + argmax, probes CUDA, and
#      runs the same matmul on the CUDA simulator where the tree builds it;
#   3. Caprese.Native and Caprese.Interop are packed into a temporary feed (with the CUDA and
#      CUDA simulator plugins when the tree builds them), and a console app that references only
#      the Caprese.Interop package restores (isolated packages folder, so no stale cached 0.1.0
#      leaks in), builds and runs; where the simulator ships, the app must run a matmul on it.
# Usage: tests/consumers/run-consumer-tests.sh BUILD_DIR   (e.g. build/native)
set -uo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR (an already built CMake tree of Caprese)" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/caprese-consumers.XXXXXX")
KEEP=${CAPRESE_KEEP_CONSUMER_TMP:-0}
cleanup() { if [ "$KEEP" = 1 ]; then echo "(kept $TMP)"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

passed=0
failed=0
# step NAME COMMAND...: runs COMMAND with its output in $TMP/NAME.log; on failure shows the tail.
step() {
  local name=$1
  shift
  local start=$SECONDS
  if "$@" >"$TMP/$name.log" 2>&1; then
    echo "PASS $name ($((SECONDS - start)) s)"
    passed=$((passed + 1))
    return 0
  fi
  echo "FAIL $name ($((SECONDS - start)) s): $*"
  tail -n 40 "$TMP/$name.log" | sed 's/^/    /'
  failed=$((failed + 1))
  return 1
}

# Runs a program, shows its output, and requires a final "OK" line.
run_expect_ok() {
  "$@" | tee "$TMP/run.out"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && [ "$(tail -n 1 "$TMP/run.out")" = "OK" ]
}

# config_has VAR: the build tree's package config says `set(VAR ON)` (which optional plugins it builds);
# both consumers then require the CUDA simulator to load from what was installed or packed.
config_has() { grep -q "set($1 ON)" "$BUILD_DIR/capreseConfig.cmake" 2>/dev/null; }
if config_has caprese_HAS_CUDA_SIM_PLUGIN; then export CAPRESE_CONSUMER_EXPECT_CUDA_SIM=1; else export CAPRESE_CONSUMER_EXPECT_CUDA_SIM=0; fi

# ------------------------------------------------------------------ C / CMake
c_consumer() {
  cmake -S "$HERE/c" -B "$TMP/c-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TMP/prefix" &&
    cmake --build "$TMP/c-build" -j "$(nproc)" &&
    run_expect_ok "$TMP/c-build/caprese_c_consumer"
}

if step install cmake --install "$BUILD_DIR" --prefix "$TMP/prefix"; then
  step c-consumer c_consumer && sed 's/^/    /' "$TMP/run.out"
else
  echo "SKIP c-consumer (install failed)"
  failed=$((failed + 1))
fi

# ------------------------------------------------------------------ .NET / NuGet
# Artifacts go to $TMP so packing never touches the bin/obj folders of a developer's build.
pack() {
  dotnet pack "$REPO/src/$1/$1.csproj" -c Release -o "$TMP/feed" --artifacts-path "$TMP/artifacts" \
    -p:CapreseSkipNativeBuild=true -p:CapreseNativeBuildDir="$BUILD_DIR"
}

check_packages() {
  local native interop native_list interop_list
  native=$(ls "$TMP"/feed/Caprese.Native.*.nupkg) && interop=$(ls "$TMP"/feed/Caprese.Interop.*.nupkg) || return 1
  # Listings go to variables first: under pipefail, `unzip -l | grep -q` fails at random when grep
  # stops reading early and unzip dies of SIGPIPE.
  native_list=$(unzip -l "$native") && interop_list=$(unzip -l "$interop") || return 1
  echo "Caprese.Native:" && grep -E 'runtimes/|lib/' <<<"$native_list" &&
    grep -q 'runtimes/linux-x64/native/libcaprese.so$' <<<"$native_list" &&
    { ! config_has caprese_HAS_CUDA_PLUGIN || grep -q 'runtimes/linux-x64/native/libcaprese_cuda.so$' <<<"$native_list"; } &&
    { ! config_has caprese_HAS_CUDA_SIM_PLUGIN || { grep -q 'runtimes/linux-x64/native/libcaprese_cudasim.so$' <<<"$native_list" &&
      grep -q 'runtimes/linux-x64/native/libcaprese_cudasim_rt.so$' <<<"$native_list"; }; } &&
    ! grep -q ' lib/' <<<"$native_list" &&
    echo "Caprese.Interop:" && grep -E 'lib/' <<<"$interop_list" &&
    grep -q '<dependency id="Caprese.Native"' <<<"$(unzip -p "$interop" Caprese.Interop.nuspec)"
}

dotnet_consumer() {
  rm -rf "$TMP/dotnet" && mkdir -p "$TMP/dotnet" && cp "$HERE/dotnet/CapreseConsumer.csproj" "$HERE/dotnet/Program.cs" "$TMP/dotnet/" &&
    cat >"$TMP/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="caprese-local" value="$TMP/feed" />
  </packageSources>
</configuration>
XML
  dotnet restore "$TMP/dotnet/CapreseConsumer.csproj" --configfile "$TMP/nuget.config" --packages "$TMP/packages" &&
    dotnet build "$TMP/dotnet/CapreseConsumer.csproj" --no-restore -c Release -o "$TMP/dotnet/out" &&
    run_expect_ok dotnet "$TMP/dotnet/out/CapreseConsumer.dll" &&
    # The SDK put the native assets under runtimes/ for this RID-less app, and they were used.
    grep -q "native library: $TMP/dotnet/out/runtimes/linux-x64/native/libcaprese.so" "$TMP/run.out"
}

# A RID-specific publish flattens runtimes/linux-x64/native/ into the app folder.
dotnet_publish() {
  dotnet publish "$TMP/dotnet/CapreseConsumer.csproj" -c Release -r linux-x64 --self-contained false \
    --configfile "$TMP/nuget.config" --packages "$TMP/packages" -o "$TMP/dotnet/pub" &&
    run_expect_ok "$TMP/dotnet/pub/CapreseConsumer" &&
    grep -q "native library: $TMP/dotnet/pub/libcaprese.so" "$TMP/run.out"
}

if step pack-native pack Caprese.Native && step pack-interop pack Caprese.Interop && step packages check_packages; then
  sed 's/^/    /' "$TMP/packages.log"
  step dotnet-consumer dotnet_consumer && sed 's/^/    /' "$TMP/run.out"
  step dotnet-publish dotnet_publish
else
  echo "SKIP dotnet-consumer (packing failed)"
  failed=$((failed + 1))
fi

echo "consumers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
