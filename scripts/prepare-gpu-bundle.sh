#!/usr/bin/env bash
# Prepares, on this machine, what the GPU machine lacks for scripts/gpu-validate.sh and cannot
# download (it has no internet and no GTest): everything lands in third_party/ (ignored by
# git), which the device call carries as one path.
#   third_party/googletest  GoogleTest sources (Debian's /usr/src/googletest, package
#                           `googletest`); native/tests/CMakeLists.txt builds them when
#                           find_package(GTest) finds no installed GTest
#   third_party/COMMIT      the commit this tree is at, and whether it has uncommitted
#                           changes (the copy on the GPU machine has no .git)
#
#   scripts/prepare-gpu-bundle.sh            (GTEST_SRC=/path overrides /usr/src/googletest)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${GTEST_SRC:-/usr/src/googletest}
if [ ! -f "$src/googletest/CMakeLists.txt" ]; then
  echo "error: no GoogleTest sources in $src (Debian: apt-get install googletest, or set GTEST_SRC)" >&2
  exit 1
fi
dest=third_party/googletest
rm -rf "$dest"
mkdir -p "$dest"
# The top-level CMakeLists and the googletest library only: gmock is not used, and gtest's
# own tests, samples and docs would only add to the 64 MiB the device call may carry.
cp "$src/CMakeLists.txt" "$dest/"
[ -f "$src/LICENSE" ] && cp "$src/LICENSE" "$dest/"
mkdir -p "$dest/googletest"
for part in CMakeLists.txt cmake include src; do
  cp -r "$src/googletest/$part" "$dest/googletest/"
done

commit=unknown
if git rev-parse HEAD > /dev/null 2>&1; then
  commit=$(git rev-parse HEAD)
  # "dirty" plus a hash of the uncommitted diff, so a result can be tied to the exact tree.
  if ! git diff --quiet HEAD -- || [ -n "$(git ls-files --others --exclude-standard)" ]; then
    diff_hash=$( (git diff HEAD; git ls-files --others --exclude-standard | sort | xargs -r cat) | sha256sum | cut -c1-16)
    commit="$commit-dirty-$diff_hash"
  fi
fi
printf '%s\n' "$commit" > third_party/COMMIT
du -sh third_party
echo "prepared third_party/ (commit $commit): carry [\"third_party\"] in the device call"
