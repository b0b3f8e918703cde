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
