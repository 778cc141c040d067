#!/usr/bin/env bash
# Fetches xgrammar's source (the PyPI sdist, pinned by version and sha256) into .deps/, once.
# Only its C++ core is used: cmake/Xgrammar.cmake compiles it into a static library with our
# toolchain (its own CMake project insists on Python bindings and tvm_ffi, which we do not need).
# Prints the source directory.
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.2.9
sha256=87b466bca2475e29bb0323abc62c6c33cbcbcff47e5fb800a3e2099ac9620b90
dest=.deps/xgrammar-$version
if [[ ! -f "$dest/include/xgrammar/xgrammar.h" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: downloading xgrammar==$version (sdist from PyPI, ~3 MB)" >&2
  # The sdist's URL from PyPI's simple index (PEP 691 JSON), as pip finds it: `pip download
  # --no-binary` would build the wheel's build dependencies (cmake from source) to read metadata.
  url=$(python3 -c "import json,urllib.request
r=urllib.request.Request('https://pypi.org/simple/xgrammar/',
                         headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
files=json.load(urllib.request.urlopen(r))['files']
print(next(f['url'] for f in files if f['filename']=='xgrammar-$version.tar.gz'))")
  python3 -c "import urllib.request,sys; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
    "$url" "$tmp/xgrammar.tar.gz"
  echo "$sha256  $tmp/xgrammar.tar.gz" | sha256sum -c --quiet
  mkdir -p .deps
  tar -xzf "$tmp/xgrammar.tar.gz" -C "$tmp"
  rm -rf "$dest"
  mv "$tmp/xgrammar-$version" "$dest"
fi
echo "$dest"
