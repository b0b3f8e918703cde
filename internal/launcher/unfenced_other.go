//go:build !linux

package launcher

// checkUnfenced is where a system without a launcher meets a sandbox
// policy: there is no process to fence before the command starts. Apply
// fences nothing on such a system: it refuses a policy that must be
// enforced, and passes a best-effort one. (Once such a system has a
// sandbox, it must be applied in a launcher, never here: it would fence
// the sidecar.)
func checkUnfenced(s Spec) error {
	if s.Sandbox == nil {
		return nil
	}
	return s.Sandbox.Apply()
}
