package sync

import (
	"context"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// EnvSyncer syncs one environment's rendered output to where its Flink
// resources live: a Kubernetes cluster (*Syncer) or, for target cmf, CMF's
// REST API (internal/cmf/cmfsync). apply, diff, drift and the daemon talk
// to either through it.
type EnvSyncer interface {
	// Sync runs one pass (see Syncer.Sync).
	Sync(ctx context.Context, env *model.Environment, out *render.Environment, opts Options) *Result
	// Diff says what a pass would change (see Syncer.Diff).
	Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]ObjectDiff, error)
}

var _ EnvSyncer = (*Syncer)(nil)
