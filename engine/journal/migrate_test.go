package journal

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// fixtureState copies testdata/journal-v2.db, a journal written by the
// sidecar before summaries (schema 2): three finished executions (two, a
// failed one, two) and one a crash cut off.
func fixtureState(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/journal-v2.db")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), ".mimir")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "journal.db"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return state
}

func userVersion(t *testing.T, state string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A journal written before summaries is migrated in place when opened:
// every execution gets the summary its events give, and the history lists
// as it did, the one a crash cut off found interrupted.
func TestMigrateFromSchema2(t *testing.T) {
	state := fixtureState(t)
	if v := userVersion(t, state); v != 2 {
		t.Fatalf("the fixture is schema %d, want 2", v)
	}
	j := openJournal(t, state)
	if v := userVersion(t, state); v != schemaVersion {
		t.Errorf("after open the journal is schema %d, want %d", v, schemaVersion)
	}
	sums, err := j.Summaries(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 4 {
		t.Fatalf("%d summaries after the migration, want 4: %+v", len(sums), sums)
	}
	// Each as its events give it.
	for _, s := range sums {
		past, ok, err := j.Execution(context.Background(), s.ExecutionID)
		if err != nil || !ok {
			t.Fatalf("read %s: %v %v", s.ExecutionID, ok, err)
		}
		want := engine.Summarize(past)
		if s.First != want.First || s.Status != want.Status || s.CompletedTasks != want.CompletedTasks ||
			s.FailedTasks != want.FailedTasks || s.Deliverables != want.Deliverables || s.Tasks != want.Tasks ||
			!s.StartedAt.Equal(want.StartedAt) || (s.FinishedAt == nil) != (want.FinishedAt == nil) {
			t.Errorf("summary of %s\n got %+v\nwant %+v", s.ExecutionID, s, want)
		}
	}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Journal: j, Agents: execAs(funcAgent{})})
	defer r.Close(context.Background())
	r.Flush()
	var got []string
	for _, s := range r.List() {
		got = append(got, s.Workflow+" "+s.Status)
	}
	want := []string{"two interrupted", "two completed", "fails failed", "two completed"}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("listed %v, want %v", got, want)
			break
		}
	}
	list := r.List()
	if s := list[2]; s.CompletedTasks != 1 || s.FailedTasks != 1 || s.Tasks != 3 {
		t.Errorf("the failed execution after the migration: %+v", s)
	}
	if s := list[1]; s.CompletedTasks != 2 || s.Deliverables != 2 || s.FinishedAt == nil {
		t.Errorf("a completed execution after the migration: %+v", s)
	}
}

// A migration that fails leaves the journal as it was, to be migrated by
// the next sidecar, and is not taken for damage (the journal is not moved
// aside).
func TestFailedMigrationLeavesTheJournalAsItWas(t *testing.T) {
	state := fixtureState(t)
	db, err := sql.Open("sqlite", filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	// A table in the summaries' place that refuses their rows: the
	// migration fails half-way, after its first statements.
	if _, err := db.Exec("CREATE TABLE summaries (id TEXT PRIMARY KEY CHECK (0))"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, _, err := Open(state, nil); err == nil {
		t.Fatal("the migration succeeded into a table that refuses every row")
	}
	if v := userVersion(t, state); v != 2 {
		t.Errorf("after a failed migration the journal is schema %d, want 2", v)
	}
	if _, err := os.Stat(filepath.Join(state, "journal.db")); err != nil {
		t.Fatalf("the journal was moved aside: %v", err)
	}
	db, err = sql.Open("sqlite", filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil || n != 33 {
		t.Errorf("events after a failed migration: %d %v, want 33", n, err)
	}
	if _, err := db.Exec("DROP TABLE summaries"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	j := openJournal(t, state)
	defer j.Close()
	if sums, err := j.Summaries(context.Background(), 0, 10); err != nil || len(sums) != 4 {
		t.Errorf("after the obstacle went, the migration gave %d summaries (%v), want 4", len(sums), err)
	}
}

// A migrated journal, made before incremental vacuum, is put in that mode
// by its first prune, which gives the space back.
func TestFirstPruneOfAMigratedJournalVacuums(t *testing.T) {
	state := fixtureState(t)
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	if removed, err := r.Prune(0, 1); err != nil || len(removed) != 3 {
		t.Fatalf("prune all but one: %v %v", removed, err)
	}
	r.Close(context.Background())
	db, err := sql.Open("sqlite", filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode, free int
	if err := db.QueryRow("SELECT (SELECT auto_vacuum FROM pragma_auto_vacuum()), (SELECT freelist_count FROM pragma_freelist_count())").Scan(&mode, &free); err != nil {
		t.Fatal(err)
	}
	if mode != 2 || free != 0 {
		t.Errorf("after the first prune auto_vacuum is %d with %d free pages, want 2 (incremental) and none", mode, free)
	}
}
