package mimircompat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// executeName is the name of a workflow started over HTTP (Mimir's have
// none), and the file its problems are reported against: the name engine
// gives one read back from the journal, which keeps no file for it.
const executeName = "mimir-workflow"

// execute serves POST /api/execute-workflow: Mimir's task definitions, run
// as an execution like any other (the editor sees it too), answered as
// Mimir answers, with the execution's id at once.
func (a *API) execute(w http.ResponseWriter, r *http.Request) {
	if !a.opts.Execute {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"error":   "Failed to start workflow execution",
			"details": "starting executions over HTTP is off, because it runs agents and their commands on a request: start the sidecar with --http-execute, or set httpExecute: true in your user configuration (mimir/config.yaml)",
		})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, engine.MaxWorkflowSize))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "Failed to start workflow execution", "details": fmt.Sprintf("read the request: %v", err)})
		return
	}
	// Mimir's own check, and its words, before ours.
	var req struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Tasks) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Invalid workflow: tasks array is required"})
		return
	}
	// Only the tasks: Mimir reads nothing else of the body.
	tasks, err := json.Marshal(map[string]any{"tasks": req.Tasks})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Invalid workflow: tasks array is required"})
		return
	}
	wf, err := engine.ParseWorkflow(executeName, tasks)
	var invalid *engine.ValidationError
	if errors.As(err, &invalid) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Invalid workflow", "details": err.Error(), "problems": invalid.Problems})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Failed to start workflow execution", "details": err.Error()})
		return
	}
	ex, err := a.opts.Runner.Execute(wf, engine.ExecOptions{})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Failed to start workflow execution", "details": err.Error()})
		return
	}
	a.opts.Logger.Info("an execution was started over HTTP (POST /api/execute-workflow)", "execution", ex.ID(), "tasks", len(wf.Tasks))
	writeJSON(w, http.StatusOK, map[string]any{
		"success":     true,
		"executionId": ex.ID(),
		"message":     fmt.Sprintf("Workflow execution started with %d tasks", len(wf.Tasks)),
	})
}

// cancel serves POST /api/cancel-execution/:executionId, answered as Mimir
// answers; the execution ends with execution-cancelled. It is off with
// execute-workflow: both control executions, and both are the user's to
// turn on.
func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	if !a.opts.Execute {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "Cancelling executions over HTTP is off: start the sidecar with --http-execute, or set httpExecute: true in your user configuration (mimir/config.yaml)", "executionId": r.PathValue("id")})
		return
	}
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	if st := ex.Summary().Status; st != engine.StatusRunning {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Cannot cancel execution with status: " + mimirStatus(st), "executionId": ex.ID(), "status": mimirStatus(st)})
		return
	}
	if st := ex.Cancel("Execution cancelled by user"); st != engine.StatusCancelling {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Cannot cancel execution with status: " + mimirStatus(st), "executionId": ex.ID(), "status": mimirStatus(st)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "executionId": ex.ID(), "message": "Execution cancellation requested"})
}

// state serves GET /api/execution-state/:executionId.
func (a *API) state(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	info := ex.Info()
	out := map[string]any{
		"executionId":   ex.ID(),
		"status":        mimirStatus(info.Status),
		"taskStatuses":  taskStatuses(info.TaskList),
		"currentTaskId": currentTask(info.TaskList),
		"startTime":     info.StartedAt.UnixMilli(),
		"cancelled":     info.Status == engine.StatusCancelled,
	}
	if info.FinishedAt != nil {
		out["endTime"] = info.FinishedAt.UnixMilli()
	}
	writeJSON(w, http.StatusOK, out)
}
