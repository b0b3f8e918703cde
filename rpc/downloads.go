package rpc

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

type downloadsParams struct {
	// Cursor is the nextCursor of the page before ("" for the newest).
	Cursor string `json:"cursor,omitempty"`
	// Limit is how many saves the page holds at most.
	Limit int `json:"limit,omitempty"`
}

type downloadsResult struct {
	Downloads []engine.Download `json:"downloads"`
	// NextCursor asks for the page after this one; absent on the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// downloads lists the saves of deliverables into the workspace, newest
// first, file by file: the download history.
func (s *server) downloads(ctx context.Context, p downloadsParams) (downloadsResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultExecutionsPage
	}
	if limit > engine.MaxPage {
		return downloadsResult{}, invalidParams("mimir/downloads", fmt.Errorf("limit %d is more than a page holds (%d)", limit, engine.MaxPage))
	}
	var before uint64
	if p.Cursor != "" {
		n, err := strconv.ParseUint(p.Cursor, 10, 64)
		if err != nil || n == 0 {
			return downloadsResult{}, invalidParams("mimir/downloads", fmt.Errorf("cursor %.40q is not one mimir/downloads gave: pass its nextCursor as it is", p.Cursor))
		}
		before = n
	}
	_, runner := s.session()
	page, err := runner.Downloads(ctx, before, limit)
	if err != nil {
		return downloadsResult{}, err
	}
	out := downloadsResult{Downloads: page.Downloads}
	if page.Next != 0 {
		out.NextCursor = strconv.FormatUint(page.Next, 10)
	}
	return out, nil
}
