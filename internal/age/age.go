// Package age reads the ages that prune takes, from the command line
// (mimir-sidecar prune --older-than) and from mimir/prune alike.
package age

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads "7d", "12h", "30m" (or any Go duration); "" is zero.
func Parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("age %q: write it like 7d, 12h or 30m", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("age %q: write it like 7d, 12h or 30m", s)
	}
	return d, nil
}
