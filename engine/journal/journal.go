// Package journal keeps an engine's events and execution records in SQLite
// under the workspace's state folder (.mimir/journal.db), so that a
// restarted sidecar lists, replays, saves and resumes what ran before.
//
// A *Journal is the engine's [engine.Journal]: the runner appends every
// event to it and hands an event to its sink only once it is committed.
// Listeners read it back with Since, Between and Events.
//
// The journal comes with the workspace, whose author may have written any
// row in it: every row read back is checked against what the engine
// writes, and one that fails is skipped and logged, never trusted.
package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// A Journal keeps every event and execution record in SQLite under the
// workspace's .mimir/, so a restarted sidecar lists, replays, saves and
// resumes what ran before. Events are committed in batches by one writer
// goroutine and only then handed to the sink: a listener never sees an
// event that a crash could lose.
type Journal struct {
	db    *sql.DB
	path  string
	log   *slog.Logger
	state *statedir.Dir
	lock  *os.File

	// queue carries entries by pointer: a channel allocates its whole
	// buffer when made, and journalQueue events by value are 2 MB held (and
	// a garbage collection triggered) by every idle sidecar.
	queue chan *journalEntry
	done  chan struct{}
	sink  engine.Sink // set by Start before the first event
	// closing, made by start, is closed when the journal stops waiting
	// for a disk that cannot write: senders blocked on a full queue are
	// let go, and the writer gives up on what it cannot commit.
	closing     chan struct{}
	closingOnce sync.Once

	// mu guards the queue's life: senders hold it for reading, Close for
	// writing, so nothing is ever sent on the closed queue (a Prune that
	// flushes while the sidecar shuts down).
	mu      sync.RWMutex
	started bool
	closed  bool

	closeOnce sync.Once

	// The writer's statements, prepared once: SQLite spends more on
	// compiling a statement than on running it for one row.
	insertOne, insertMany, setLastSeq, putSummary *sql.Stmt
}

// ErrJournalClosed is returned for work asked of a closed journal.
var ErrJournalClosed = errors.New("the journal is closed")

type journalEntry struct {
	ev engine.Event
	// record, when set, is an execution to insert before the event.
	record *engine.Record
	// sum is the execution's summary once the event is applied.
	sum engine.Summary
	// flushed, when set, marks a barrier: it is closed once everything
	// queued before it is committed. It carries no event.
	flushed chan struct{}
}

// JournalStatus says what opening the journal found, for the user.
type JournalStatus struct {
	// Damaged is where a damaged database was moved aside ("" if none).
	Damaged string
	// Err is why it was damaged.
	Err error
}

// ErrJournalBusy means another sidecar holds this workspace's journal.
var ErrJournalBusy = errors.New("another mimir-sidecar keeps this workspace's journal")

const journalQueue = 4096

// Open opens (or creates) the journal in stateDir. A database that
// cannot be read is moved aside and a fresh one started; the status says so.
// When another sidecar holds the journal it returns an error wrapping
// ErrJournalBusy that names its process.
func Open(stateDir string, log *slog.Logger) (*Journal, JournalStatus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var status JournalStatus
	state, err := statedir.Ensure(stateDir)
	if err != nil {
		return nil, status, fmt.Errorf("open journal: %w", err)
	}
	lock, err := lockJournal(state)
	if err != nil {
		state.Close()
		return nil, status, err
	}
	fail := func(err error) (*Journal, JournalStatus, error) {
		unlockJournal(state, lock)
		state.Close()
		return nil, status, err
	}
	db, err := openDB(state, log)
	var later *migrationError
	if statedir.IsRefused(err) || errors.As(err, &later) {
		// Not damage: something put there that SQLite would follow, or a
		// journal this sidecar cannot bring to its schema (yet).
		return fail(fmt.Errorf("open journal: %w", err))
	}
	if err != nil {
		aside := fmt.Sprintf("%s.damaged-%s", journalFile, time.Now().UTC().Format("20060102T150405Z"))
		log.Warn("the journal is damaged; keeping a copy and starting a new one", "err", err, "copy", state.Join(aside))
		for _, suffix := range journalSuffixes() {
			if rerr := state.Rename(journalFile+suffix, aside+suffix); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return fail(fmt.Errorf("move the damaged journal aside: %w", rerr))
			}
		}
		status = JournalStatus{Damaged: state.Join(aside), Err: err}
		if db, err = openDB(state, log); err != nil {
			return fail(fmt.Errorf("open journal: %w", err))
		}
	}
	j := &Journal{db: db, path: state.Join(journalFile), log: log, state: state, lock: lock, queue: make(chan *journalEntry, journalQueue), done: make(chan struct{})}
	return j, status, nil
}

// The journal's files in the state folder: SQLite makes the database's
// siblings by appending these to its name.
const journalFile = "journal.db"

func journalSuffixes() []string { return []string{"", "-wal", "-shm", "-journal"} }

func openDB(state *statedir.Dir, log *slog.Logger) (*sql.DB, error) {
	// SQLite opens its files by path, following links and creating through
	// them: each must be a regular file or absent first.
	for _, suffix := range journalSuffixes() {
		if err := state.Check(journalFile + suffix); err != nil {
			return nil, err
		}
	}
	path := state.Join(journalFile)
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: one writer, and reads see its commits.
	db.SetMaxOpenConns(1)
	if err := checkDB(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	if err := migrate(db, log); err != nil {
		db.Close()
		return nil, err
	}
	// Every later seq follows these: one out of range would wrap, or reach
	// editors (JavaScript numbers) rounded. Such a journal is not ours.
	var lo, hi, kept sql.NullInt64
	// Each in its own subquery: SQLite reads one end of the table for a
	// lone MIN or MAX, and the whole table for both together.
	if err := db.QueryRow("SELECT (SELECT MIN(seq) FROM events), (SELECT MAX(seq) FROM events), (SELECT MIN(value) FROM meta WHERE key = ?)", metaLastSeq).Scan(&lo, &hi, &kept); err != nil {
		db.Close()
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	for _, v := range []sql.NullInt64{lo, hi, kept} {
		if v.Valid && (v.Int64 < 0 || v.Int64 > maxSeq) {
			db.Close()
			return nil, fmt.Errorf("check %s: it holds seq %d, out of the range the sidecar writes (0 to 2^53)", path, v.Int64)
		}
	}
	return db, nil
}

// fullCheckPages is the size, in pages, up to which the whole journal is
// checked when it is opened (16 MB, more than the default retention keeps).
// A larger one has only its meta checked, with the schema SQLite reads to
// open it, so that start-up does not grow with the history: its summaries
// and events are checked row by row as they are read, and damage there
// fails the read that meets it (a full check of 10,000 executions took
// 120 ms, ten times a fresh start).
const fullCheckPages = 4096

// checkDB runs SQLite's integrity check (quick_check) over what opening
// the journal relies on.
func checkDB(db *sql.DB) error {
	var pages, summaries int
	err := db.QueryRow("SELECT (SELECT page_count FROM pragma_page_count()), (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'summaries')").Scan(&pages, &summaries)
	if err != nil {
		return err
	}
	checks := []string{"PRAGMA quick_check"}
	if pages > fullCheckPages && summaries == 1 {
		checks = []string{"PRAGMA quick_check(meta)"}
	}
	for _, q := range checks {
		var check string
		if err := db.QueryRow(q).Scan(&check); err != nil {
			return err
		}
		if check != "ok" {
			return errors.New(check)
		}
	}
	return nil
}

// maxSeq is the largest seq a JavaScript client reads exactly.
const maxSeq = 1 << 53

// metaLastSeq is the meta row holding the newest seq ever journaled: it
// outlives the events (a prune may remove them all) so seq never goes back.
const metaLastSeq = "last_seq"

// LastSeq is the seq of the newest event ever journaled, pruned or not.
func (j *Journal) LastSeq() (uint64, error) {
	var kept, events sql.NullInt64
	err := j.db.QueryRow("SELECT (SELECT value FROM meta WHERE key = ?), (SELECT MAX(seq) FROM events)", metaLastSeq).Scan(&kept, &events)
	if err != nil {
		return 0, fmt.Errorf("read the journal's last seq: %w", err)
	}
	// A journal written before the meta row existed has only its events.
	return uint64(max(kept.Int64, events.Int64)), nil
}

// A JournalWatcher is a Sink that is told when the journal cannot write.
// Like Emit, its methods are called from the journal's writer and must not
// block.
type JournalWatcher interface {
	// JournalFailed is called once when writing starts to fail. Events are
	// then held, in order, and reach the sink only once written.
	JournalFailed(err error)
	// JournalRecovered is called when a write succeeds again.
	JournalRecovered()
}

// Start runs the writer; events go to sink after they are committed.
func (j *Journal) Start(sink engine.Sink) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sink = sink
	j.closing = make(chan struct{})
	j.started = true
	go j.write()
}

// StopWaiting lets go of senders blocked on a full queue and makes the
// writer give up on a batch it cannot commit: the journal is closing, or
// the runner's time to stop is up.
func (j *Journal) StopWaiting() {
	j.mu.RLock()
	started := j.started
	j.mu.RUnlock()
	if started {
		j.closingOnce.Do(func() { close(j.closing) })
	}
}

// Append queues an event (and, with the first event of an execution, its
// record). It blocks only when the disk is this far behind (or cannot
// write), until StopWaiting. After Close it drops the event and says so.
func (j *Journal) Append(ev engine.Event, rec *engine.Record, sum engine.Summary) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed || !j.started {
		return fmt.Errorf("journal event %d: %w", ev.Seq, ErrJournalClosed)
	}
	// Encoding happens on the writer's goroutine, off the engine's path.
	e := &journalEntry{ev: ev, record: rec, sum: sum}
	select {
	case j.queue <- e:
		return nil
	default:
	}
	select {
	case j.queue <- e:
		return nil
	case <-j.closing:
		return fmt.Errorf("journal event %d: the journal cannot write and is closing: %w", ev.Seq, ErrJournalClosed)
	}
}

// Retrying a batch the disk refused: from the first delay, doubling, to
// the last.
const (
	journalRetryFirst = 50 * time.Millisecond
	journalRetryMax   = 2 * time.Second
)

// write commits whatever is queued in one transaction, then hands the
// events on in order. A batch the disk refuses (full, read-only) is tried
// again, with backoff, until it is written: the events wait in the queue
// meanwhile, and the sink sees none of them before they are committed, so
// no listener ever saw an event the journal lacks. The watcher hears of
// the failure once. Only when the journal stops waiting (closing) is a
// batch that still fails given up, unseen by anyone.
func (j *Journal) write() {
	defer close(j.done)
	watcher, _ := j.sink.(JournalWatcher)
	failing := false
	batch := make([]journalEntry, 0, 256)
	for first := range j.queue {
		batch = append(batch[:0], *first)
	more:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-j.queue:
				if !ok {
					break more
				}
				batch = append(batch, *e)
			default:
				break more
			}
		}
		committed := j.commitRetrying(batch, func(err error) {
			if !failing {
				failing = true
				j.log.Error("the journal cannot write; events are held until it can", "err", err, "from", batch[0].ev.Seq)
				if watcher != nil {
					watcher.JournalFailed(err)
				}
			}
		})
		if committed && failing {
			failing = false
			j.log.Info("the journal writes again")
			if watcher != nil {
				watcher.JournalRecovered()
			}
		}
		for _, e := range batch {
			switch {
			case e.flushed != nil:
				close(e.flushed)
			case committed:
				j.sink.Emit(e.ev)
			}
		}
	}
}

// commitRetrying commits batch, retrying with backoff while the journal
// waits for the disk, and reports each failure. It says whether the batch
// was written.
func (j *Journal) commitRetrying(batch []journalEntry, failed func(error)) bool {
	delay := journalRetryFirst
	for {
		err := j.commit(batch)
		if err == nil {
			return true
		}
		failed(err)
		if !retryable(err) {
			j.log.Error("the journal refused these events and would again; they are dropped, and no listener saw them", "err", err, "from", batch[0].ev.Seq, "to", lastEventSeq(batch))
			return false
		}
		select {
		case <-j.closing:
			first, last := batch[0].ev.Seq, lastEventSeq(batch)
			j.log.Error("the journal is closing and still cannot write; these events are lost, and no listener saw them", "err", err, "from", first, "to", last)
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, journalRetryMax)
	}
}

// retryable says whether a commit that failed may succeed later as it is:
// the disk full or failing, the database read-only or locked for a while.
// Anything else (a constraint, an event that cannot be encoded) would fail
// the same way for ever, and hold every later event behind it.
func retryable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
		sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// insertChunk is how many events one INSERT statement carries: SQLite's
// cost is per statement more than per row.
const insertChunk = 64

// prepare compiles the writer's statements the first time it commits; all
// of them or none, so a failure is tried again whole on the next commit.
func (j *Journal) prepare() error {
	if j.putSummary != nil {
		return nil
	}
	queries := []string{
		"INSERT INTO events VALUES (?, ?, ?, ?)",
		"INSERT INTO events VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", insertChunk-1),
		`INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
		putSummaryQuery,
	}
	stmts := make([]*sql.Stmt, 0, len(queries))
	for _, q := range queries {
		st, err := j.db.Prepare(q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return err
		}
		stmts = append(stmts, st)
	}
	j.insertOne, j.insertMany, j.setLastSeq, j.putSummary = stmts[0], stmts[1], stmts[2], stmts[3]
	return nil
}

func (j *Journal) commit(batch []journalEntry) error {
	if err := j.prepare(); err != nil {
		return fmt.Errorf("prepare the journal's statements: %w", err)
	}
	tx, err := j.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, 4*insertChunk)
	// A full chunk goes in one statement, what is left row by row: both
	// statements are compiled once.
	flush := func() error {
		if len(args) == 4*insertChunk {
			_, err := tx.Stmt(j.insertMany).Exec(args...)
			args = args[:0]
			return err
		}
		one := tx.Stmt(j.insertOne)
		for i := 0; i < len(args); i += 4 {
			if _, err := one.Exec(args[i : i+4]...); err != nil {
				return err
			}
		}
		args = args[:0]
		return nil
	}
	for i := range batch {
		e := &batch[i]
		if e.flushed != nil {
			continue
		}
		if r := e.record; r != nil {
			// A resume sends its execution-start again: the record (and
			// its started_at) stays as the first run wrote it.
			if _, err := tx.Exec(`INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
				r.ID, r.Workflow, r.Path, r.Dir, r.Source, e.ev.Time.Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		// Encoded once, here: the listeners are handed these bytes.
		data, err := e.ev.Encode()
		if err != nil {
			return err
		}
		e.ev.Encoded = data
		args = append(args, e.ev.Seq, e.ev.ExecutionID, e.ev.Event, data)
		if len(args) == cap(args) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// In the same transaction as the events they sum up: the history is
	// listed from these rows and never disagrees with its events.
	if err := putSummaries(tx.Stmt(j.putSummary), batch); err != nil {
		return err
	}
	// In the same transaction: the last seq is never behind the events.
	if last := lastEventSeq(batch); last > 0 {
		if _, err := tx.Stmt(j.setLastSeq).Exec(metaLastSeq, last); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func lastEventSeq(batch []journalEntry) uint64 {
	for _, e := range slices.Backward(batch) {
		if e.flushed == nil {
			return e.ev.Seq
		}
	}
	return 0
}

// Flush waits until every event queued so far is committed and handed
// on. On a closed journal there is nothing to wait for (Close committed
// everything) and it returns nil; one never started or that stopped
// waiting for the disk returns ErrJournalClosed.
func (j *Journal) Flush() error {
	done := make(chan struct{})
	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return nil
	}
	if !j.started {
		j.mu.RUnlock()
		return fmt.Errorf("flush the journal: %w", ErrJournalClosed)
	}
	select {
	case j.queue <- &journalEntry{flushed: done}:
	case <-j.closing:
		j.mu.RUnlock()
		return fmt.Errorf("flush the journal: %w", ErrJournalClosed)
	}
	j.mu.RUnlock()
	<-done // the writer closes it, written or given up
	return nil
}

// Close flushes what is queued and closes the database.
func (j *Journal) Close() error {
	var err error
	j.closeOnce.Do(func() {
		// Senders blocked on a disk that cannot write hold mu: let them go.
		j.StopWaiting()
		j.mu.Lock()
		j.closed = true
		if j.started {
			close(j.queue)
		}
		j.mu.Unlock()
		if j.started {
			<-j.done
		}
		for _, st := range []*sql.Stmt{j.insertOne, j.insertMany, j.setLastSeq, j.putSummary} {
			if st != nil {
				st.Close()
			}
		}
		err = j.db.Close()
		unlockJournal(j.state, j.lock)
		j.state.Close()
	})
	return err
}

// Events returns journaled envelopes with seq above since, oldest first,
// at most limit, optionally of one execution.
func (j *Journal) Events(ctx context.Context, since uint64, executionID string, limit int) ([]json.RawMessage, error) {
	q := "SELECT seq, execution_id, name, envelope FROM events WHERE seq > ?"
	args := []any{since}
	if executionID != "" {
		q += " AND execution_id = ?"
		args = append(args, executionID)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	var out []json.RawMessage
	err := j.replay(ctx, q, args, func(e Stored, _ *engine.Event) { out = append(out, e.JSON) })
	return out, err
}

// Stored is a journaled event in the form listeners replay it.
type Stored struct {
	Seq         uint64
	ExecutionID string
	Name        string
	JSON        []byte
}

// Since returns up to limit journaled events with seq above since, oldest
// first.
func (j *Journal) Since(ctx context.Context, since uint64, limit int) ([]Stored, error) {
	var out []Stored
	err := j.replay(ctx, "SELECT seq, execution_id, name, envelope FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
		[]any{since, limit}, func(e Stored, _ *engine.Event) { out = append(out, e) })
	return out, err
}

// replay runs q, which selects (seq, execution_id, name, envelope) rows,
// and gives fn each row the engine could have written, with its envelope
// encoded anew from the checked event: a journal comes with the workspace,
// and its bytes go to every listener (a line break in them would split an
// SSE frame). A row that fails is skipped and logged.
func (j *Journal) replay(ctx context.Context, q string, args []any, fn func(Stored, *engine.Event)) error {
	return replay(ctx, j.db, j.log, q, args, fn)
}

// A queryer is the database or a transaction on it.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func replay(ctx context.Context, db queryer, log *slog.Logger, q string, args []any, fn func(Stored, *engine.Event)) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read the journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Stored
		var raw []byte
		if err := rows.Scan(&e.Seq, &e.ExecutionID, &e.Name, &raw); err != nil {
			return fmt.Errorf("read the journal: %w", err)
		}
		ev, err := checkStored(e, raw)
		if err == nil {
			e.JSON, err = json.Marshal(ev)
		}
		if err != nil {
			log.Warn("the journal holds an event the sidecar did not write; it is skipped", "seq", e.Seq, "execution", fmt.Sprintf("%.80s", e.ExecutionID), "err", err)
			continue
		}
		fn(e, ev)
	}
	return rows.Err()
}

// Between calls fn with each journaled event with a seq above after and
// below before, oldest first, reading a page at a time: how a listener that
// fell behind the hub catches up. It returns the seq of the last event it
// gave fn (after when none), so the caller can tell whether the journal
// covered the whole gap.
func (j *Journal) Between(ctx context.Context, after, before uint64, fn func(Stored) error) (uint64, error) {
	const page = 1000
	for after+1 < before {
		evs, err := j.Since(ctx, after, page)
		if err != nil {
			return after, err
		}
		for _, e := range evs {
			if e.Seq >= before {
				return after, nil
			}
			if err := fn(e); err != nil {
				return after, err
			}
			after = e.Seq
		}
		if len(evs) < page {
			break
		}
	}
	return after, nil
}

// lockFile is the journal's lock in the state folder.
const lockFile = "journal.lock"

func lockHolder(state *statedir.Dir) string {
	b, err := state.ReadFile(lockFile, 64)
	if err != nil {
		return "unknown"
	}
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// maxStoredEvent bounds one event's envelope as read back.
const maxStoredEvent = 8 << 20

// checkStored decodes and checks a journaled event row: its envelope must
// be an event of the row's execution, seq and name that engine.CheckEvent takes.
func checkStored(row Stored, envelope []byte) (*engine.Event, error) {
	if len(envelope) > maxStoredEvent {
		return nil, fmt.Errorf("it is %d bytes, more than %d", len(envelope), maxStoredEvent)
	}
	if err := engine.CheckExecutionID(row.ExecutionID); err != nil {
		return nil, err
	}
	var ev engine.Event
	if err := json.Unmarshal(envelope, &ev); err != nil {
		return nil, err
	}
	if ev.Seq != row.Seq || ev.Event != row.Name {
		return nil, fmt.Errorf("its envelope says event %d %.80q, its row %d %.80q", ev.Seq, ev.Event, row.Seq, row.Name)
	}
	if err := engine.CheckEvent(&ev, row.ExecutionID); err != nil {
		return nil, err
	}
	return &ev, nil
}
