package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/havencrm/haven/tenant"
)

// Head is where a trail stands: its last event and its last checkpoint.
type Head struct {
	Seq           int64
	Hash          string
	CheckpointSeq int64
	CheckpointAt  time.Time
}

// ChainStore reads a trail for verification and export.
type ChainStore interface {
	AuditEventsAfter(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Event, error)
	AuditCheckpoints(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Checkpoint, error)
	AuditAnchor(ctx context.Context, tid tenant.ID) (*Checkpoint, error)
	AuditHead(ctx context.Context, tid tenant.ID) (Head, error)
}

// DefaultCheckpointEvery and DefaultCheckpointInterval are how often the
// chain is signed: after this many events, or this long after the last
// checkpoint, whichever comes first.
const (
	DefaultCheckpointEvery    = 100
	DefaultCheckpointInterval = 10 * time.Minute
)

// CheckpointPolicy decides when to sign and signs.
type CheckpointPolicy struct {
	Every    int64
	Interval time.Duration
	Signer   interface {
		Sign(Checkpoint) (Checkpoint, error)
	}
}

// Due reports whether the event seq at time at needs a checkpoint.
func (p CheckpointPolicy) Due(seq, checkpointSeq int64, at, checkpointAt time.Time) bool {
	return seq-checkpointSeq >= p.every() || at.Sub(checkpointAt) >= p.Interval
}

// Sign signs a checkpoint.
func (p CheckpointPolicy) Sign(c Checkpoint) (Checkpoint, error) { return p.Signer.Sign(c) }

func (p CheckpointPolicy) every() int64 {
	if p.Every <= 0 {
		return DefaultCheckpointEvery
	}
	return p.Every
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// MaxGap is the most events a trail may hold between two checkpoints
	// (the policy's Every); more means checkpoints were removed. 0 skips
	// the check.
	MaxGap int64
}

// batch is how many events and checkpoints verification reads at once.
const batch = 1000

// Verify recomputes a stored trail from its newest anchor (or its start)
// to its head, checking every hash and every checkpoint signature, and
// names the first place it breaks.
func Verify(ctx context.Context, st ChainStore, tid tenant.ID, keys KeySet, opts VerifyOptions) (Report, error) {
	v := NewVerifier(tid, keys)
	v.maxGap = opts.MaxGap
	anchor, err := st.AuditAnchor(ctx, tid)
	if err != nil {
		return Report{}, err
	}
	var after int64
	if anchor != nil {
		if v.Anchor(*anchor) != nil {
			return v.Finish(0, ""), nil
		}
		after = anchor.Seq
	}
	// Checkpoints are read ahead in their own batches and handed to the
	// verifier right after the event they name.
	var cps []Checkpoint
	cpAfter, cpDone := after, false
	nextCheckpoints := func(upTo int64) error {
		for !cpDone && (len(cps) == 0 || cps[len(cps)-1].Seq <= upTo) {
			more, err := st.AuditCheckpoints(ctx, tid, cpAfter, batch)
			if err != nil {
				return err
			}
			for _, c := range more {
				if c.Kind == KindCheckpoint {
					cps = append(cps, c)
				}
				cpAfter = c.Seq
			}
			cpDone = len(more) < batch
		}
		return nil
	}
	for {
		events, err := st.AuditEventsAfter(ctx, tid, after, batch)
		if err != nil {
			return Report{}, err
		}
		for _, e := range events {
			if err := nextCheckpoints(e.Seq); err != nil {
				return Report{}, err
			}
			if v.Event(e) != nil {
				return v.Finish(0, ""), nil
			}
			for len(cps) > 0 && cps[0].Seq <= e.Seq {
				if v.Checkpoint(cps[0]) != nil {
					return v.Finish(0, ""), nil
				}
				cps = cps[1:]
			}
			after = e.Seq
		}
		if len(events) < batch {
			break
		}
	}
	if err := nextCheckpoints(1<<62 - 1); err != nil {
		return Report{}, err
	}
	for _, c := range cps {
		if v.Checkpoint(c) != nil {
			return v.Finish(0, ""), nil
		}
	}
	head, err := st.AuditHead(ctx, tid)
	if err != nil {
		return Report{}, err
	}
	return v.Finish(head.Seq, head.Hash), nil
}

// String describes a report in one line.
func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("ok: %d events (%d to %d), %d checkpoints verified, %d events after the last checkpoint", r.Events, r.FirstSeq, r.LastSeq, r.Checkpoints, r.Unsigned)
	}
	return fmt.Sprintf("BROKEN at %d: %s", r.Problem.Seq, r.Problem.Reason)
}
