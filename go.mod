module github.com/mimir-sidecar/mimir-sidecar

go 1.26.8
