package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// schemaVersion is the journal's schema, kept in SQLite's user_version.
// 2 kept executions and their events; 3 adds a summary row per execution,
// so that the history is listed without replaying it.
const schemaVersion = 3

const schema = `
	CREATE TABLE IF NOT EXISTS executions (
		id TEXT PRIMARY KEY, workflow TEXT NOT NULL, workflow_path TEXT NOT NULL,
		workflow_dir TEXT NOT NULL, source BLOB NOT NULL, started_at TEXT NOT NULL);
	CREATE TABLE IF NOT EXISTS events (
		seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, name TEXT NOT NULL, envelope BLOB NOT NULL);
	CREATE INDEX IF NOT EXISTS events_by_execution ON events (execution_id, seq);
	CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
	CREATE TABLE IF NOT EXISTS summaries (
		id TEXT PRIMARY KEY, first_seq INTEGER NOT NULL, workflow TEXT NOT NULL, workflow_path TEXT NOT NULL,
		status TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,
		tasks INTEGER NOT NULL, completed_tasks INTEGER NOT NULL, failed_tasks INTEGER NOT NULL,
		deliverables INTEGER NOT NULL);
	CREATE INDEX IF NOT EXISTS summaries_by_first_seq ON summaries (first_seq);
	CREATE INDEX IF NOT EXISTS summaries_by_status ON summaries (status);`

// putSummaryQuery writes an execution's summary; its first seq stays the
// one first written.
const putSummaryQuery = `INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET workflow = excluded.workflow, workflow_path = excluded.workflow_path,
		status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at,
		tasks = excluded.tasks, completed_tasks = excluded.completed_tasks,
		failed_tasks = excluded.failed_tasks, deliverables = excluded.deliverables`

// A migrationError is a journal this sidecar could not bring to its schema
// (it passed its integrity check first): not damage, so it is not moved
// aside.
type migrationError struct{ err error }

func (e *migrationError) Error() string { return e.err.Error() }
func (e *migrationError) Unwrap() error { return e.err }

// migrate brings the journal to schemaVersion in one transaction: a crash
// or a failure leaves it as it was, to be migrated by the next sidecar.
func migrate(db *sql.DB, log *slog.Logger) error {
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return &migrationError{fmt.Errorf("read the journal's schema version: %w", err)}
	}
	switch {
	case version == schemaVersion:
		return nil
	case version > schemaVersion:
		return &migrationError{fmt.Errorf("the journal was written by a newer mimir-sidecar (schema %d; this one knows up to %d): update the sidecar", version, schemaVersion)}
	case version == 0:
		// Pages freed by a prune go back to the file system: set before the
		// first table, as SQLite requires (older journals are switched by
		// the VACUUM after their first prune).
		if _, err := db.Exec("PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return &migrationError{fmt.Errorf("prepare the journal: %w", err)}
		}
	}
	began := time.Now()
	tx, err := db.Begin()
	if err != nil {
		return &migrationError{fmt.Errorf("update the journal's schema: %w", err)}
	}
	defer tx.Rollback()
	if _, err := tx.Exec(schema); err != nil {
		return &migrationError{fmt.Errorf("update the journal's schema: %w", err)}
	}
	n, err := summarizeAll(tx, log)
	if err != nil {
		return &migrationError{fmt.Errorf("update the journal's schema: %w", err)}
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return &migrationError{fmt.Errorf("update the journal's schema: %w", err)}
	}
	if err := tx.Commit(); err != nil {
		return &migrationError{fmt.Errorf("update the journal's schema: %w", err)}
	}
	if version != 0 || n > 0 {
		log.Info("the journal was updated to this sidecar's schema", "from", version, "to", schemaVersion, "executions", n, "took", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// summarizeAll writes the summary of every execution that has none, from
// its events, one execution in memory at a time. It returns how many.
func summarizeAll(tx *sql.Tx, log *slog.Logger) (int, error) {
	ctx := context.Background()
	var ids []string
	rows, err := tx.Query("SELECT id FROM executions WHERE id NOT IN (SELECT id FROM summaries)")
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	put, err := tx.Prepare(putSummaryQuery)
	if err != nil {
		return 0, err
	}
	defer put.Close()
	n := 0
	for _, id := range ids {
		past, ok, err := readExecution(ctx, tx, log, id)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // not one the sidecar wrote: skipped here as everywhere
		}
		if err := putSummary(put, engine.Summarize(past)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func putSummary(put *sql.Stmt, s engine.PastSummary) error {
	var finished sql.NullInt64
	if s.FinishedAt != nil {
		finished = sql.NullInt64{Int64: s.FinishedAt.UnixNano(), Valid: true}
	}
	_, err := put.Exec(s.ExecutionID, s.First, s.Workflow, s.WorkflowPath, s.Status, s.StartedAt.UnixNano(), finished,
		s.Tasks, s.CompletedTasks, s.FailedTasks, s.Deliverables)
	return err
}

// putSummaries writes the summary each execution of batch has after its
// last event there.
func putSummaries(put *sql.Stmt, batch []journalEntry) error {
	type last struct {
		first uint64
		i     int
	}
	seen := make(map[string]last, 4)
	var order []string
	for i := range batch {
		e := &batch[i]
		if e.flushed != nil {
			continue
		}
		l, ok := seen[e.ev.ExecutionID]
		if !ok {
			l.first = e.ev.Seq
			order = append(order, e.ev.ExecutionID)
		}
		l.i = i
		seen[e.ev.ExecutionID] = l
	}
	for _, id := range order {
		l := seen[id]
		if err := putSummary(put, engine.PastSummary{Summary: batch[l.i].sum, First: l.first}); err != nil {
			return err
		}
	}
	return nil
}

// maxUnfinished bounds the executions found running at start: no more run
// at once.
const maxUnfinished = 10000

// Unfinished lists the executions whose summary says they were running
// when the journal was last written, oldest first.
func (j *Journal) Unfinished(ctx context.Context) ([]string, error) {
	rows, err := j.db.QueryContext(ctx, "SELECT id FROM summaries WHERE status = ? ORDER BY first_seq LIMIT ?", engine.StatusRunning, maxUnfinished)
	if err != nil {
		return nil, fmt.Errorf("read the journal's running executions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read the journal's running executions: %w", err)
		}
		if err := engine.CheckExecutionID(id); err != nil {
			j.log.Warn("the journal holds an execution the sidecar did not write; it is skipped", "err", err)
			continue
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Summaries lists up to limit executions begun before the seq before (0:
// the newest), newest first. A row the sidecar could not have written is
// skipped and logged.
func (j *Journal) Summaries(ctx context.Context, before uint64, limit int) ([]engine.PastSummary, error) {
	if before == 0 || before > maxSeq+1 {
		before = maxSeq + 1
	}
	return j.summaries(ctx, "first_seq < ? ORDER BY first_seq DESC LIMIT ?", before, limit)
}

// CountFinished counts the executions whose summary says they are not
// running.
func (j *Journal) CountFinished(ctx context.Context) (int, error) {
	var n int
	if err := j.db.QueryRowContext(ctx, "SELECT count(*) FROM summaries WHERE status != ?", engine.StatusRunning).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the journal's executions: %w", err)
	}
	return n, nil
}

// OldestFinished lists up to limit executions not running, begun after
// the seq after, oldest first.
func (j *Journal) OldestFinished(ctx context.Context, after uint64, limit int) ([]engine.PastSummary, error) {
	return j.summaries(ctx, "status != ? AND first_seq > ? ORDER BY first_seq LIMIT ?", engine.StatusRunning, after, limit)
}

// summaries reads the summaries that where (a condition, its order and
// limit) selects, skipping and logging those the sidecar could not have
// written.
func (j *Journal) summaries(ctx context.Context, where string, args ...any) ([]engine.PastSummary, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT id, first_seq, workflow, workflow_path, status, started_at, finished_at,
		tasks, completed_tasks, failed_tasks, deliverables FROM summaries WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read the journal's executions: %w", err)
	}
	defer rows.Close()
	var out []engine.PastSummary
	for rows.Next() {
		var s engine.PastSummary
		var first, started int64
		var finished sql.NullInt64
		if err := rows.Scan(&s.ExecutionID, &first, &s.Workflow, &s.WorkflowPath, &s.Status, &started, &finished,
			&s.Tasks, &s.CompletedTasks, &s.FailedTasks, &s.Deliverables); err != nil {
			return nil, fmt.Errorf("read the journal's executions: %w", err)
		}
		if first < 0 || first > maxSeq {
			j.log.Warn("the journal holds an execution the sidecar did not write; it is skipped", "execution", fmt.Sprintf("%.80s", s.ExecutionID), "first", first)
			continue
		}
		s.First = uint64(first)
		s.StartedAt = time.Unix(0, started).UTC()
		if finished.Valid {
			at := time.Unix(0, finished.Int64).UTC()
			s.FinishedAt = &at
		}
		if err := s.Check(); err != nil {
			j.log.Warn("the journal holds an execution the sidecar did not write; it is skipped", "execution", fmt.Sprintf("%.80s", s.ExecutionID), "err", err)
			continue
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Execution reads one execution with its events, oldest first; ok is false
// when the journal holds none by that id, or one the sidecar did not write.
func (j *Journal) Execution(ctx context.Context, id string) (engine.PastExecution, bool, error) {
	return readExecution(ctx, j.db, j.log, id)
}

// queryRower is the database or a transaction on it.
type queryRower interface {
	queryer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readExecution(ctx context.Context, db queryRower, log *slog.Logger, id string) (engine.PastExecution, bool, error) {
	var past engine.PastExecution
	err := db.QueryRowContext(ctx, "SELECT id, workflow, workflow_path, workflow_dir, source FROM executions WHERE id = ?", id).
		Scan(&past.ID, &past.Workflow, &past.Path, &past.Dir, &past.Source)
	if errors.Is(err, sql.ErrNoRows) {
		return past, false, nil
	}
	if err != nil {
		return past, false, fmt.Errorf("read execution %s from the journal: %w", id, err)
	}
	if err := past.Check(); err != nil {
		log.Warn("the journal holds an execution the sidecar did not write; it is skipped", "execution", fmt.Sprintf("%.80s", past.ID), "err", err)
		return past, false, nil
	}
	err = replay(ctx, db, log, "SELECT seq, execution_id, name, envelope FROM events WHERE execution_id = ? ORDER BY seq",
		[]any{id}, func(_ Stored, ev *engine.Event) { past.Events = append(past.Events, *ev) })
	if err != nil {
		return past, false, fmt.Errorf("read the events of %s: %w", id, err)
	}
	return past, true, nil
}

// Forget removes executions, their summaries and their events, then gives
// the pages they freed back to the file system.
func (j *Journal) Forget(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := j.db.Begin()
	if err != nil {
		return fmt.Errorf("prune the journal: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		for _, q := range []string{"DELETE FROM events WHERE execution_id = ?", "DELETE FROM executions WHERE id = ?", "DELETE FROM summaries WHERE id = ?"} {
			if _, err := tx.Exec(q, id); err != nil {
				return fmt.Errorf("prune the journal: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("prune the journal: %w", err)
	}
	// The rows are gone either way: a journal that stays large is worth a
	// warning, not a failed prune.
	if err := j.compact(); err != nil {
		j.log.Warn("the journal could not give back the space of what was pruned; it will try again after the next prune", "err", err)
	}
	return nil
}

// compact returns free pages to the file system: incrementally once the
// journal is in that mode, after one VACUUM that puts a journal made
// before it (schema 2) in it.
func (j *Journal) compact() error {
	var mode int
	if err := j.db.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return err
	}
	const incremental = 2
	if mode == incremental {
		_, err := j.db.Exec("PRAGMA incremental_vacuum")
		return err
	}
	if _, err := j.db.Exec("PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return err
	}
	_, err := j.db.Exec("VACUUM")
	return err
}

// DeliverableSums is the set of sha256 sums of the deliverables that the
// executions in the journal report: what the stored blobs of a workspace
// must keep. It is read by SQLite from the task-complete events' JSON, not
// a table of its own: the events are the record, so the set cannot
// disagree with them, no schema change is needed, and a prune that forgets
// events forgets their references with them. The rows come with the
// workspace, so a value in them can only keep a blob, never remove one;
// a row that is not JSON is passed over.
func (j *Journal) DeliverableSums(ctx context.Context) (map[string]bool, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT DISTINCT d.value ->> '$.sha256'
		FROM events AS e, json_each(CAST(e.envelope AS TEXT), '$.data.deliverables') AS d
		WHERE e.name = ? AND json_valid(CAST(e.envelope AS TEXT))`, engine.EventTaskComplete)
	if err != nil {
		return nil, fmt.Errorf("read the journal's deliverables: %w", err)
	}
	defer rows.Close()
	sums := map[string]bool{}
	for rows.Next() {
		var sum sql.NullString
		if err := rows.Scan(&sum); err != nil {
			return nil, fmt.Errorf("read the journal's deliverables: %w", err)
		}
		if sum.Valid {
			sums[sum.String] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the journal's deliverables: %w", err)
	}
	return sums, nil
}
