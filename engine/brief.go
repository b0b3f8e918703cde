package engine

import (
	"fmt"
	"strings"
)

// WriteTaskBrief writes what every agent that is given the task in words
// (an llm or acp agent) is told first: the task, what it is asked, and
// the acceptance criteria the work will be checked against.
func WriteTaskBrief(b *strings.Builder, job *Job, prompt string) {
	t := job.Task
	fmt.Fprintf(b, "# Task: %s\n\n%s\n", t.DisplayTitle(), strings.TrimSpace(prompt))
	if len(t.AcceptanceCriteria) > 0 {
		b.WriteString("\n## Acceptance criteria\nThe work will be checked against these:\n")
		for _, c := range t.AcceptanceCriteria {
			fmt.Fprintf(b, "- %s\n", c)
		}
	}
}

// WriteGapBrief writes, from the second attempt, what the previous one got
// wrong: the QC gap.
func WriteGapBrief(b *strings.Builder, job *Job) {
	g := job.Gap
	if g == nil {
		return
	}
	fmt.Fprintf(b, "\n## This is attempt %d of %d: the previous attempt did not pass\n", job.Attempt, job.MaxAttempts)
	if g.Feedback != "" {
		fmt.Fprintf(b, "Feedback: %s\n", strings.TrimSpace(g.Feedback))
	}
	writeList(b, "Issues", g.Issues)
	writeList(b, "Required fixes", g.RequiredFixes)
	b.WriteString("The previous attempt's files are still in the folder: fix them rather than starting over.\n")
}

func writeList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n", title)
	for _, it := range items {
		fmt.Fprintf(b, "- %s\n", strings.TrimSpace(it))
	}
}

// maxBriefPatch bounds, in bytes, the diff a QC prompt quotes; the agent
// can read the rest in the worktree and the patch file.
const maxBriefPatch = 48 << 10

// WriteChangeBrief writes, for the QC agent of an isolated task, what the
// worker changed: the files and the diff. It reports whether the job has
// a change, so that callers show the folder's files otherwise.
func WriteChangeBrief(b *strings.Builder, job *Job) bool {
	c := job.Change
	if c == nil {
		return false
	}
	fmt.Fprintf(b, "\n## The worker's change (attempt %d of %d)\n", job.Attempt, job.MaxAttempts)
	fmt.Fprintf(b, "The worker changed a copy of the project in %s, where you can read every file and run the project's tests. ", job.Dir)
	if len(c.Files) == 0 {
		b.WriteString("It changed no file.\n")
		return true
	}
	b.WriteString("Files changed:\n")
	for _, f := range c.Files {
		fmt.Fprintf(b, "- %s (%s)\n", f.Path, f.Status)
	}
	patch := c.Patch
	cut := len(patch) > maxBriefPatch
	if cut {
		patch = patch[:maxBriefPatch]
	}
	b.WriteString("\n```diff\n")
	b.Write(patch)
	if cut {
		fmt.Fprintf(b, "\n… (the diff goes on: the whole of it is in %s)", c.PatchFile)
	}
	b.WriteString("\n```\n")
	return true
}
