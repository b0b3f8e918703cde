package main

import (
	"log/slog"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/llm"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// agentsFor is every agent type a workspace can use: exec, and llm with the
// providers configured for it. Built once per workspace, so that a
// provider's concurrency limit holds across executions. A broken llm
// configuration is no error here: exec workflows need none of it, and the
// llm agents report it to the workflows that use them when those are
// prepared.
func agentsFor(ws *workspace.Workspace, log *slog.Logger) (engine.Agents, error) {
	agents := engine.DefaultAgents()
	agents["llm"] = llm.LoadKind(ws.Dir(), llm.WithLogger(log.With("component", "llm")))
	return agents, nil
}
