// Package api holds the Nefele API contract (nefele/v1/nefele.proto) and the
// Go code generated from it. Regenerate with `go generate ./api`, which runs
// buf and both protoc plugins as Go tools pinned in go.mod (no network needed
// once the module cache has them).
package api

//go:generate sh -c "cd .. && go tool buf lint && go tool buf generate"
