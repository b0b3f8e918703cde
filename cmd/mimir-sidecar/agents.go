package main

import (
	"log/slog"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/acp"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/engine/llm"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// sandboxFor is the user's sandbox settings for a workspace, with the
// configured llm endpoints as those `network: endpoints` allows.
func sandboxFor(ws *workspace.Workspace) (engine.SandboxSettings, []string, error) {
	var endpoints []string
	// A broken llm configuration is reported to the workflows that use
	// it; here it only means no endpoint to allow.
	if cfg, err := llm.LoadConfig(ws.Dir()); err == nil {
		for _, p := range cfg.Providers {
			if p.BaseURL != "" {
				endpoints = append(endpoints, p.BaseURL)
			}
		}
	}
	return engine.LoadSandboxSettings(ws.Dir(), endpoints)
}

// agentsFor is every agent type a workspace can use: exec, acp, and llm
// with the providers configured for it. Built once per workspace, so that a
// provider's concurrency limit holds across executions. A broken llm
// configuration is no error here: exec workflows need none of it, and the
// llm agents report it to the workflows that use them when those are
// prepared, with fixHint: what to do once it is fixed ("" when that is
// to start the sidecar again).
func agentsFor(ws *workspace.Workspace, log *slog.Logger, fixHint string) (engine.Agents, error) {
	return engine.Agents{
		"exec": exec.Agent(),
		"acp":  acp.AgentWith(acp.Options{Logger: log.With("component", "acp")}),
		"llm":  llm.LoadKind(ws.Dir(), llm.WithLogger(log.With("component", "llm")), llm.WithFixHint(fixHint)),
	}, nil
}
