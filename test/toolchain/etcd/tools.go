//go:build tools

// Keeps the etcd server command in the module graph for `go mod tidy`.
package tools

import _ "go.etcd.io/etcd/server/v3"
