package acp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	sdk "github.com/coder/acp-go-sdk"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// session is one agent process and its one ACP session, for one phase of
// one attempt.
type session struct {
	agent agent
	job   *engine.Job
	phase string
	proc  *engine.Process
	kill  context.CancelFunc
	conn  *sdk.ClientSideConnection
	id    sdk.SessionId
	cl    *client
}

// errDied is an agent process that exited while it was being talked to.
var errDied = errors.New("the ACP agent exited")

// start launches the agent for job and opens its session in the task's
// folder. The caller closes the session.
func (a agent) start(ctx context.Context, job *engine.Job, phase string) (*session, error) {
	if err := job.EnsureDir(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(job.Dir)
	if err != nil {
		return nil, fmt.Errorf("open the task's folder for the ACP agent: %w", err)
	}
	// The process outlives ctx by the cancel grace: cancelling a turn is
	// asked of the agent first (session/cancel), and only then is it
	// killed, by kill.
	procCtx, kill := context.WithCancel(context.WithoutCancel(ctx))
	proc, err := engine.StartProcess(procCtx, job, a.command, a.spec.Env, phase)
	if err != nil {
		kill()
		root.Close()
		return nil, fmt.Errorf("start the ACP agent: %w", err)
	}
	s := &session{agent: a, job: job, phase: phase, proc: proc, kill: kill}
	s.cl = newClient(job, phase, root, a.spec.Permissions)
	s.conn = sdk.NewClientSideConnection(s.cl, proc.Stdin, proc.Stdout)
	s.conn.SetLogger(slog.New(warnings{a.opts.Logger.Handler()}).With("task", job.Task.ID, "phase", phase))

	init := func(ctx context.Context) error {
		_, err := s.conn.Initialize(ctx, sdk.InitializeRequest{
			ProtocolVersion: sdk.ProtocolVersionNumber,
			ClientInfo:      &sdk.Implementation{Name: "mimir-sidecar", Version: "1"},
			ClientCapabilities: sdk.ClientCapabilities{
				Fs:       sdk.FileSystemCapabilities{ReadTextFile: true, WriteTextFile: phase == engine.PhaseWorker},
				Terminal: true,
			},
		})
		if err != nil {
			return fmt.Errorf("initialize: %w", err)
		}
		resp, err := s.conn.NewSession(ctx, sdk.NewSessionRequest{Cwd: job.Dir, McpServers: []sdk.McpServer{}})
		if err != nil {
			return fmt.Errorf("session/new: %w", err)
		}
		s.id = resp.SessionId
		s.cl.setSession(s.id)
		return nil
	}
	if err := s.call(ctx, a.opts.StartTimeout, init); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// call runs f against the agent, bounded by timeout (none when 0), and
// says why when the agent died or never answered.
func (s *session) call(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var limit <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		limit = t.C
	}
	done := make(chan error, 1)
	go func() { done <- f(callCtx) }()
	select {
	case err := <-done:
		if err != nil && s.disconnected() {
			return s.died()
		}
		return err
	case <-s.proc.Done():
		cancel()
		<-done
		return s.died()
	case <-limit:
		cancel()
		<-done
		return fmt.Errorf("the ACP agent %q did not answer within %s%s", s.agent.command.String(), timeout, s.stderrTail())
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// disconnected reports whether the agent closed its end of the
// connection: then it is exiting, or will never talk again, and is
// killed if it has not exited within exitWait, so that died can tell how
// it ended.
func (s *session) disconnected() bool {
	select {
	case <-s.conn.Done():
	default:
		return false
	}
	t := time.NewTimer(exitWait)
	defer t.Stop()
	select {
	case <-s.proc.Done():
	case <-t.C:
		s.kill()
	}
	return true
}

// exitWait is how long an agent that closed its output has to exit.
const exitWait = 2 * time.Second

// died is the error of an agent that exited: how, and its last words.
// (What the connection made of it, "peer disconnected", says nothing
// more.)
func (s *session) died() error {
	err := s.proc.Wait()
	what := "it exited"
	if err != nil {
		what = err.Error()
	}
	return fmt.Errorf("%w: %s (%s)%s", errDied, s.agent.command.String(), what, s.stderrTail())
}

func (s *session) stderrTail() string {
	tail := strings.TrimSpace(s.proc.Stderr())
	if tail == "" {
		return ""
	}
	return "; its stderr ends:\n" + tail
}

// turn is what one prompt got back.
type turn struct {
	stop sdk.StopReason
	// text is the agent's last message: what it said after its last tool
	// call.
	text string
}

// prompt sends one session/prompt and waits for its end. When ctx is
// done the turn is cancelled (session/cancel), and the agent killed if
// it has not ended it within the grace.
func (s *session) prompt(ctx context.Context, text string) (turn, error) {
	s.cl.beginTurn()
	type result struct {
		resp sdk.PromptResponse
		err  error
	}
	turnCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan result, 1)
	go func() {
		r, err := s.conn.Prompt(turnCtx, sdk.PromptRequest{SessionId: s.id, Prompt: []sdk.ContentBlock{sdk.TextBlock(text)}})
		done <- result{r, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-s.proc.Done():
		stop()
		<-done
		s.cl.endTurn()
		return turn{}, s.died()
	case <-ctx.Done():
		_ = s.conn.Cancel(context.WithoutCancel(ctx), sdk.CancelNotification{SessionId: s.id})
		grace := time.NewTimer(s.agent.opts.CancelGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-s.proc.Done():
			<-done
		case <-grace.C:
			s.kill()
			stop()
			<-done
		}
		s.cl.endTurn()
		return turn{}, ctx.Err()
	}
	text = s.cl.endTurn()
	if r.err != nil {
		if s.disconnected() {
			return turn{}, s.died()
		}
		return turn{}, fmt.Errorf("session/prompt: %w", r.err)
	}
	chunks, reported := s.cl.takeUsage()
	switch u := r.resp.Usage; {
	case u != nil:
		s.job.Usage(s.phase, u.InputTokens, u.OutputTokens, u.TotalTokens)
	case reported:
		s.job.Usage(s.phase, chunks.in, chunks.out, chunks.total)
	}
	return turn{stop: r.resp.StopReason, text: text}, nil
}

// close ends the agent: its terminals, then its process tree.
func (s *session) close() {
	s.cl.close()
	_ = s.proc.Stdin.Close()
	s.kill()
	_ = s.proc.Wait()
	<-s.conn.Done()
}

// stopError is the error of a turn that did not end normally.
func stopError(stop sdk.StopReason) error {
	switch stop {
	case sdk.StopReasonEndTurn:
		return nil
	case sdk.StopReasonMaxTokens:
		return errors.New("the ACP agent stopped: it reached its maximum of tokens (max_tokens) before it finished")
	case sdk.StopReasonMaxTurnRequests:
		return errors.New("the ACP agent stopped: it reached its maximum of model requests in one turn (max_turn_requests) before it finished")
	case sdk.StopReasonRefusal:
		return errors.New("the ACP agent refused to do the task (refusal)")
	case sdk.StopReasonCancelled:
		return errors.New("the ACP agent cancelled its turn (cancelled)")
	}
	return fmt.Errorf("the ACP agent ended its turn with an unknown stop reason %q", stop)
}

// warnings passes on the SDK's warnings and errors only: it logs every
// connection's close at info, which for one process per attempt is noise.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

// Handle drops the SDK's error for a notification the client does not
// know: the protocol has clients ignore those, and real agents send their
// own (Qwen Code's qwen/notify/session/prompt-suggestion after every turn).
func (w warnings) Handle(ctx context.Context, r slog.Record) error {
	unknown := false
	r.Attrs(func(a slog.Attr) bool {
		unknown = a.Key == "err" && strings.Contains(a.Value.String(), "Method not found")
		return !unknown
	})
	if unknown {
		return nil
	}
	return w.Handler.Handle(ctx, r)
}

func (w warnings) WithAttrs(as []slog.Attr) slog.Handler { return warnings{w.Handler.WithAttrs(as)} }

func (w warnings) WithGroup(name string) slog.Handler { return warnings{w.Handler.WithGroup(name)} }
