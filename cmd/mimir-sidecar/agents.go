package main

import (
	"log/slog"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/llm"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// agentsFor is every agent type a workspace can use: exec, and llm with the
// providers configured for it. Built once per workspace, so that a
// provider's concurrency limit holds across executions.
func agentsFor(ws *workspace.Workspace, log *slog.Logger) (engine.Agents, error) {
	cfg, err := llm.LoadConfig(ws.Dir())
	if err != nil {
		return nil, err
	}
	agents := engine.DefaultAgents()
	agents["llm"] = llm.Kind(cfg, llm.WithLogger(log.With("component", "llm")))
	return agents, nil
}
