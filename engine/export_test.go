package engine

// Held is how many executions r holds in memory, running or finished: what
// start-up and idle memory grow with.
func Held(r *Runner) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.executions) + len(r.cache.list)
}

// PastCacheSize is how many finished executions a journaled runner holds.
const PastCacheSize = pastCacheSize
