// Package engine runs workflows: a DAG of tasks, each done by a worker
// agent and checked by a QC agent, with every step reported as an event.
//
// A [Workflow] is parsed and validated from YAML or JSON ([ParseWorkflow]).
// A [Runner] executes workflows; each run is an [Execution] with an id
// ("ex_…") and a folder under the state folder (<workspace>/.mimir) where
// its tasks stage their files. Executions run under the context given to
// [NewRunner]; [Runner.Close] cancels them, waits for their last events
// and closes the journal.
//
// # Scheduling
//
// An execution starts a task once every task it depends on has completed,
// at most Parallelism at a time. A task that fails skips its dependents,
// transitively; the others run on. Cancel stops the running agents (their
// commands and everything those started) and the execution ends with
// execution-cancelled.
//
// # Worker, QC and the gap
//
// Each attempt of a task runs its [Worker], then its [QC]. A QC that fails
// returns a [Gap] (feedback, issues, required fixes); the next attempt's
// worker is handed it, in [Job.Gap] and as a JSON file for commands, until
// the task passes or its attempts run out. A worker's error, a timeout and
// a QC that cannot be made each fail the attempt; none passes it.
//
// Agents are built per task from the workflow's agent specs by the
// [AgentKind]s in [Options.Agents], keyed by type. The engine ships none:
// the caller passes them, such as the exec agent (package engine/exec) or
// the llm agent (package engine/llm). Agents run commands through
// [RunCommand], which keeps them in the task's folder, under the sandbox
// and inside the execution's process control.
//
// # Isolation
//
// A task with isolation (worktree, or copy outside git) works in a git
// worktree of the workspace as the user has it, made in a repository of
// the execution's own (package internal/git, file isolation.go): its QC
// agent gets the worker's change as a diff ([Job.Change]), its deliverable
// is that change, and [Execution.ChangeSet] hands it to package workspace
// to apply.
//
// # Elsewhere
//
// With [Options.Dispatcher] set, the worker and QC calls of tasks without
// isolation run elsewhere (package engine/remote: workers over NATS
// JetStream); scheduling, retries, the gap, the journal and the seq stay
// here. [RunAttempt] is what a worker runs.
//
// # Events
//
// Every step is an [Event]: one envelope with a seq that only grows, an
// execution id, a name (task-start, qc-complete, …) and its [EventData].
// The runner numbers events and applies them to the execution's state
// under one lock, then hands them, in seq order, to the [Sink] in
// [Options]. A Sink must not block: the rpc and notify packages fan events
// out to their listeners.
//
// # The journal
//
// When [Options.Journal] is set, each event is kept there before the Sink
// sees it, with its execution's summary, and a new Runner marks the
// executions a crash cut off as interrupted and can resume them. The
// history stays in the journal: [Runner.ListPage] pages through its
// summaries, [Runner.Get] rebuilds a finished execution from its events
// when asked for, and the runner holds only what runs and a few finished
// executions, so that start-up and memory do not grow with the history.
// [Options.Retention] prunes it in the background. Package engine/journal
// keeps them in SQLite under the state folder.
//
// # Deliverables stored once
//
// When a task passes, each of its deliverables (hashed as they are
// collected) becomes a hard link to the state folder's blobs/<sha256>, the
// blob's content hashed again first, so a re-run that makes the same files
// costs no disk. The staging folders still hold every file by name: saving,
// previewing and pruning are unchanged, and removing a blob takes no file
// from an execution. After a prune, the blobs no execution in the journal
// reports among its deliverables (its task-complete events) are removed,
// never while an execution runs.
package engine
