package engine

import (
	"time"
)

// Execution statuses.
const (
	StatusRunning     = "running"
	StatusCompleted   = "completed"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusInterrupted = "interrupted"
)

// Task statuses.
const (
	TaskPending   = "pending"
	TaskRunning   = "running"
	TaskCompleted = "completed"
	TaskFailed    = "failed"
	TaskSkipped   = "skipped"
	TaskCancelled = "cancelled"
)

// Summary is an execution's headline.
type Summary struct {
	ExecutionID    string     `json:"executionId"`
	Workflow       string     `json:"workflow"`
	WorkflowPath   string     `json:"workflowPath,omitempty"`
	Status         string     `json:"status"`
	StartedAt      time.Time  `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	Tasks          int        `json:"tasks"`
	CompletedTasks int        `json:"completedTasks"`
	FailedTasks    int        `json:"failedTasks"`
	Deliverables   int        `json:"deliverables"`
}

// Info is an execution in full.
type Info struct {
	Summary
	TaskList        []TaskInfo    `json:"taskList"`
	DeliverableList []Deliverable `json:"deliverableList"`
	// Changes is where the isolated tasks' changes stand: "" (none),
	// "pending", "applied", "conflict" (the last apply found conflicts),
	// "branch" (committed on a branch) or "discarded".
	Changes string `json:"changes,omitempty"`
}

// TaskInfo is one task's state.
type TaskInfo struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Status      string   `json:"status"`
	Phase       string   `json:"phase,omitempty"`
	Attempt     int      `json:"attempt"`
	MaxAttempts int      `json:"maxAttempts"`
	DependsOn   []string `json:"dependsOn"`
	Score       *int     `json:"score,omitempty"`
	Gap         *Gap     `json:"gap,omitempty"`
	Error       string   `json:"error,omitempty"`
	// Deliverables is what this task produced, once it completed.
	Deliverables []Deliverable `json:"deliverables,omitempty"`
	// Changes is an isolated task's change, once it completed.
	Changes *Changes `json:"changes,omitempty"`
}

// state is an execution's state as a pure function of its events, so the
// same code rebuilds it from a journal after a restart.
type state struct {
	sum Summary
	// first is the seq of the execution's first event (0 before it): the
	// history is ordered by it.
	first uint64
	tasks []TaskInfo
	index map[string]int
	// changes is where the isolated tasks' changes stand (Info.Changes).
	changes string
	// open is set when the workflow is unknown (a stored one that no longer
	// parses): tasks are then learnt from the events that name them.
	open bool
}

// newOpenState is the state of an execution whose workflow is not known,
// rebuilt from its events alone.
func newOpenState(id, workflow, path string) *state {
	return &state{
		sum:   Summary{ExecutionID: id, Workflow: workflow, WorkflowPath: path, Status: StatusRunning},
		tasks: []TaskInfo{},
		index: map[string]int{},
		open:  true,
	}
}

func newState(id string, wf *Workflow) *state {
	s := &state{
		sum: Summary{
			ExecutionID:  id,
			Workflow:     wf.Name,
			WorkflowPath: wf.Path,
			Status:       StatusRunning,
			StartedAt:    time.Now().UTC(),
			Tasks:        len(wf.Tasks),
		},
		tasks: make([]TaskInfo, len(wf.Tasks)),
		index: make(map[string]int, len(wf.Tasks)),
	}
	for i, t := range wf.Tasks {
		deps := t.DependsOn
		if deps == nil {
			deps = []string{}
		}
		s.tasks[i] = TaskInfo{ID: t.ID, Title: t.DisplayTitle(), Status: TaskPending, MaxAttempts: t.Attempts(), DependsOn: deps}
		s.index[t.ID] = i
	}
	return s
}

func (s *state) apply(ev Event) {
	if s.first == 0 {
		s.first = ev.Seq
	}
	d := &ev.Data
	var t *TaskInfo
	if i, ok := s.index[d.TaskID]; ok && d.TaskID != "" {
		t = &s.tasks[i]
	} else if d.TaskID != "" && s.open {
		deps := d.DependsOn
		if deps == nil {
			deps = []string{}
		}
		s.index[d.TaskID] = len(s.tasks)
		s.tasks = append(s.tasks, TaskInfo{ID: d.TaskID, Title: d.TaskTitle, Status: TaskPending, MaxAttempts: d.MaxAttempts, DependsOn: deps})
		t = &s.tasks[len(s.tasks)-1]
	}
	if t == nil && d.TaskID != "" {
		return // a task the workflow does not have: nothing to update
	}
	switch ev.Event {
	case EventExecutionStart:
		if d.Resumed {
			// Completed tasks keep their results; the rest run again.
			s.sum.Status, s.sum.FinishedAt, s.sum.FailedTasks = StatusRunning, nil, 0
			for i := range s.tasks {
				if t := &s.tasks[i]; t.Status != TaskCompleted {
					*t = TaskInfo{ID: t.ID, Title: t.Title, Status: TaskPending, MaxAttempts: t.MaxAttempts, DependsOn: t.DependsOn}
				}
			}
			return
		}
		s.sum.StartedAt = ev.Time
		if s.open && d.Tasks != nil {
			s.sum.Tasks = *d.Tasks
		}
	case EventTaskStart:
		t.Status = TaskRunning
	case EventWorkerStart:
		t.Status, t.Phase, t.Attempt = TaskRunning, PhaseWorker, d.Attempt
	case EventWorkerComplete:
		if d.OK != nil && !*d.OK {
			t.Error = d.Error
		}
	case EventQCStart:
		t.Phase = PhaseQC
	case EventQCComplete:
		t.Score = d.Score
		if d.Gap != nil {
			t.Gap = d.Gap
		}
	case EventTaskComplete:
		t.Status, t.Phase, t.Error = TaskCompleted, "", ""
		t.Score = d.Score
		t.Deliverables = d.Deliverables
		t.Changes = d.Changes
		if d.Changes != nil && s.changes == "" {
			s.changes = "pending"
		}
		s.sum.CompletedTasks++
		s.sum.Deliverables += len(d.Deliverables)
	case EventChangesApplied:
		s.changes = d.Status
	case EventChangesDiscarded:
		s.changes = "discarded"
	case EventTaskFail:
		t.Status, t.Phase, t.Error = TaskFailed, "", d.Error
		if d.Gap != nil {
			t.Gap = d.Gap
		}
		s.sum.FailedTasks++
	case EventTaskSkipped:
		t.Status, t.Error = TaskSkipped, d.Reason
	case EventExecutionComplete:
		s.finish(ev, d.Status)
	case EventExecutionCancelled, EventExecutionInterrupted:
		status := StatusCancelled
		if ev.Event == EventExecutionInterrupted {
			status = StatusInterrupted
		}
		s.finish(ev, status)
		for i := range s.tasks {
			if st := s.tasks[i].Status; st == TaskPending || st == TaskRunning {
				s.tasks[i].Status, s.tasks[i].Phase = TaskCancelled, ""
			}
		}
	}
}

func (s *state) finish(ev Event, status string) {
	at := ev.Time
	s.sum.Status = status
	s.sum.FinishedAt = &at
}

func (s *state) summary() Summary { return s.sum }

func (s *state) info() Info {
	tasks := make([]TaskInfo, len(s.tasks))
	copy(tasks, s.tasks)
	return Info{Summary: s.sum, TaskList: tasks, DeliverableList: s.deliverables(), Changes: s.changes}
}

func (s *state) deliverables() []Deliverable {
	out := make([]Deliverable, 0, s.sum.Deliverables)
	for _, t := range s.tasks {
		out = append(out, t.Deliverables...)
	}
	return out
}
