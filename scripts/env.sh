# Sourced by the test scripts: points the tests at the toolchains in .toolchains/ and keeps
# Go away from the network and from the user's own module cache.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GONOSUMDB=* GOSUMDB=off
export GOPATH="$root/.toolchains/gopath" GOCACHE="$root/.toolchains/gocache"
export GOLEASH_TOOLCHAINS="$root/.toolchains"
