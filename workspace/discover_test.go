package workspace

import "testing"

func TestIsWorkflowFile(t *testing.T) {
	for rel, want := range map[string]bool{
		"translate.mimir.yaml":           true,
		"docs/review.mimir.json":         true,
		"examples/hello/workflow.yml":    true,
		"workflows/nightly.yaml":         true,
		"team/workflows/nightly.json":    true,
		".github/workflows/ci.yml":       false, // GitHub Actions'
		"sub/.github/workflows/ci.yaml":  false,
		".github/workflows/x.mimir.yaml": true, // named as ours
		"workflows/readme.md":            false,
		"config.yaml":                    false,
		"workflow.yaml.bak":              false,
	} {
		if got := IsWorkflowFile(rel); got != want {
			t.Errorf("IsWorkflowFile(%q) = %v, want %v", rel, got, want)
		}
	}
}
